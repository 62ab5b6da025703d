package loss

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats/scalar"
)

var seedFlag = flag.Uint64("seed", 1, "seed of the random tests")

// newRand returns the tests' seeded source; a non-default seed is logged so
// that a failure can be replayed.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	if *seedFlag != 1 {
		t.Logf("seed %d", *seedFlag)
	}
	return rand.New(rand.NewPCG(*seedFlag, 0x5eed))
}

// lossCase is one configured loss under test.
type lossCase struct {
	name string
	f    Func
	k    int // dataset target columns
}

// mustNew is New for configurations that are valid by construction.
func mustNew(t testing.TB, kind Kind, k int, cfg Config) Func {
	t.Helper()
	f, err := New(kind, k, cfg)
	if err != nil {
		t.Fatalf("New(%v, %d, %+v): %v", kind, k, cfg, err)
	}
	return f
}

// cases returns every kind with and without smoothing and class weights, in
// a fixed order.
func cases(t testing.TB) []lossCase {
	t.Helper()
	const k = 5
	var out []lossCase
	for _, eps := range []float64{0, 0.1} {
		for _, weighted := range []bool{false, true} {
			bin, multi := Config{Smoothing: eps}, Config{Smoothing: eps}
			if weighted {
				bin.ClassWeights = []float64{0.5, 3}
				multi.ClassWeights = []float64{1, 0.25, 2.5, 3, 0.7}
			}
			suffix := fmt.Sprintf("/eps=%g/weighted=%t", eps, weighted)
			out = append(out,
				lossCase{"logistic" + suffix, mustNew(t, KindLogistic, 1, bin), 1},
				lossCase{"binary-softmax" + suffix, mustNew(t, KindBinarySoftmax, 1, bin), 1},
				lossCase{"softmax" + suffix, mustNew(t, KindSoftmax, k, multi), k},
				lossCase{"sigmoid" + suffix, mustNew(t, KindSigmoid, k, multi), k},
			)
		}
	}
	return out
}

// randLabels returns a data row's labels for a loss: hard labels (0/1, one
// class for softmax) or soft ones.
func randLabels(rnd *rand.Rand, c lossCase, soft bool) []float32 {
	y := make([]float32, c.k)
	_, isSoftmax := c.f.(Softmax)
	switch {
	case soft:
		for i := range y {
			y[i] = rnd.Float32()
		}
	case isSoftmax:
		y[rnd.IntN(c.k)] = 1
	default:
		for i := range y {
			if rnd.IntN(2) == 1 {
				y[i] = 1
			}
		}
	}
	return y
}

func randLogits(rnd *rand.Rand, n int, scale float64) []float64 {
	z := make([]float64, n)
	for i := range z {
		z[i] = scale * rnd.NormFloat64()
	}
	return z
}

func TestParseKind(t *testing.T) {
	for _, k := range []Kind{KindLogistic, KindBinarySoftmax, KindSoftmax, KindSigmoid} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatalf("marshal %v: %v", k, err)
		}
		var back Kind
		if err := json.Unmarshal(b, &back); err != nil || back != k {
			t.Errorf("JSON round trip of %v via %s = %v, %v", k, b, back, err)
		}
	}
	for _, s := range []string{"", "Logistic", "softmax ", "binary_softmax", "hinge"} {
		if _, err := ParseKind(s); err == nil {
			t.Errorf("ParseKind(%q) succeeded, want an error", s)
		}
	}
	if s := Kind(0).String(); s != "Kind(0)" {
		t.Errorf("Kind(0).String() = %q", s)
	}
	if _, err := json.Marshal(Kind(9)); err == nil {
		t.Error("marshalling Kind(9) succeeded, want an error")
	}
}

