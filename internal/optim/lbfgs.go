package optim

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// EvalFunc evaluates the objective at x: it returns f(x) and writes ∇f(x)
// into grad, which the caller has zeroed (so an evaluation that accumulates
// into grad is fine). It must not modify x, nor keep x or grad after
// returning. A non-nil error stops the minimisation and is returned wrapped;
// a non-finite f or gradient is not an error: the line search treats the
// point as too far and backtracks.
type EvalFunc func(x, grad []float64) (float64, error)

// LBFGSConfig configures Minimize and GradientDescent. Fields left zero take
// the values of DefaultLBFGSConfig; a negative GradTol or FTol switches that
// test off.
type LBFGSConfig struct {
	// Memory m ≥ 1 is the number of (s, y) pairs kept (default 10).
	// GradientDescent ignores it.
	Memory int `json:"memory,omitempty"`
	// GradTol: stop with StatusGradTol when, at an accepted point,
	//
	//	‖∇f(x)‖_∞ ≤ GradTol·max(1, |f(x)|)
	//
	// (default 1e-8; a zero gradient always stops).
	GradTol float64 `json:"grad_tol,omitempty"`
	// FTol: stop with StatusFTol after an iteration from f_prev to f with
	//
	//	(f_prev − f) / max(|f_prev|, |f|, 1) ≤ FTol
	//
	// (default 1e-12).
	FTol float64 `json:"f_tol,omitempty"`
	// MaxIter ≥ 1 bounds the accepted iterations (default 10000).
	MaxIter int `json:"max_iter,omitempty"`
	// MaxEvals ≥ 1 bounds the evaluations, the initial one included
	// (default 20000).
	MaxEvals int `json:"max_evals,omitempty"`
}

// DefaultLBFGSConfig returns the defaults. They are chosen so that on a
// smooth, strongly convex objective such as L2-regularised logistic
// regression the run ends with f within about 1e-10 relative of the optimum:
// near x*, f − f* ≈ ½·gᵀH⁻¹g ≤ ‖g‖₂²/(2μ) with μ the smallest eigenvalue of
// the Hessian, so ‖g‖_∞ ≤ 1e-8 gives f − f* ≤ n·1e-16/(2μ), which is below
// 1e-10 for n/μ ≤ 2e6 (for example 2000 parameters and λ ≥ 1e-3). The
// objective test, FTol = 1e-12, fires only when an iteration gains less than
// that relative amount, which L-BFGS does far from the optimum only on a
// badly scaled problem; near the optimum it catches runs whose decrease has
// reached rounding level (≈ 1e-16·|f|) before the gradient test holds.
//
// The limits are generous, because the iteration count grows with the
// conditioning: a logistic regression with λ ~ 1e-2 takes tens of
// iterations, but a quadratic with Hessian condition number κ takes on the
// order of √κ·log(1/tol) (about 600 at κ = 1e4 and 4500 at κ = 1e6 for 40
// spread eigenvalues, as for gonum's L-BFGS), at about 1.1 evaluations per
// iteration.
func DefaultLBFGSConfig() LBFGSConfig {
	return LBFGSConfig{Memory: 10, GradTol: 1e-8, FTol: 1e-12, MaxIter: 10000, MaxEvals: 20000}
}

func (c LBFGSConfig) withDefaults() LBFGSConfig {
	d := DefaultLBFGSConfig()
	if c.Memory == 0 {
		c.Memory = d.Memory
	}
	if c.GradTol == 0 {
		c.GradTol = d.GradTol
	}
	if c.FTol == 0 {
		c.FTol = d.FTol
	}
	if c.MaxIter == 0 {
		c.MaxIter = d.MaxIter
	}
	if c.MaxEvals == 0 {
		c.MaxEvals = d.MaxEvals
	}
	return c
}

