//go:build !noasm

package loss

import "golang.org/x/sys/cpu"

// useAVX2 reports whether logLosses runs four logits at a time in AVX2
// with FMA (the fused multiply-adds of math.FMA).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// logLosses writes l[i], d[i] = logLoss(z[i], t[i]) for i < len(z), with
// the same bits.
func logLosses(l, d, z, t []float64) {
	n := len(z)
	t, l, d = t[:n], l[:n], d[:n]
	n4 := 0
	if useAVX2 {
		n4 = n &^ 3
		if n4 > 0 {
			logLossesAVX2(&l[0], &d[0], &z[0], &t[0], n4, &elementaryConst)
		}
	}
	logLossesGo(l[n4:], d[n4:], z[n4:], t[n4:])
}

// logLossesAVX2 is logLossesGo over n > 0 logits, n a multiple of 4.
//
//go:noescape
func logLossesAVX2(l, d, z, t *float64, n int, c *[33]float64)

// expsNonPos replaces each x[i] ≤ 0 (or NaN) by expNonPos(x[i]), with the
// same bits.
func expsNonPos(x []float64) {
	n4 := 0
	if useAVX2 {
		n4 = len(x) &^ 3
		if n4 > 0 {
			expsNonPosAVX2(&x[0], n4, &elementaryConst)
		}
	}
	expsNonPosGo(x[n4:])
}

// expsNonPosAVX2 is expsNonPosGo over n > 0 values, n a multiple of 4.
//
//go:noescape
func expsNonPosAVX2(x *float64, n int, c *[33]float64)