func TestNewValidates(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, tc := range []struct {
		kind Kind
		k    int
		cfg  Config
		ok   bool
	}{
		{KindLogistic, 1, Config{}, true},
		{KindLogistic, 1, Config{Smoothing: 0.999, ClassWeights: []float64{1, 2}}, true},
		{KindLogistic, 2, Config{}, false},
		{KindLogistic, 1, Config{Smoothing: 1}, false},
		{KindLogistic, 1, Config{Smoothing: -0.1}, false},
		{KindLogistic, 1, Config{Smoothing: nan}, false},
		{KindLogistic, 1, Config{ClassWeights: []float64{1}}, false},
		{KindLogistic, 1, Config{ClassWeights: []float64{1, 0}}, false},
		{KindLogistic, 1, Config{ClassWeights: []float64{1, -1}}, false},
		{KindLogistic, 1, Config{ClassWeights: []float64{1, inf}}, false},
		{KindLogistic, 1, Config{ClassWeights: []float64{nan, 1}}, false},
		{KindBinarySoftmax, 1, Config{ClassWeights: []float64{1, 2}}, true},
		{KindBinarySoftmax, 3, Config{}, false},
		{KindSoftmax, 1, Config{}, false},
		{KindSoftmax, 2, Config{}, true},
		{KindSoftmax, 3, Config{ClassWeights: []float64{1, 2, 3}}, true},
		{KindSoftmax, 3, Config{ClassWeights: []float64{1, 2}}, false},
		{KindSigmoid, 1, Config{ClassWeights: []float64{2}}, true},
		{KindSigmoid, 4, Config{Smoothing: 0.2}, true},
		{KindSigmoid, 0, Config{}, false},
		{KindSigmoid, -1, Config{}, false},
		{Kind(0), 1, Config{}, false},
		{Kind(7), 1, Config{}, false},
	} {
		f, err := New(tc.kind, tc.k, tc.cfg)
		switch {
		case tc.ok && err != nil:
			t.Errorf("New(%v, %d, %+v): %v", tc.kind, tc.k, tc.cfg, err)
		case !tc.ok && err == nil:
			t.Errorf("New(%v, %d, %+v) succeeded, want an error", tc.kind, tc.k, tc.cfg)
		case !tc.ok && !errors.Is(err, ErrConfig):
			t.Errorf("New(%v, %d, %+v) = %v, want it to wrap ErrConfig", tc.kind, tc.k, tc.cfg, err)
		case tc.ok:
			want := map[Kind]int{KindLogistic: 1, KindBinarySoftmax: 2, KindSoftmax: tc.k, KindSigmoid: tc.k}[tc.kind]
			if f.Logits() != want {
				t.Errorf("New(%v, %d).Logits() = %d, want %d", tc.kind, tc.k, f.Logits(), want)
			}
		}
	}
}

func TestNewCopiesClassWeights(t *testing.T) {
	w := []float64{1, 2}
	f := mustNew(t, KindLogistic, 1, Config{ClassWeights: w})
	z, tt := []float64{0.3}, []float64{1}
	before := f.Eval(nil, z, tt)
	w[1] = 100
	if after := f.Eval(nil, z, tt); after != before {
		t.Errorf("changing the caller's class weights changed the loss: %v -> %v", before, after)
	}
}