// Validate reports whether c, after zero fields take their defaults, is
// usable.
func (c LBFGSConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Memory < 1:
		return fmt.Errorf("%w: l-bfgs memory %d < 1", ErrConfig, c.Memory)
	case math.IsNaN(c.GradTol) || math.IsInf(c.GradTol, 1):
		return fmt.Errorf("%w: gradient tolerance %v", ErrConfig, c.GradTol)
	case math.IsNaN(c.FTol) || math.IsInf(c.FTol, 1):
		return fmt.Errorf("%w: objective tolerance %v", ErrConfig, c.FTol)
	case c.MaxIter < 1:
		return fmt.Errorf("%w: max iterations %d < 1", ErrConfig, c.MaxIter)
	case c.MaxEvals < 1:
		return fmt.Errorf("%w: max evaluations %d < 1", ErrConfig, c.MaxEvals)
	}
	return nil
}

// Status tells why a minimisation stopped.
type Status int

const (
	// StatusGradTol: the gradient test of LBFGSConfig.GradTol holds.
	StatusGradTol Status = iota + 1
	// StatusFTol: the objective test of LBFGSConfig.FTol holds.
	StatusFTol
	// StatusMaxIter: LBFGSConfig.MaxIter iterations were taken.
	StatusMaxIter
	// StatusMaxEvals: LBFGSConfig.MaxEvals evaluations were spent.
	StatusMaxEvals
	// StatusLineSearchFailed: the line search found no point with
	// sufficient decrease along a descent direction. Near the optimum it
	// means f cannot be decreased further in float64 (the result is then
	// as good as the arithmetic allows); far from it, that the gradient is
	// inconsistent with f or f is not finite anywhere along the direction.
	StatusLineSearchFailed
)

