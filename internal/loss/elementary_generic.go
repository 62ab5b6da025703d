//go:build !amd64 || noasm

package loss

// logLosses writes l[i], d[i] = logLoss(z[i], t[i]) for i < len(z).
func logLosses(l, d, z, t []float64) { logLossesGo(l, d, z, t) }

// expsNonPos replaces each x[i] ≤ 0 (or NaN) by expNonPos(x[i]).
func expsNonPos(x []float64) { expsNonPosGo(x) }