func TestTarget(t *testing.T) {
	const eps = 0.1
	for _, tc := range []struct {
		f    Func
		y    []float32
		want []float64
	}{
		{Logistic{}, []float32{1}, []float64{1}},
		{mustNew(t, KindLogistic, 1, Config{Smoothing: eps}), []float32{1}, []float64{1 - eps/2}},
		{mustNew(t, KindLogistic, 1, Config{Smoothing: eps}), []float32{0}, []float64{eps / 2}},
		{mustNew(t, KindLogistic, 1, Config{Smoothing: eps}), []float32{0.5}, []float64{0.5}},
		{BinarySoftmax{}, []float32{1}, []float64{0, 1}},
		{mustNew(t, KindBinarySoftmax, 1, Config{Smoothing: eps}), []float32{1}, []float64{eps / 2, 1 - eps/2}},
		{mustNew(t, KindBinarySoftmax, 1, Config{Smoothing: eps}), []float32{0}, []float64{1 - eps/2, eps / 2}},
		{mustNew(t, KindSoftmax, 4, Config{}), []float32{0, 0, 1, 0}, []float64{0, 0, 1, 0}},
		{mustNew(t, KindSoftmax, 4, Config{Smoothing: eps}), []float32{0, 0, 1, 0}, []float64{eps / 4, eps / 4, 1 - eps + eps/4, eps / 4}},
		// Multi-label row with k = 2 labels: the 1/k soft target (MATH.md §4.3).
		{mustNew(t, KindSoftmax, 4, Config{}), []float32{1, 0, 1, 0}, []float64{0.5, 0, 0.5, 0}},
		// No label: uniform.
		{mustNew(t, KindSoftmax, 4, Config{Smoothing: eps}), []float32{0, 0, 0, 0}, []float64{0.25, 0.25, 0.25, 0.25}},
		{mustNew(t, KindSigmoid, 3, Config{Smoothing: eps}), []float32{1, 0, 1}, []float64{1 - eps/2, eps / 2, 1 - eps/2}},
	} {
		got := make([]float64, tc.f.Logits())
		tc.f.Target(got, tc.y)
		// Two roundings of numbers ≤ 1 (1 − y' for the binary softmax's
		// negative class is exact given y' but inherits y's rounding).
		const absTol, relTol = 2.3e-16, 4.5e-16
		if !slices.EqualFunc(got, tc.want, func(a, b float64) bool { return scalar.EqualWithinAbsOrRel(a, b, absTol, relTol) }) {
			t.Errorf("%T(ε=…).Target(%v) = %v, want %v", tc.f, tc.y, got, tc.want)
		}
	}
}

// TestGradientMatchesFiniteDifference checks Eval's gradient against a
// central difference of Eval's loss, for every kind, with and without
// smoothing and class weights, hard and soft targets.
func TestGradientMatchesFiniteDifference(t *testing.T) {
	const (
		// h balances truncation O(h²·|L'''|) ≈ 1e-12 (|L'''| ≤ c_max·1,
		// c_max = 3) against roundoff ε·|L|/h ≈ 2.2e-16·30/1e-6 ≈ 7e-9
		// (|L| ≤ ~30 for logits of scale 3 and weights ≤ 3).
		h      = 1e-6
		absTol = 1e-7
		relTol = 1e-6
		trials = 20
	)
	rnd := newRand(t)
	for _, c := range cases(t) {
		n := c.f.Logits()
		tt := make([]float64, n)
		got := make([]float64, n)
		for trial := range trials {
			soft := trial%2 == 1
			c.f.Target(tt, randLabels(rnd, c, soft))
			z := randLogits(rnd, n, 3)
			c.f.Eval(got, z, tt)
			want := fd.Gradient(nil, func(z []float64) float64 { return c.f.Eval(nil, z, tt) }, z,
				&fd.Settings{Formula: fd.Central, Step: h})
			for i := range got {
				if !scalar.EqualWithinAbsOrRel(got[i], want[i], absTol, relTol) {
					t.Errorf("%s: z=%v t=%v: ∂L/∂z[%d] = %.10g, finite difference %.10g (‖Δ‖∞ = %.3g)",
						c.name, z, tt, i, got[i], want[i], infDist(got, want))
				}
			}
		}
	}
}

// TestGradientIsYhatMinusTarget checks the unweighted gradient against Prob:
// dL/dz = ŷ − t (MATH.md §1–3), and the class weight as a factor.
func TestGradientIsYhatMinusTarget(t *testing.T) {
	const tol = 1e-15 // a few roundings of numbers in [−1, 1]
	rnd := newRand(t)
	for _, c := range cases(t) {
		n := c.f.Logits()
		tt, g, yhat, w := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		for range 20 {
			c.f.Target(tt, randLabels(rnd, c, rnd.IntN(2) == 0))
			z := randLogits(rnd, n, 4)
			c.f.Eval(g, z, tt)
			c.f.Prob(yhat, z)
			classWeights(w, c.f, tt)
			for i := range g {
				if want := w[i] * (yhat[i] - tt[i]); math.Abs(g[i]-want) > tol*math.Max(1, w[i]) {
					t.Errorf("%s: z=%v: g[%d] = %.17g, want c·(ŷ−t) = %.17g", c.name, z, i, g[i], want)
				}
			}
		}
	}
}