// String names the status.
func (s Status) String() string {
	switch s {
	case StatusGradTol:
		return "converged (gradient)"
	case StatusFTol:
		return "converged (objective)"
	case StatusMaxIter:
		return "iteration limit"
	case StatusMaxEvals:
		return "evaluation limit"
	case StatusLineSearchFailed:
		return "line search failed"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Converged reports whether s is StatusGradTol or StatusFTol.
func (s Status) Converged() bool { return s == StatusGradTol || s == StatusFTol }

// LBFGSState is the state of a full-batch minimisation after an accepted
// iteration: everything the next iteration depends on. It is plain data;
// a run resumed from it (after a JSON round trip, say) continues with the
// same bits as the run that produced it.
type LBFGSState struct {
	// Iter is the number of accepted iterations.
	Iter int `json:"iter"`
	// Evals is the number of evaluations so far, the initial one included.
	Evals int `json:"evals"`
	// X is the current point, F = f(X) and G = ∇f(X).
	X []float64 `json:"x"`
	F float64   `json:"f"`
	G []float64 `json:"g"`
	// FPrev is f before the last iteration (equal to F when Iter is 0).
	FPrev float64 `json:"f_prev"`
	// S and Y are the stored pairs s_k = x_(k+1) − x_k and
	// y_k = ∇f(x_(k+1)) − ∇f(x_k), oldest first, and Rho[k] = 1/(s_kᵀy_k).
	// They are empty for GradientDescent.
	S   [][]float64 `json:"s"`
	Y   [][]float64 `json:"y"`
	Rho []float64   `json:"rho"`
}

// Clone returns a deep copy of st.
func (st *LBFGSState) Clone() *LBFGSState {
	c := *st
	c.X, c.G = slices.Clone(st.X), slices.Clone(st.G)
	c.S, c.Y = cloneAll(st.S), cloneAll(st.Y)
	c.Rho = slices.Clone(st.Rho)
	return &c
}

func cloneAll(v [][]float64) [][]float64 {
	if v == nil {
		return nil
	}
	c := make([][]float64, len(v))
	for i := range v {
		c[i] = slices.Clone(v[i])
	}
	return c
}

// check reports whether st is a consistent state for n parameters and at
// most memory pairs.
func (st *LBFGSState) check(n, memory int) error {
	switch {
	case len(st.X) != n || len(st.G) != n:
		return fmt.Errorf("%w: x has %d and g %d entries, want %d", ErrState, len(st.X), len(st.G), n)
	case len(st.S) != len(st.Y) || len(st.S) != len(st.Rho):
		return fmt.Errorf("%w: %d s, %d y and %d rho", ErrState, len(st.S), len(st.Y), len(st.Rho))
	case len(st.S) > memory:
		return fmt.Errorf("%w: %d pairs, memory is %d", ErrState, len(st.S), memory)
	case st.Iter < 0 || st.Evals < 1:
		return fmt.Errorf("%w: iteration %d, evaluations %d", ErrState, st.Iter, st.Evals)
	case !finite(st.F) || !finite(st.FPrev) || !allFinite(st.X) || !allFinite(st.G):
		return fmt.Errorf("%w: not finite", ErrState)
	}
	for k := range st.S {
		if len(st.S[k]) != n || len(st.Y[k]) != n {
			return fmt.Errorf("%w: pair %d has lengths %d and %d, want %d", ErrState, k, len(st.S[k]), len(st.Y[k]), n)
		}
		if !(st.Rho[k] > 0) || !allFinite(st.S[k]) || !allFinite(st.Y[k]) || math.IsInf(st.Rho[k], 1) {
			return fmt.Errorf("%w: pair %d not finite or with sᵀy ≤ 0", ErrState, k)
		}
	}
	return nil
}

// LBFGSResult is the outcome of a minimisation.
type LBFGSResult struct {
	// X is the last accepted point, F = f(X) and GradNorm = ‖∇f(X)‖_∞.
	X        []float64
	F        float64
	GradNorm float64
	// Iter and Evals count accepted iterations and evaluations.
	Iter, Evals int
	// Status is why the run stopped; zero when it stopped on an error.
	Status Status
}

// ErrNotFinite is returned when the starting point, or f or its gradient
// there, is not finite.
var ErrNotFinite = errors.New("optim: not finite")

// Minimize minimises f with L-BFGS (Nocedal and Wright, Numerical
// Optimization, 2nd ed., Algorithm 7.5): the search direction is
// d = −H·∇f(x), with H the inverse-Hessian approximation built by the
// two-loop recursion (Algorithm 7.4) from the last m pairs (s, y) and the
// initial scaling γ = sᵀy/yᵀy of the newest pair, and the step along d
// satisfies the strong Wolfe conditions
//
//	f(x + α·d) ≤ f(x) + c1·α·∇f(x)ᵀd
//	|∇f(x + α·d)ᵀd| ≤ c2·|∇f(x)ᵀd|,   c1 = 1e-4, c2 = 0.9
//
// found by bracketing and zooming with safeguarded cubic interpolation
// (Algorithms 3.5 and 3.6). The first trial step is 1 once pairs are
// stored, and min(1, 1/‖∇f(x)‖₂) at the start. A search that cannot meet
// the curvature condition within 40 evaluations, or whose bracket shrinks
// below the resolution of x (which happens when f has reached rounding
// level), accepts its best point with sufficient decrease, if any, as a weak
// step; with none it ends the run with StatusLineSearchFailed. A pair is stored only when
// sᵀy > ε·‖s‖₂·‖y‖₂, so H stays positive definite; if rounding ever makes d
// an ascent direction the memory is cleared and d = −∇f(x).
//
// eval is called once per trial point; in the trainer each call is one
// distributed round. x0 is the starting point, or, when resume is non-nil,
// only checked against resume.X's length (it may then be nil); resume is a
// state from onIter and is not modified. onIter, when non-nil, is called
// after every accepted iteration with the current state, valid only during
// the call (Clone it to keep it); an error from it stops the run.
//
// Minimize returns an error for an invalid configuration or state, a
// non-finite start, an error from eval or from onIter; the result then holds
// the last accepted point.
func Minimize(eval EvalFunc, x0 []float64, cfg LBFGSConfig, resume *LBFGSState, onIter func(st *LBFGSState) error) (LBFGSResult, error) {
	if err := cfg.Validate(); err != nil {
		return LBFGSResult{}, err
	}
	cfg = cfg.withDefaults()
	return minimize(eval, x0, cfg, cfg.Memory, resume, onIter)
}

// GradientDescent minimises f by steepest descent, d = −∇f(x), with the
// line search, stopping tests and checkpoints of Minimize (its state has no
// pairs; cfg.Memory is ignored). The first trial step is min(1, 1/‖∇f‖₂);
// later ones interpolate the last decrease, α = 1.01·2·(f − f_prev)/∇fᵀd
// (Nocedal and Wright eq. 3.60). It is the full-batch baseline; Minimize is
// the method to use.
func GradientDescent(eval EvalFunc, x0 []float64, cfg LBFGSConfig, resume *LBFGSState, onIter func(st *LBFGSState) error) (LBFGSResult, error) {
	if err := cfg.Validate(); err != nil {
		return LBFGSResult{}, err
	}
	return minimize(eval, x0, cfg.withDefaults(), 0, resume, onIter)
}

// minimizer holds a run's state and scratch space.
type minimizer struct {
	eval   EvalFunc
	cfg    LBFGSConfig
	memory int
	st     *LBFGSState

	d     []float64 // search direction
	alpha []float64 // two-loop coefficients, len memory
	xCur  []float64 // the latest trial point and its gradient
	gCur  []float64
	xLo   []float64 // the best trial point with sufficient decrease
	gLo   []float64
	sNew  []float64 // candidate pair
	yNew  []float64
}

func minimize(eval EvalFunc, x0 []float64, cfg LBFGSConfig, memory int, resume *LBFGSState, onIter func(*LBFGSState) error) (LBFGSResult, error) {
	m := &minimizer{eval: eval, cfg: cfg, memory: memory}
	if resume != nil {
		n := len(resume.X)
		if x0 != nil && len(x0) != n {
			return LBFGSResult{}, fmt.Errorf("%w: resume state has %d parameters, x0 %d", ErrState, n, len(x0))
		}
		if err := resume.check(n, memory); err != nil {
			return LBFGSResult{}, err
		}
		m.st = resume.Clone()
	} else {
		if !allFinite(x0) {
			return LBFGSResult{}, fmt.Errorf("%w: starting point", ErrNotFinite)
		}
		m.st = &LBFGSState{X: slices.Clone(x0), G: make([]float64, len(x0))}
		f, err := m.evaluate(m.st.X, m.st.G)
		if err != nil {
			return m.result(0), err
		}
		if !finite(f) || !allFinite(m.st.G) {
			return m.result(0), fmt.Errorf("%w: f(x0) = %v or its gradient", ErrNotFinite, f)
		}
		m.st.F, m.st.FPrev = f, f
	}
	n := len(m.st.X)
	m.d, m.alpha = make([]float64, n), make([]float64, memory)
	m.xCur, m.gCur = make([]float64, n), make([]float64, n)
	m.xLo, m.gLo = make([]float64, n), make([]float64, n)
	m.sNew, m.yNew = make([]float64, n), make([]float64, n)

	st := m.st
	for {
		if s := m.stopped(); s != 0 {
			return m.result(s), nil
		}
		dg := m.direction()
		if !(dg < 0) {
			// Rounding made H·g useless: forget the pairs, go downhill.
			st.S, st.Y, st.Rho = st.S[:0], st.Y[:0], st.Rho[:0]
			dg = m.direction()
		}
		out, f, err := m.lineSearch(m.initialStep(dg), dg)
		if err != nil {
			return m.result(0), err
		}
		switch out {
		case lsFailed:
			return m.result(StatusLineSearchFailed), nil
		case lsBudget:
			return m.result(StatusMaxEvals), nil
		case lsLo:
			m.accept(&m.xLo, &m.gLo, f)
		case lsCur:
			m.accept(&m.xCur, &m.gCur, f)
		}
		if onIter != nil {
			if err := onIter(st); err != nil {
				return m.result(0), fmt.Errorf("optim: iteration %d callback: %w", st.Iter, err)
			}
		}
	}
}

// evaluate calls eval at x with a zeroed grad and counts the call.
func (m *minimizer) evaluate(x, grad []float64) (float64, error) {
	clear(grad)
	m.st.Evals++
	f, err := m.eval(x, grad)
	if err != nil {
		return f, fmt.Errorf("optim: evaluation %d: %w", m.st.Evals, err)
	}
	return f, nil
}

// stopped returns the status the run stops with at the current state, or 0
// to go on. It reads only the state, so a resumed run decides the same.
func (m *minimizer) stopped() Status {
	st, cfg := m.st, m.cfg
	gInf := normInf(st.G)
	if gInf == 0 || (cfg.GradTol >= 0 && gInf <= cfg.GradTol*math.Max(1, math.Abs(st.F))) {
		return StatusGradTol
	}
	if st.Iter > 0 && cfg.FTol >= 0 {
		scale := math.Max(math.Max(math.Abs(st.FPrev), math.Abs(st.F)), 1)
		if (st.FPrev-st.F)/scale <= cfg.FTol {
			return StatusFTol
		}
	}
	if st.Iter >= cfg.MaxIter {
		return StatusMaxIter
	}
	if st.Evals >= cfg.MaxEvals {
		return StatusMaxEvals
	}
	return 0
}

func (m *minimizer) result(s Status) LBFGSResult {
	return LBFGSResult{
		X: slices.Clone(m.st.X), F: m.st.F, GradNorm: normInf(m.st.G),
		Iter: m.st.Iter, Evals: m.st.Evals, Status: s,
	}
}

// direction writes d = −H·g by the two-loop recursion over the stored pairs
// (d = −g without pairs) and returns gᵀd.
func (m *minimizer) direction() float64 {
	st, q := m.st, m.d
	for i, g := range st.G {
		q[i] = -g
	}
	k := len(st.S)
	if k == 0 {
		return dot(st.G, q)
	}
	for i := k - 1; i >= 0; i-- {
		a := st.Rho[i] * dot(st.S[i], q)
		m.alpha[i] = a
		axpy(q, -a, st.Y[i])
	}
	s, y := st.S[k-1], st.Y[k-1]
	gamma := dot(s, y) / dot(y, y)
	for i := range q {
		q[i] *= gamma
	}
	for i := range k {
		b := st.Rho[i] * dot(st.Y[i], q)
		axpy(q, m.alpha[i]-b, st.S[i])
	}
	return dot(st.G, q)
}

// initialStep returns the first trial step along d, given gᵀd.
func (m *minimizer) initialStep(dg float64) float64 {
	st := m.st
	if len(st.S) > 0 {
		return 1
	}
	if st.Iter > 0 && st.FPrev > st.F {
		if a := 1.01 * 2 * (st.F - st.FPrev) / dg; a > 0 && finite(a) {
			return a
		}
	}
	return math.Min(1, 1/math.Sqrt(dot(st.G, st.G)))
}

// accept makes the point the line search chose, held in the buffers *x and
// *g with objective f, the current one. It stores the pair (x − X, g − G)
// when its curvature is safely positive, then swaps buffers: the state takes
// x and g, and *x and *g receive the old X and G as scratch space.
func (m *minimizer) accept(x, g *[]float64, f float64) {
	st := m.st
	s, y := m.sNew, m.yNew
	for i, xi := range *x {
		s[i] = xi - st.X[i]
		y[i] = (*g)[i] - st.G[i]
	}
	sy, ss, yy := dot(s, y), dot(s, s), dot(y, y)
	if m.memory > 0 && sy > epsilon*math.Sqrt(ss)*math.Sqrt(yy) && finite(1/sy) {
		if len(st.S) == m.memory {
			// Drop the oldest pair and recycle its vectors as scratch.
			m.sNew, m.yNew = st.S[0], st.Y[0]
			k := copy(st.S, st.S[1:])
			copy(st.Y, st.Y[1:])
			copy(st.Rho, st.Rho[1:])
			st.S, st.Y, st.Rho = st.S[:k], st.Y[:k], st.Rho[:k]
		} else {
			m.sNew, m.yNew = make([]float64, len(s)), make([]float64, len(y))
		}
		st.S, st.Y, st.Rho = append(st.S, s), append(st.Y, y), append(st.Rho, 1/sy)
	}
	st.X, *x = *x, st.X
	st.G, *g = *g, st.G
	st.FPrev, st.F = st.F, f
	st.Iter++
}

// epsilon is the float64 machine epsilon, 2^−52.
const epsilon = 0x1p-52

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func allFinite(x []float64) bool {
	for _, v := range x {
		if !finite(v) {
			return false
		}
	}
	return true
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// axpy sets y ← y + a·x.
func axpy(y []float64, a float64, x []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}

func normInf(x []float64) float64 {
	var m float64
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
