package loss

import "math"

// The binary log loss needs e^(−|z|) and log1p of it for every logit, and
// softmax e^(z_i − m) for every logit below the largest, m. The
// functions below compute them with one fixed sequence of IEEE operations
// (adds, multiplies, divisions, fused multiply-adds through math.FMA,
// comparisons and integer operations on the bits), which the amd64
// assembly repeats four logits at a time. Every implementation therefore
// gives the same bits, and a dense pass (which evaluates a tile's rows in
// one call) and a CSR pass (row by row) agree exactly. Both functions are
// within one unit in the last place of the correctly rounded result; see
// TestExpNonPosAccuracy and TestLog1pUnitAccuracy.

// Constants of expNonPos and log1pUnit.
const (
	log2e      = 1.44269504088896338700e+00
	ln2Hi      = 6.93147180369123816490e-01 // high bits of ln 2, 21 trailing zero bits
	ln2Lo      = 1.90821492927058770002e-10 // ln 2 − ln2Hi
	roundMagic = 0x1.8p52                   // x + roundMagic − roundMagic rounds x to an integer
	expMin     = -745.2                     // e^a rounds to +0 below this
	expBias    = 2045                       // exponent field of 2^(n+1022): n + 1022 + 1023
	sqrt2      = 1.41421356237309504880

	// 1/k!, k = 13 … 0: the Taylor polynomial of e^r, |r| ≤ ln2/2, whose
	// truncation error (r^14/14! < 5e-18) is below an ulp's sixteenth.
	expC13 = 1.0 / 6227020800
	expC12 = 1.0 / 479001600
	expC11 = 1.0 / 39916800
	expC10 = 1.0 / 3628800
	expC9  = 1.0 / 362880
	expC8  = 1.0 / 40320
	expC7  = 1.0 / 5040
	expC6  = 1.0 / 720
	expC5  = 1.0 / 120
	expC4  = 1.0 / 24
	expC3  = 1.0 / 6
	expC2  = 1.0 / 2
	expC1  = 1.0
	expC0  = 1.0

	// fdlibm's minimax coefficients of log(1+f) = f − f²/2 + s·(f²/2 + R(s²)),
	// s = f/(2+f), for |s| ≤ 0.1716.
	lg1 = 6.666666666666735130e-01
	lg2 = 3.999999999940941908e-01
	lg3 = 2.857142874366239149e-01
	lg4 = 2.222219843214978396e-01
	lg5 = 1.818357216161805012e-01
	lg6 = 1.531383769920937332e-01
	lg7 = 1.479819860511658591e-01
)

// elementaryConst is the constant table of the assembly, in the order it
// reads it (see elementary_amd64.s).
var elementaryConst = [...]float64{
	0:  expMin,
	1:  log2e,
	2:  roundMagic,
	3:  ln2Hi,
	4:  ln2Lo,
	5:  expC13,
	6:  expC12,
	7:  expC11,
	8:  expC10,
	9:  expC9,
	10: expC8,
	11: expC7,
	12: expC6,
	13: expC5,
	14: expC4,
	15: expC3,
	16: expC2,
	17: expC1,
	18: expC0,
	19: 0x1p-1022,
	20: 1,
	21: sqrt2,
	22: 0.5,
	23: 2,
	24: lg7,
	25: lg6,
	26: lg5,
	27: lg4,
	28: lg3,
	29: lg2,
	30: lg1,
	31: math.Float64frombits(expBias),
	32: math.Float64frombits(1 << 63),
}

// expNonPos returns e^a for a ≤ 0 (or NaN): with n = round(a/ln 2) and
// r = a − n·ln 2, e^a = e^r · 2^n, where e^r is the Taylor polynomial of
// degree 13 by Horner's rule and the scaling goes through 2^(n+1022) (a
// normal number for every n ≥ −1075) and then 2^−1022, so that a subnormal
// result is rounded once. a > 0 is outside its domain.
func expNonPos(a float64) float64 {
	if expMin > a {
		a = expMin
	}
	kd := float64(a*log2e) + roundMagic
	n := kd - roundMagic
	r := math.FMA(-n, ln2Hi, a)
	r = math.FMA(-n, ln2Lo, r)
	p := expC13
	for _, c := range [...]float64{expC12, expC11, expC10, expC9, expC8, expC7, expC6, expC5, expC4, expC3, expC2, expC1, expC0} {
		p = math.FMA(p, r, c)
	}
	scale := math.Float64frombits((math.Float64bits(kd) - math.Float64bits(roundMagic) + expBias) << 52)
	return float64(p*scale) * 0x1p-1022
}

// expsNonPosGo replaces each x[i] ≤ 0 (or NaN) by expNonPos(x[i]).
func expsNonPosGo(x []float64) {
	for i, a := range x {
		x[i] = expNonPos(a)
	}
}

// log1pUnit returns log(1 + e) for e ∈ [0, 1] (or NaN), given u = 1 + e:
// log u = k·ln 2 + log(1 + f) with k ∈ {0, 1} chosen so that 1 + f ∈
// [√2/2, √2], plus the rounding error of u, c = (e − (u − 1))/u, as in
// fdlibm's log1p.
func log1pUnit(e, u float64) float64 {
	c := (e - (u - 1)) / u
	f, k := u-1, 0.0
	if u > sqrt2 {
		f, k = float64(u*0.5)-1, 1
	}
	hfsq := float64(float64(0.5*f) * f)
	s := f / (2 + f)
	z := float64(s * s)
	p := lg7
	for _, c := range [...]float64{lg6, lg5, lg4, lg3, lg2, lg1} {
		p = math.FMA(p, z, c)
	}
	R := float64(z * p)
	return float64(k*ln2Hi) + (f - (hfsq - (float64(s*(hfsq+R)) + (float64(k*ln2Lo) + c))))
}

// logLoss returns the binary log loss of logit z against target t and its
// derivative σ(z) − t, in the stable forms documented on Logistic: with
// e = e^(−|z|) and q = e/(1 + e) = σ(−|z|),
//
//	z ≥ 0: L = z·(1 − t) + log1p(e), ∂L/∂z = (1 − t) − q
//	z < 0: L = −z·t + log1p(e),      ∂L/∂z = q − t
//
// NaN propagates.
func logLoss(z, t float64) (l, d float64) {
	e := expNonPos(math.Float64frombits(math.Float64bits(z) | 1<<63)) // e^(−|z|)
	u := 1 + e
	q := e / u
	lp := log1pUnit(e, u)
	if z >= 0 {
		return float64(z*(1-t)) + lp, (1 - t) - q
	}
	return float64(-z*t) + lp, q - t
}

// logLossesGo writes l[i], d[i] = logLoss(z[i], t[i]) for i < len(z).
func logLossesGo(l, d, z, t []float64) {
	t, l, d = t[:len(z)], l[:len(z)], d[:len(z)]
	for i, zi := range z {
		l[i], d[i] = logLoss(zi, t[i])
	}
}
