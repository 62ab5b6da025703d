package loss

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// ulpDiff returns the distance in units in the last place between two
// finite float64 values of the same sign.
func ulpDiff(a, b float64) uint64 {
	x, y := math.Float64bits(a), math.Float64bits(b)
	if x > y {
		return x - y
	}
	return y - x
}

// bigExp returns e^a rounded to float64, from 256-bit arithmetic: the
// Taylor series of e^(a/2^20), squared 20 times.
func bigExp(a float64) float64 {
	const prec, halvings = 256, 20
	x := new(big.Float).SetPrec(prec).SetMantExp(big.NewFloat(a).SetPrec(prec), -halvings)
	sum := new(big.Float).SetPrec(prec).SetInt64(1)
	term := new(big.Float).SetPrec(prec).SetInt64(1)
	for k := int64(1); k < 40; k++ {
		term.Mul(term, x)
		term.Quo(term, new(big.Float).SetPrec(prec).SetInt64(k))
		sum.Add(sum, term)
	}
	for range halvings {
		sum.Mul(sum, sum)
	}
	f, _ := sum.Float64()
	return f
}

// expNonPos is within one ulp of e^a over its whole domain (checked
// against 256-bit arithmetic), exact at 0, and rounds to 0 where e^a does.
func TestExpNonPosAccuracy(t *testing.T) {
	rnd := rand.New(rand.NewPCG(41, 42))
	check := func(a float64) {
		got, want := expNonPos(a), 0.0
		if a > -750 {
			want = bigExp(a)
		}
		if want < 0x1p-1022 { // subnormal: absolute error of one subnormal step
			if math.Abs(got-want) > 0x1p-1074 {
				t.Fatalf("expNonPos(%v) = %v, e^a %v", a, got, want)
			}
			return
		}
		if d := ulpDiff(got, want); d > 1 {
			t.Fatalf("expNonPos(%v) = %v, e^a %v (%d ulp)", a, got, want, d)
		}
	}
	for range 20_000 {
		check(-745.2 * rnd.Float64())
		check(-math.Ldexp(rnd.Float64(), -rnd.IntN(60)))
	}
	for _, a := range []float64{0, math.Copysign(0, -1), -math.SmallestNonzeroFloat64, -1e-300, -0.5 * math.Ln2, -math.Ln2, -708.39, -708.4, -744.44, -745.13, -745.14, -746, -1e308, math.Inf(-1)} {
		check(a)
	}
	if got := expNonPos(0); got != 1 {
		t.Errorf("expNonPos(0) = %v", got)
	}
	if got := expNonPos(math.NaN()); !math.IsNaN(got) {
		t.Errorf("expNonPos(NaN) = %v", got)
	}
}

// log1pUnit is within one ulp of math.Log1p on [0, 1].
func TestLog1pUnitAccuracy(t *testing.T) {
	rnd := rand.New(rand.NewPCG(43, 44))
	check := func(e float64) {
		got, want := log1pUnit(e, 1+e), math.Log1p(e)
		if d := ulpDiff(got, want); d > 1 {
			t.Fatalf("log1pUnit(%v) = %v, math.Log1p %v (%d ulp)", e, got, want, d)
		}
	}
	for range 200_000 {
		check(rnd.Float64())
		check(math.Ldexp(rnd.Float64(), -rnd.IntN(1074)))
	}
	for _, e := range []float64{0, math.SmallestNonzeroFloat64, 1e-300, 1e-17, 0x1p-53, 0x1p-52, sqrt2 - 1, math.Nextafter(sqrt2-1, 0), math.Nextafter(sqrt2-1, 1), 0.5, 1} {
		check(e)
	}
	if got := log1pUnit(math.NaN(), math.NaN()); !math.IsNaN(got) {
		t.Errorf("log1pUnit(NaN) = %v", got)
	}
}

// logLoss agrees with the textbook forms to a few ulps where they are
// accurate, and its derivative is σ(z) − t.
func TestLogLossAgainstMath(t *testing.T) {
	rnd := rand.New(rand.NewPCG(45, 46))
	for range 100_000 {
		z := rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(5)-2))
		tt := rnd.Float64()
		l, d := logLoss(z, tt)
		wl := math.Max(z, 0) - z*tt + math.Log1p(math.Exp(-math.Abs(z)))
		wd := 1/(1+math.Exp(-z)) - tt
		// The textbook loss cancels: its error is a few ulps of |z|.
		if math.Abs(l-wl) > 4e-16*math.Max(1, math.Abs(z)) || math.Abs(d-wd) > 4e-16 {
			t.Fatalf("logLoss(%v, %v) = %v, %v; want %v, %v", z, tt, l, d, wl, wd)
		}
	}
}