// classWeights writes the factor each gradient component carries, per the
// documentation of each type.
func classWeights(dst []float64, f Func, t []float64) {
	switch f := f.(type) {
	case Logistic:
		dst[0] = 1
		if f.c != nil {
			dst[0] = f.c[0]*(1-t[0]) + f.c[1]*t[0]
		}
	case BinarySoftmax, Softmax:
		var c []float64
		if s, ok := f.(Softmax); ok {
			c = s.c
		} else {
			c = f.(BinarySoftmax).c
		}
		w := 1.0
		if c != nil {
			w = 0
			for k := range c {
				w += c[k] * t[k]
			}
		}
		for i := range dst {
			dst[i] = w
		}
	case Sigmoid:
		for i := range dst {
			dst[i] = 1
			if f.c != nil {
				dst[i] = f.c[i]
			}
		}
	}
}

func infDist(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestLogisticIsPinnedBinarySoftmax checks MATH.md §4.1: logistic regression
// on logit z is two-logit softmax on (0, z): same ŷ, same loss and the same
// gradient for the positive logit, with the class weights of both.
func TestLogisticIsPinnedBinarySoftmax(t *testing.T) {
	const tol = 1e-13 // relative; both evaluate a log1p/exp pair in different arrangements
	rnd := newRand(t)
	for _, cfg := range []Config{{}, {Smoothing: 0.2}, {ClassWeights: []float64{0.3, 2}}} {
		lg := mustNew(t, KindLogistic, 1, cfg)
		bs := mustNew(t, KindBinarySoftmax, 1, cfg)
		for trial := range 200 {
			y := []float32{float32(trial % 2)}
			if trial%3 == 0 {
				y[0] = rnd.Float32()
			}
			z := 8 * rnd.NormFloat64()
			t1, t2 := make([]float64, 1), make([]float64, 2)
			lg.Target(t1, y)
			bs.Target(t2, y)
			g1, g2 := make([]float64, 1), make([]float64, 2)
			l1 := lg.Eval(g1, []float64{z}, t1)
			l2 := bs.Eval(g2, []float64{0, z}, t2)
			p1, p2 := make([]float64, 1), make([]float64, 2)
			lg.Prob(p1, []float64{z})
			bs.Prob(p2, []float64{0, z})
			if !scalar.EqualWithinAbsOrRel(l1, l2, 1e-300, tol) {
				t.Errorf("cfg %+v z=%g y=%g: logistic L = %.17g, pinned binary softmax L = %.17g", cfg, z, y[0], l1, l2)
			}
			if !scalar.EqualWithinAbsOrRel(g1[0], g2[1], 1e-16, tol) {
				t.Errorf("cfg %+v z=%g y=%g: logistic ∂L/∂z = %.17g, binary softmax ∂L/∂z1 = %.17g", cfg, z, y[0], g1[0], g2[1])
			}
			if !scalar.EqualWithinAbsOrRel(p1[0], p2[1], 1e-300, tol) {
				t.Errorf("z=%g: σ(z) = %.17g, softmax(0, z)[1] = %.17g", z, p1[0], p2[1])
			}
		}
	}
}

// TestSoftmaxBelowSigmoid checks MATH.md §4.2: softmax(z)_i < σ(z_i) exactly
// when S_i = Σ_{j≠i} e^(z_j) > 1, and so whenever every z_j > log(1/(n−1)).
func TestSoftmaxBelowSigmoid(t *testing.T) {
	// Draws with |S_i − 1| below this are skipped: there the two estimates
	// agree to within rounding and the strict comparison is noise.
	const tieTol = 1e-9
	rnd := newRand(t)
	checked := [2]int{}
	for trial := range 2000 {
		n := 2 + rnd.IntN(9)
		z := randLogits(rnd, n, 2)
		if trial%2 == 1 { // every z_j > log(1/(n−1)): S_i > (n−1)·1/(n−1) = 1
			for j := range z {
				z[j] = math.Log(1/float64(n-1)) + math.Abs(z[j]) + 1e-6
			}
		}
		sm := mustNew(t, KindSoftmax, n, Config{})
		sg := mustNew(t, KindSigmoid, n, Config{})
		ps, pg := make([]float64, n), make([]float64, n)
		sm.Prob(ps, z)
		sg.Prob(pg, z)
		for i := range z {
			var s float64
			for j, v := range z {
				if j != i {
					s += math.Exp(v)
				}
			}
			if math.Abs(s-1) < tieTol {
				continue
			}
			below := ps[i] < pg[i]
			if below != (s > 1) {
				t.Errorf("z=%v i=%d: softmax %.17g, sigmoid %.17g, Σ_{j≠i} e^z_j = %.17g", z, i, ps[i], pg[i], s)
			}
			if trial%2 == 1 && !below {
				t.Errorf("z=%v (all > log(1/(n−1))) i=%d: softmax %.17g not below sigmoid %.17g", z, i, ps[i], pg[i])
			}
			if below {
				checked[1]++
			} else {
				checked[0]++
			}
		}
	}
	if checked[0] == 0 || checked[1] == 0 {
		t.Errorf("draws exercised only one side of the equivalence: %v", checked)
	}
}

// TestSoftTargetIsMeanOfOneHot checks MATH.md §4.3: for a row with k labels,
// the softmax gradient at the 1/k soft target equals the mean of the
// gradients of k one-hot copies.
func TestSoftTargetIsMeanOfOneHot(t *testing.T) {
	const tol = 4e-16 // differences of numbers in [−1, 1]: a few roundings
	rnd := newRand(t)
	const n = 7
	f := mustNew(t, KindSoftmax, n, Config{})
	tSoft, gSoft := make([]float64, n), make([]float64, n)
	tOne, gOne, mean := make([]float64, n), make([]float64, n), make([]float64, n)
	for range 200 {
		y := make([]float32, n)
		var labels []int
		for len(labels) == 0 {
			labels = labels[:0]
			for i := range y {
				y[i] = 0
				if rnd.IntN(3) == 0 {
					y[i] = 1
					labels = append(labels, i)
				}
			}
		}
		z := randLogits(rnd, n, 3)
		f.Target(tSoft, y)
		f.Eval(gSoft, z, tSoft)
		clear(mean)
		for _, l := range labels {
			oneHot := make([]float32, n)
			oneHot[l] = 1
			f.Target(tOne, oneHot)
			f.Eval(gOne, z, tOne)
			for i := range mean {
				mean[i] += gOne[i] / float64(len(labels))
			}
		}
		if d := infDist(gSoft, mean); d > tol {
			t.Errorf("y=%v z=%v: soft-target gradient %v, mean of one-hot gradients %v (‖Δ‖∞ = %.3g)", y, z, gSoft, mean, d)
		}
	}
}

// TestProperties checks, over random logits and targets: Σŷ = 1 for the
// softmax kinds, Σ_k ∂L/∂z_k = 0 when Σt = 1 (so shifting all logits by a
// constant is a direction of zero change), L ≥ 0, ŷ ∈ [0, 1], shift
// invariance of the softmax gradient, and that Eval does not modify z or t.
func TestProperties(t *testing.T) {
	const (
		sumTol   = 8 * 2.3e-16 // n = 5 roundings of terms ≤ 1, with headroom
		shiftTol = 1e-13       // a shift of 1000 costs ~1000·ε of the logits' precision
	)
	rnd := newRand(t)
	for _, c := range cases(t) {
		n := c.f.Logits()
		tt, g, g2, yhat := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		_, isSigmoid := c.f.(Sigmoid)
		_, isLogistic := c.f.(Logistic)
		for range 200 {
			c.f.Target(tt, randLabels(rnd, c, rnd.IntN(2) == 0))
			z := randLogits(rnd, n, 10)
			zc, tc := slices.Clone(z), slices.Clone(tt)
			l := c.f.Eval(g, z, tt)
			c.f.Prob(yhat, z)
			if !slices.Equal(z, zc) || !slices.Equal(tt, tc) {
				t.Fatalf("%s: Eval modified its inputs", c.name)
			}
			if !(l >= 0) {
				t.Errorf("%s: z=%v t=%v: L = %v, want ≥ 0", c.name, z, tt, l)
			}
			for i, p := range yhat {
				if !(p >= 0 && p <= 1) {
					t.Errorf("%s: ŷ[%d] = %v outside [0, 1]", c.name, i, p)
				}
			}
			if isSigmoid || isLogistic {
				continue
			}
			if s := sum(yhat); math.Abs(s-1) > sumTol {
				t.Errorf("%s: z=%v: Σŷ = %.17g, want 1", c.name, z, s)
			}
			if s := sum(g); math.Abs(s) > sumTol*maxAbs(g)*4 {
				t.Errorf("%s: z=%v t=%v: Σ ∂L/∂z = %.3g, want 0", c.name, z, tt, s)
			}
			for i := range z {
				z[i] += 1000
			}
			c.f.Eval(g2, z, tt)
			if d := infDist(g, g2); d > shiftTol {
				t.Errorf("%s: shifting z by 1000 changed the gradient by %.3g", c.name, d)
			}
		}
	}
}

func sum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

func maxAbs(x []float64) float64 {
	var m float64
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return math.Max(m, 1)
}

// TestExtremeLogits checks exact limits at logits the size of the float64
// range, where a naive evaluation overflows or returns NaN.
func TestExtremeLogits(t *testing.T) {
	const big = 1e308
	inf := math.Inf(1)
	bs, sm3 := BinarySoftmax{}, mustNew(t, KindSoftmax, 3, Config{})
	sg2 := mustNew(t, KindSigmoid, 2, Config{})
	for _, tc := range []struct {
		name  string
		f     Func
		z, t  []float64
		wantL float64
		wantG []float64
	}{
		{"logistic right", Logistic{}, []float64{big}, []float64{1}, 0, []float64{0}},
		{"logistic wrong", Logistic{}, []float64{big}, []float64{0}, big, []float64{1}},
		{"logistic right negative", Logistic{}, []float64{-big}, []float64{0}, 0, []float64{0}},
		{"logistic wrong negative", Logistic{}, []float64{-big}, []float64{1}, big, []float64{-1}},
		{"logistic soft", Logistic{}, []float64{big}, []float64{0.5}, big / 2, []float64{0.5}},
		{"logistic soft negative", Logistic{}, []float64{-big}, []float64{0.5}, big / 2, []float64{-0.5}},
		{"logistic zero", Logistic{}, []float64{0}, []float64{0.25}, math.Ln2, []float64{0.25}},
		{"logistic tiny", Logistic{}, []float64{1e-300}, []float64{1}, math.Ln2, []float64{-0.5}},
		{"logistic 1e300 soft", Logistic{}, []float64{-1e300}, []float64{0.3}, 3e299, []float64{-0.3}},
		{"binary softmax right", bs, []float64{big, -big}, []float64{1, 0}, 0, []float64{0, 0}},
		{"binary softmax soft", bs, []float64{big, -big}, []float64{0.5, 0.5}, big, []float64{0.5, -0.5}},
		// The exact loss, 2e308, exceeds MaxFloat64; the gradient stays exact.
		{"binary softmax beyond range", bs, []float64{big, -big}, []float64{0, 1}, inf, []float64{1, -1}},
		{"binary softmax tie", bs, []float64{big, big}, []float64{1, 0}, math.Ln2, []float64{-0.5, 0.5}},
		{"binary softmax tie negative", bs, []float64{-big, -big}, []float64{0, 1}, math.Ln2, []float64{0.5, -0.5}},
		{"softmax mixed 1e300", sm3, []float64{1e300, -1e300, 0}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e300, []float64{2.0 / 3, -1.0 / 3, -1.0 / 3}},
		{"softmax mixed 1e308", sm3, []float64{big, 0, -big}, []float64{0, 1, 0}, big, []float64{1, -1, 0}},
		{"sigmoid", sg2, []float64{big, -big}, []float64{1, 1}, big, []float64{0, -1}},
		{"sigmoid soft", sg2, []float64{big, 1e300}, []float64{0.5, 1}, big / 2, []float64{0.5, 0}},
	} {
		g := make([]float64, len(tc.z))
		l := tc.f.Eval(g, tc.z, tc.t)
		// 1e-15: the limits are exact but pass through a few roundings.
		if l != tc.wantL && !scalar.EqualWithinRel(l, tc.wantL, 1e-15) {
			t.Errorf("%s: L = %.17g, want %.17g", tc.name, l, tc.wantL)
		}
		for i := range g {
			if !scalar.EqualWithinAbs(g[i], tc.wantG[i], 1e-15) {
				t.Errorf("%s: g = %v, want %v", tc.name, g, tc.wantG)
				break
			}
		}
	}
}

// TestStableEverywhere sweeps every kind over logits mixing magnitudes from
// 1e-8 to 1e300: the loss must be finite and ≥ 0 and every gradient
// component in [−c, c] with c the largest class weight. NaN logits must give
// a NaN loss and not panic.
func TestStableEverywhere(t *testing.T) {
	values := []float64{0, 1e-8, -1e-8, 30, -30, 700, -700, 1e300, -1e300}
	rnd := newRand(t)
	for _, c := range cases(t) {
		n := c.f.Logits()
		const cmax = 3 // the largest class weight in cases()
		tt, g := make([]float64, n), make([]float64, n)
		z := make([]float64, n)
		for range 400 {
			for i := range z {
				z[i] = values[rnd.IntN(len(values))]
			}
			c.f.Target(tt, randLabels(rnd, c, rnd.IntN(2) == 0))
			l := c.f.Eval(g, z, tt)
			if math.IsInf(l, 0) || !(l >= 0) {
				t.Errorf("%s: z=%v t=%v: L = %v", c.name, z, tt, l)
			}
			for i, v := range g {
				if !(math.Abs(v) <= cmax) {
					t.Errorf("%s: z=%v t=%v: g[%d] = %v", c.name, z, tt, i, v)
				}
			}
		}
		z[n-1] = math.NaN()
		if l := c.f.Eval(g, z, tt); !math.IsNaN(l) {
			t.Errorf("%s: NaN logit gave L = %v, want NaN", c.name, l)
		}
	}
}

func TestEvalPanicsOnShapeMismatch(t *testing.T) {
	for _, c := range cases(t) {
		n := c.f.Logits()
		for _, args := range [][3][]float64{
			{make([]float64, n), make([]float64, n+1), make([]float64, n)},
			{make([]float64, n), make([]float64, n), make([]float64, n+1)},
			{make([]float64, n+1), make([]float64, n), make([]float64, n)},
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: Eval with lengths %d,%d,%d did not panic", c.name, len(args[0]), len(args[1]), len(args[2]))
					}
				}()
				c.f.Eval(args[0], args[1], args[2])
			}()
		}
	}
}

