package optim

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/functions"
)

// logReg is L2-regularised logistic regression on fixed random data, the
// trainer's objective in miniature:
//
//	f(θ) = (1/N)·Σ_i [log(1 + e^(z_i)) − y_i·z_i] + (λ/2)·‖w‖²,  z_i = w·x_i + b
//
// with θ = (w, b); the bias is not penalised.
type logReg struct {
	x      [][]float64
	y      []float64
	lambda float64
}

func newLogReg(seed uint64, n, d int, lambda float64) *logReg {
	rnd := rand.New(rand.NewPCG(seed, 7))
	w := make([]float64, d)
	for j := range w {
		w[j] = 2 * rnd.NormFloat64()
	}
	p := &logReg{lambda: lambda}
	for range n {
		xi := make([]float64, d)
		var z float64
		for j := range xi {
			xi[j] = rnd.NormFloat64()
			z += w[j] * xi[j]
		}
		yi := 0.0
		if rnd.Float64() < 1/(1+math.Exp(-z-0.5)) {
			yi = 1
		}
		p.x, p.y = append(p.x, xi), append(p.y, yi)
	}
	return p
}

func (p *logReg) dim() int { return len(p.x[0]) + 1 }

func (p *logReg) eval(theta, grad []float64) (float64, error) {
	d := len(p.x[0])
	n := float64(len(p.x))
	var f float64
	for i, xi := range p.x {
		z := theta[d]
		for j, v := range xi {
			z += theta[j] * v
		}
		// Stable log(1 + e^z) − y·z and σ(z).
		f += math.Max(z, 0) - z*p.y[i] + math.Log1p(math.Exp(-math.Abs(z)))
		r := 1/(1+math.Exp(-z)) - p.y[i]
		for j, v := range xi {
			grad[j] += r * v / n
		}
		grad[d] += r / n
	}
	f /= n
	for j := range d {
		f += p.lambda / 2 * theta[j] * theta[j]
		grad[j] += p.lambda * theta[j]
	}
	return f, nil
}

// hessian returns ∇²f(θ).
func (p *logReg) hessian(theta []float64) *mat.SymDense {
	d := len(p.x[0])
	n := float64(len(p.x))
	h := mat.NewSymDense(d+1, nil)
	xt := make([]float64, d+1)
	for _, xi := range p.x {
		copy(xt, xi)
		xt[d] = 1
		z := 0.0
		for j, v := range xt {
			z += theta[j] * v
		}
		s := 1 / (1 + math.Exp(-z))
		h.SymRankOne(h, s*(1-s)/n, mat.NewVecDense(d+1, xt))
	}
	for j := range d {
		h.SetSym(j, j, h.At(j, j)+p.lambda)
	}
	return h
}

// newton returns the minimiser by Newton's method with step halving, run to
// rounding level.
func (p *logReg) newton(t *testing.T) ([]float64, float64) {
	t.Helper()
	n := p.dim()
	theta, g := make([]float64, n), make([]float64, n)
	f, _ := p.eval(theta, g)
	for range 100 {
		var ch mat.Cholesky
		if !ch.Factorize(p.hessian(theta)) {
			t.Fatal("newton: Hessian not positive definite")
		}
		var step mat.VecDense
		if err := ch.SolveVecTo(&step, mat.NewVecDense(n, slices.Clone(g))); err != nil {
			t.Fatal(err)
		}
		next, gNext := make([]float64, n), make([]float64, n)
		a := 1.0
		var fNext float64
		for range 60 {
			for i := range next {
				next[i] = theta[i] - a*step.AtVec(i)
			}
			clear(gNext)
			fNext, _ = p.eval(next, gNext)
			if fNext <= f {
				break
			}
			a /= 2
		}
		if fNext >= f && normInf(gNext) >= normInf(g) {
			break // rounding level
		}
		theta, g, f = next, gNext, fNext
	}
	return theta, f
}