// The batched log loss (assembly where available) gives the bits of
// logLoss element by element, for every length and for special values.
func TestLogLossesMatchScalar(t *testing.T) {
	rnd := rand.New(rand.NewPCG(47, 48))
	special := []float64{0, math.Copysign(0, -1), 1e-300, -1e-300, 708, -708, 745.2, -745.2, 800, -800, 1e308, -1e308, math.Inf(1), math.Inf(-1), math.NaN(), 0.5 * math.Ln2, -0.5 * math.Ln2}
	for n := range 67 {
		z, tt := make([]float64, n), make([]float64, n)
		for i := range z {
			switch rnd.IntN(4) {
			case 0:
				z[i] = special[rnd.IntN(len(special))]
			default:
				z[i] = rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(7)-3))
			}
			tt[i] = []float64{0, 1, rnd.Float64()}[rnd.IntN(3)]
		}
		l, d := make([]float64, n), make([]float64, n)
		logLosses(l, d, z, tt)
		for i := range z {
			wl, wd := logLoss(z[i], tt[i])
			if !sameBits(l[i], wl) || !sameBits(d[i], wd) {
				t.Fatalf("n=%d: logLosses[%d] (z=%v, t=%v) = %v, %v; logLoss %v, %v", n, i, z[i], tt[i], l[i], d[i], wl, wd)
			}
		}
	}
}

// sameBits reports whether a and b have the same bits, or are both NaN.
func sameBits(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// EvalRows and TargetRows give the bits of Eval and Target row by row (and
// Eval the same loss with and without a gradient to write), with
// and without class weights and smoothing, for block sizes that do and do
// not fill the assembly's groups.
func TestEvalRowsMatchesEval(t *testing.T) {
	rnd := rand.New(rand.NewPCG(49, 50))
	for _, c := range []struct {
		kind Kind
		k    int
		cfg  Config
	}{
		{KindLogistic, 1, Config{}},
		{KindLogistic, 1, Config{Smoothing: 0.1, ClassWeights: []float64{0.3, 2.5}}},
		{KindSigmoid, 1, Config{}},
		{KindSigmoid, 10, Config{}},
		{KindSigmoid, 7, Config{Smoothing: 0.2, ClassWeights: []float64{1, 2, 3, 0.5, 0.25, 4, 1.5}}},
		{KindSigmoid, 100, Config{}},
		{KindSoftmax, 3, Config{}},
		{KindSoftmax, 10, Config{Smoothing: 0.1, ClassWeights: []float64{1, 2, 3, 0.5, 0.25, 4, 1.5, 1, 1, 2}}},
	} {
		f, err := New(c.kind, c.k, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		fr := f.(Rows)
		for rows := range 11 {
			n := rows * c.k
			z, tt, g := make([]float64, n), make([]float64, n), make([]float64, n)
			ys := make([]float32, n)
			for i := range rows {
				y := ys[i*c.k : (i+1)*c.k]
				for k := range y {
					y[k] = float32(rnd.IntN(2))
					if rnd.IntN(4) == 0 { // a soft target
						y[k] = rnd.Float32()
					}
					z[i*c.k+k] = rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(5)-2))
				}
				f.Target(tt[i*c.k:(i+1)*c.k], y)
			}
			tr := make([]float64, n)
			fr.TargetRows(tr, ys)
			for j := range tr {
				if !sameBits(tr[j], tt[j]) {
					t.Fatalf("%v k=%d rows=%d: TargetRows[%d] = %v, Target %v", c.kind, c.k, rows, j, tr[j], tt[j])
				}
			}
			l := make([]float64, rows)
			fr.EvalRows(l, g, z, tt)
			wg := make([]float64, c.k)
			for i := range rows {
				s := i * c.k
				wl := f.Eval(wg, z[s:s+c.k], tt[s:s+c.k])
				if nl := f.Eval(nil, z[s:s+c.k], tt[s:s+c.k]); !sameBits(nl, wl) {
					t.Fatalf("%v k=%d: Eval without gradient %v, with %v", c.kind, c.k, nl, wl)
				}
				if !sameBits(l[i], wl) {
					t.Fatalf("%v k=%d rows=%d: EvalRows loss[%d] = %v, Eval %v", c.kind, c.k, rows, i, l[i], wl)
				}
				for k := range wg {
					if !sameBits(g[s+k], wg[k]) {
						t.Fatalf("%v k=%d rows=%d: EvalRows gradient[%d][%d] = %v, Eval %v", c.kind, c.k, rows, i, k, g[s+k], wg[k])
					}
				}
			}
		}
	}
}

// expsNonPos (four at a time in assembly where available) gives the bits
// of expNonPos, on every length and on the values at the edges of its
// domain.
func TestExpsNonPosMatchesScalar(t *testing.T) {
	rnd := rand.New(rand.NewPCG(51, 52))
	special := []float64{0, math.Copysign(0, -1), -math.SmallestNonzeroFloat64, -1e-300, -0.5 * math.Ln2, -708.39, -708.4, -744.44, -745.13, -745.14, -745.2, -745.3, -800, -1e308, math.Inf(-1), math.NaN()}
	for n := range 67 {
		x := make([]float64, n)
		for i := range x {
			if rnd.IntN(4) == 0 {
				x[i] = special[rnd.IntN(len(special))]
			} else {
				x[i] = -math.Abs(rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(7)-3)))
			}
		}
		got := slices.Clone(x)
		expsNonPos(got)
		for i, a := range x {
			if want := expNonPos(a); !sameBits(got[i], want) {
				t.Fatalf("n=%d: expsNonPos[%d] (a=%v) = %v, expNonPos %v", n, i, a, got[i], want)
			}
		}
	}
}