func TestEvalDoesNotAllocate(t *testing.T) {
	rnd := newRand(t)
	for _, c := range cases(t) {
		n := c.f.Logits()
		tt, g, z := make([]float64, n), make([]float64, n), randLogits(rnd, n, 1)
		y := randLabels(rnd, c, false)
		if a := testing.AllocsPerRun(100, func() {
			c.f.Target(tt, y)
			c.f.Eval(g, z, tt)
			c.f.Prob(g, z)
		}); a != 0 {
			t.Errorf("%s: %v allocations per Target+Eval+Prob, want 0", c.name, a)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, bc := range []struct {
		kind Kind
		k    int
	}{{KindLogistic, 1}, {KindBinarySoftmax, 1}, {KindSoftmax, 10}, {KindSigmoid, 10}, {KindSoftmax, 1000}} {
		f, err := New(bc.kind, bc.k, Config{Smoothing: 0.1})
		if err != nil {
			b.Fatal(err)
		}
		n := f.Logits()
		z, g, tt := randLogits(rnd, n, 3), make([]float64, n), make([]float64, n)
		y := make([]float32, bc.k)
		y[0] = 1
		f.Target(tt, y)
		b.Run(fmt.Sprintf("%v/n=%d", bc.kind, n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.Eval(g, z, tt)
			}
		})
	}
}