func minEigen(t *testing.T, h *mat.SymDense) float64 {
	t.Helper()
	var e mat.EigenSym
	if !e.Factorize(h, false) {
		t.Fatal("eigen decomposition failed")
	}
	return slices.Min(e.Values(nil))
}

// TestMinimizeLogisticRegressionMatchesNewton runs L-BFGS with the default
// configuration and compares with Newton's method.
func TestMinimizeLogisticRegressionMatchesNewton(t *testing.T) {
	for _, tc := range []struct {
		name   string
		seed   uint64
		n, d   int
		lambda float64
	}{
		{"small", 1, 200, 5, 1e-2},
		{"weakly regularised", 2, 500, 20, 1e-4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newLogReg(tc.seed, tc.n, tc.d, tc.lambda)
			xStar, fStar := p.newton(t)
			res, err := Minimize(p.eval, make([]float64, p.dim()), LBFGSConfig{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("status %v after %d iterations, %d evaluations; f = %.17g, f* = %.17g, ‖g‖∞ = %.3g",
				res.Status, res.Iter, res.Evals, res.F, fStar, res.GradNorm)
			if !res.Status.Converged() {
				t.Errorf("status %v", res.Status)
			}
			// The documented target of the defaults.
			if rel := (res.F - fStar) / math.Abs(fStar); rel > 1e-10 || rel < -1e-14 {
				t.Errorf("f = %.17g, Newton f* = %.17g: relative gap %.3g", res.F, fStar, rel)
			}
			// Strong convexity with modulus μ (smallest Hessian eigenvalue
			// at x*, the Hessian varying little so close to x*) gives
			// ‖x − x*‖₂ ≤ ‖∇f(x)‖₂/μ; allow a factor 2 for that variation.
			g := make([]float64, p.dim())
			p.eval(res.X, g)
			mu := minEigen(t, p.hessian(xStar))
			var dist float64
			for i := range res.X {
				dist += (res.X[i] - xStar[i]) * (res.X[i] - xStar[i])
			}
			if bound := 2 * math.Sqrt(dot(g, g)) / mu; math.Sqrt(dist) > bound {
				t.Errorf("‖x − x*‖ = %.3g exceeds ‖g‖/μ bound %.3g", math.Sqrt(dist), bound)
			}
		})
	}
}

func TestMinimizeRosenbrock(t *testing.T) {
	var r functions.ExtendedRosenbrock
	eval := func(x, g []float64) (float64, error) {
		r.Grad(g, x)
		return r.Func(x), nil
	}
	for _, x0 := range [][]float64{{-1.2, 1}, {-1.2, 1, -1.2, 1, -1.2, 1, -1.2, 1}} {
		res, err := Minimize(eval, x0, LBFGSConfig{GradTol: 1e-10}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("n=%d: %v after %d iterations, %d evaluations, f = %.3g", len(x0), res.Status, res.Iter, res.Evals, res.F)
		// f ≈ ½(x−1)ᵀH(x−1) with the Hessian's smallest eigenvalue ≈ 0.4 at
		// x* = 1, so ‖g‖∞ ≤ 1e-10 puts x within ~1e-9 of 1; 1e-7 is slack.
		for i, v := range res.X {
			if math.Abs(v-1) > 1e-7 {
				t.Errorf("n=%d: x[%d] = %.17g, want 1 (status %v)", len(x0), i, v, res.Status)
			}
		}
		// With f* = 0 the objective test is absolute, (f_prev − f) ≤ 1e-12,
		// and may fire first; either test is convergence.
		if !res.Status.Converged() {
			t.Errorf("status %v", res.Status)
		}
	}
}

// quadratic is f(x) = ½(x − c)ᵀA(x − c) with A = QΛQᵀ, eigenvalues
// log-spaced over [1, cond] and a random rotation Q.
type quadratic struct {
	a *mat.SymDense
	c []float64
}

func newQuadratic(seed uint64, n int, cond float64) *quadratic {
	rnd := rand.New(rand.NewPCG(seed, 11))
	m := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			m.Set(i, j, rnd.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(m)
	var q mat.Dense
	qr.QTo(&q)
	lam := mat.NewDiagDense(n, nil)
	for i := range n {
		lam.SetDiag(i, math.Pow(cond, float64(i)/float64(n-1)))
	}
	var ql, a mat.Dense
	ql.Mul(&q, lam)
	a.Mul(&ql, q.T())
	sym := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			sym.SetSym(i, j, (a.At(i, j)+a.At(j, i))/2)
		}
	}
	c := make([]float64, n)
	for i := range c {
		c[i] = rnd.NormFloat64()
	}
	return &quadratic{a: sym, c: c}
}

func (q *quadratic) eval(x, g []float64) (float64, error) {
	n := len(x)
	r := make([]float64, n)
	for i := range r {
		r[i] = x[i] - q.c[i]
	}
	var f float64
	for i := range n {
		var s float64
		for j := range n {
			s += q.a.At(i, j) * r[j]
		}
		g[i] = s
		f += r[i] * s / 2
	}
	return f, nil
}

func TestMinimizeIllConditionedQuadratic(t *testing.T) {
	// κ = 1e4 over 40 spread eigenvalues takes ~600 iterations; 1e6 takes
	// ~4500 (and gonum's L-BFGS ~5000), too slow for a unit test.
	const n, cond = 40, 1e4
	q := newQuadratic(3, n, cond)
	res, err := Minimize(q.eval, make([]float64, n), LBFGSConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v after %d iterations, %d evaluations, f = %.3g", res.Status, res.Iter, res.Evals, res.F)
	if !res.Status.Converged() {
		t.Errorf("status %v", res.Status)
	}
	// f* = 0 and f ≥ 0, so the objective test is absolute here: the run
	// stops once an iteration gains ≤ 1e-12, with f a small multiple of
	// that; f(x0) = ½·cᵀAc ≈ 1e4, so 1e-9 is 1e-13 of the way.
	if res.F > 1e-9 {
		t.Errorf("f = %.3g, want ≤ 1e-9", res.F)
	}
}

// TestGradientDescentConverges checks the steepest-descent baseline on a
// mildly conditioned problem.
func TestGradientDescentConverges(t *testing.T) {
	p := newLogReg(1, 200, 5, 1e-2)
	_, fStar := p.newton(t)
	res, err := GradientDescent(p.eval, make([]float64, p.dim()), LBFGSConfig{GradTol: 1e-9, MaxIter: 5000, MaxEvals: 20000}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v after %d iterations, %d evaluations", res.Status, res.Iter, res.Evals)
	if !res.Status.Converged() || (res.F-fStar)/fStar > 1e-9 {
		t.Errorf("status %v, f = %.17g, f* = %.17g", res.Status, res.F, fStar)
	}
}

// TestResumeIsBitIdentical checkpoints (through JSON) after every
// iteration, resumes from several of them and requires the final point,
// objective and counters to equal the uninterrupted run's to the bit.
func TestResumeIsBitIdentical(t *testing.T) {
	p := newLogReg(4, 300, 8, 1e-3)
	x0 := make([]float64, p.dim())
	for _, solver := range []struct {
		name string
		run  func(EvalFunc, []float64, LBFGSConfig, *LBFGSState, func(*LBFGSState) error) (LBFGSResult, error)
		cfg  LBFGSConfig
	}{
		{"lbfgs", Minimize, LBFGSConfig{Memory: 4}},
		{"gd", GradientDescent, LBFGSConfig{MaxIter: 60}},
	} {
		var saved [][]byte
		full, err := solver.run(p.eval, x0, solver.cfg, nil, func(st *LBFGSState) error {
			b, err := json.Marshal(st)
			saved = append(saved, b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(saved) != full.Iter || full.Iter < 10 {
			t.Fatalf("%s: %d checkpoints for %d iterations", solver.name, len(saved), full.Iter)
		}
		for _, k := range []int{1, 3, full.Iter / 2, full.Iter - 1, full.Iter} {
			var st LBFGSState
			if err := json.Unmarshal(saved[k-1], &st); err != nil {
				t.Fatal(err)
			}
			var after int
			got, err := solver.run(p.eval, nil, solver.cfg, &st, func(*LBFGSState) error { after++; return nil })
			if err != nil {
				t.Fatalf("%s: resume after %d: %v", solver.name, k, err)
			}
			if !slices.Equal(got.X, full.X) || got.F != full.F || got.Iter != full.Iter || got.Evals != full.Evals || got.Status != full.Status {
				t.Errorf("%s: resumed after iteration %d: %v f=%v iter=%d evals=%d; uninterrupted %v f=%v iter=%d evals=%d",
					solver.name, k, got.Status, got.F, got.Iter, got.Evals, full.Status, full.F, full.Iter, full.Evals)
			}
			if after != full.Iter-k {
				t.Errorf("%s: resumed after %d: %d more iterations, want %d", solver.name, k, after, full.Iter-k)
			}
		}
	}
}

func TestResumeDoesNotModifyState(t *testing.T) {
	p := newLogReg(4, 100, 3, 1e-2)
	var st *LBFGSState
	if _, err := Minimize(p.eval, make([]float64, p.dim()), LBFGSConfig{MaxIter: 3}, nil, func(s *LBFGSState) error {
		st = s.Clone()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(st)
	if _, err := Minimize(p.eval, nil, LBFGSConfig{}, st, nil); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(st); string(after) != string(before) {
		t.Error("Minimize modified the resume state")
	}
}

func TestResumeRejectsBadState(t *testing.T) {
	p := newLogReg(4, 50, 3, 1e-2)
	var st *LBFGSState
	Minimize(p.eval, make([]float64, p.dim()), LBFGSConfig{MaxIter: 5, Memory: 3}, nil, func(s *LBFGSState) error {
		st = s.Clone()
		return nil
	})
	for name, mutate := range map[string]func(*LBFGSState){
		"short x":   func(s *LBFGSState) { s.X = s.X[:2] },
		"nan g":     func(s *LBFGSState) { s.G[0] = math.NaN() },
		"pairs":     func(s *LBFGSState) { s.Rho = s.Rho[:1] },
		"rho":       func(s *LBFGSState) { s.Rho[0] = -1 },
		"evals":     func(s *LBFGSState) { s.Evals = 0 },
		"pair size": func(s *LBFGSState) { s.S[0] = s.S[0][:1] },
	} {
		bad := st.Clone()
		mutate(bad)
		if _, err := Minimize(p.eval, nil, LBFGSConfig{Memory: 3}, bad, nil); !errors.Is(err, ErrState) {
			t.Errorf("%s: %v, want ErrState", name, err)
		}
	}
	if _, err := Minimize(p.eval, nil, LBFGSConfig{Memory: 2}, st, nil); !errors.Is(err, ErrState) {
		t.Errorf("more pairs than memory: %v, want ErrState", err)
	}
	if _, err := Minimize(p.eval, make([]float64, 7), LBFGSConfig{Memory: 3}, st, nil); !errors.Is(err, ErrState) {
		t.Errorf("x0 of another size: %v, want ErrState", err)
	}
}

func TestEvalErrorPropagates(t *testing.T) {
	p := newLogReg(5, 100, 4, 1e-2)
	errBoom := errors.New("worker lost")
	calls := 0
	eval := func(x, g []float64) (float64, error) {
		calls++
		if calls == 6 {
			return 0, errBoom
		}
		return p.eval(x, g)
	}
	res, err := Minimize(eval, make([]float64, p.dim()), LBFGSConfig{}, nil, nil)
	if !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want it to wrap %v", err, errBoom)
	}
	if calls != 6 || res.Evals != 6 || len(res.X) != p.dim() || !allFinite(res.X) || res.Status != 0 {
		t.Errorf("calls %d, result %+v", calls, res)
	}
	// An error at the first evaluation.
	if _, err := Minimize(func([]float64, []float64) (float64, error) { return 0, errBoom }, []float64{1}, LBFGSConfig{}, nil, nil); !errors.Is(err, errBoom) {
		t.Errorf("first evaluation: %v", err)
	}
	// An error from the checkpoint callback.
	if _, err := Minimize(p.eval, make([]float64, p.dim()), LBFGSConfig{}, nil, func(*LBFGSState) error { return errBoom }); !errors.Is(err, errBoom) {
		t.Errorf("onIter: %v", err)
	}
}

// TestNonFiniteEvaluations checks that NaN and ±Inf from eval make the line
// search back off rather than loop or poison the state.
func TestNonFiniteEvaluations(t *testing.T) {
	// f(x) = (x − 0.5)², NaN beyond x = 0.6. From 0 the first trial step
	// reaches x = 1.
	nans := 0
	eval := func(x, g []float64) (float64, error) {
		if x[0] > 0.6 {
			nans++
			g[0] = math.NaN()
			return math.NaN(), nil
		}
		g[0] = 2 * (x[0] - 0.5)
		return (x[0] - 0.5) * (x[0] - 0.5), nil
	}
	for _, solver := range []struct {
		name string
		run  func(EvalFunc, []float64, LBFGSConfig, *LBFGSState, func(*LBFGSState) error) (LBFGSResult, error)
	}{{"lbfgs", Minimize}, {"gd", GradientDescent}} {
		nans = 0
		res, err := solver.run(eval, []float64{0}, LBFGSConfig{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if nans == 0 || !res.Status.Converged() || math.Abs(res.X[0]-0.5) > 1e-8 {
			t.Errorf("%s: %d NaN evaluations, %v, x = %v", solver.name, nans, res.Status, res.X)
		}
	}

	// A function whose minimum lies in the NaN region: the run must stop,
	// with a finite point, within its evaluation budget.
	evalNaNMin := func(x, g []float64) (float64, error) {
		if x[0] > 0.25 {
			return math.Inf(1), nil
		}
		g[0] = 2 * (x[0] - 0.5)
		return (x[0] - 0.5) * (x[0] - 0.5), nil
	}
	res, err := Minimize(evalNaNMin, []float64{0}, LBFGSConfig{MaxEvals: 500}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == StatusGradTol || !(res.X[0] <= 0.25) || res.Evals > 500 {
		t.Errorf("minimum in the NaN region: %v, x = %v, %d evaluations", res.Status, res.X, res.Evals)
	}
	t.Logf("minimum in the NaN region: %v, x = %.17g, %d evaluations", res.Status, res.X[0], res.Evals)

	// Everything after the start is NaN: the line search gives up.
	calls := 0
	res, err = Minimize(func(x, g []float64) (float64, error) {
		calls++
		if calls == 1 {
			g[0] = 1
			return 1, nil
		}
		return math.NaN(), nil
	}, []float64{0}, LBFGSConfig{}, nil, nil)
	if err != nil || res.Status != StatusLineSearchFailed || calls > 1+maxLineSearchEvals || res.X[0] != 0 {
		t.Errorf("all NaN: %v, %v after %d calls, x = %v", err, res.Status, calls, res.X)
	}

	// A non-finite start is an error.
	if _, err := Minimize(func(x, g []float64) (float64, error) { return math.NaN(), nil }, []float64{0}, LBFGSConfig{}, nil, nil); !errors.Is(err, ErrNotFinite) {
		t.Errorf("NaN at x0: %v, want ErrNotFinite", err)
	}
	if _, err := Minimize(eval, []float64{math.Inf(1)}, LBFGSConfig{}, nil, nil); !errors.Is(err, ErrNotFinite) {
		t.Errorf("x0 = +Inf: %v, want ErrNotFinite", err)
	}
}

// TestInconsistentGradientStops feeds a gradient that points uphill: no
// step has sufficient decrease, and the run must stop promptly.
func TestInconsistentGradientStops(t *testing.T) {
	calls := 0
	res, err := Minimize(func(x, g []float64) (float64, error) {
		calls++
		g[0] = -2*x[0] - 1 // the gradient of −x² − x, but f = x²
		return x[0] * x[0], nil
	}, []float64{1}, LBFGSConfig{}, nil, nil)
	if err != nil || res.Status != StatusLineSearchFailed || calls > 1+maxLineSearchEvals {
		t.Errorf("%v, %v after %d evaluations", err, res.Status, calls)
	}
}

func TestLimits(t *testing.T) {
	p := newLogReg(6, 200, 6, 1e-4)
	res, err := Minimize(p.eval, make([]float64, p.dim()), LBFGSConfig{MaxIter: 3}, nil, nil)
	if err != nil || res.Status != StatusMaxIter || res.Iter != 3 {
		t.Errorf("MaxIter 3: %v, %+v", err, res)
	}
	res, err = Minimize(p.eval, make([]float64, p.dim()), LBFGSConfig{MaxEvals: 4}, nil, nil)
	if err != nil || res.Status != StatusMaxEvals || res.Evals != 4 {
		t.Errorf("MaxEvals 4: %v, %+v", err, res)
	}
	// Disabling both tolerances runs to the iteration limit or to rounding.
	res, err = Minimize(p.eval, make([]float64, p.dim()), LBFGSConfig{GradTol: -1, FTol: -1, MaxIter: 500}, nil, nil)
	if err != nil || res.Status == StatusGradTol && res.GradNorm != 0 || res.Status == StatusFTol {
		t.Errorf("no tolerances: %v, %v, ‖g‖ = %v", err, res.Status, res.GradNorm)
	}
	t.Logf("no tolerances: %v after %d iterations, ‖g‖∞ = %.3g", res.Status, res.Iter, res.GradNorm)
}

func TestLBFGSConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg LBFGSConfig
		ok  bool
	}{
		{LBFGSConfig{}, true},
		{DefaultLBFGSConfig(), true},
		{LBFGSConfig{GradTol: -1, FTol: -1}, true},
		{LBFGSConfig{Memory: -1}, false},
		{LBFGSConfig{MaxIter: -1}, false},
		{LBFGSConfig{MaxEvals: -2}, false},
		{LBFGSConfig{GradTol: math.NaN()}, false},
		{LBFGSConfig{FTol: math.Inf(1)}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%+v: %v, want ok=%t", tc.cfg, err, tc.ok)
		}
		_, err := Minimize(func(x, g []float64) (float64, error) { g[0] = 2 * x[0]; return x[0] * x[0], nil }, []float64{1}, tc.cfg, nil, nil)
		if (err == nil) != tc.ok {
			t.Errorf("Minimize with %+v: %v, want ok=%t", tc.cfg, err, tc.ok)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s := StatusGradTol; s <= StatusLineSearchFailed; s++ {
		if str := s.String(); str == "" || str[0] == 'S' {
			t.Errorf("Status %d has no name: %q", int(s), str)
		}
	}
	if !StatusFTol.Converged() || StatusMaxIter.Converged() {
		t.Error("Converged is wrong")
	}
}

func BenchmarkMinimizeLogReg(b *testing.B) {
	p := newLogReg(1, 1000, 50, 1e-3)
	x0 := make([]float64, p.dim())
	for b.Loop() {
		if _, err := Minimize(p.eval, x0, LBFGSConfig{}, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
