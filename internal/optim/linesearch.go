package optim

import "math"

// Line search constants (Nocedal and Wright, §3.1 and §3.5).
const (
	// wolfeC1 is the sufficient-decrease constant.
	wolfeC1 = 1e-4
	// wolfeC2 is the curvature constant, the usual value for quasi-Newton
	// directions.
	wolfeC2 = 0.9
	// maxLineSearchEvals bounds the evaluations of one line search. The
	// bracketing phase at least doubles the step per evaluation and the
	// zoom at least shrinks the bracket by 10 %, so a search that has not
	// ended by then is fighting rounding or an inconsistent gradient.
	maxLineSearchEvals = 40
)

// lsOutcome is how a line search ended.
type lsOutcome int

const (
	// lsCur: the latest trial point (xCur, gCur) meets the strong Wolfe
	// conditions.
	lsCur lsOutcome = iota + 1
	// lsLo: the search ran out of evaluations or bracket, but found a point
	// (xLo, gLo) with sufficient decrease; it is accepted as a weak step.
	lsLo
	// lsFailed: no point with sufficient decrease was found.
	lsFailed
	// lsBudget: LBFGSConfig.MaxEvals was reached first, with no point with
	// sufficient decrease.
	lsBudget
)

// lsPoint is a trial step α with φ(α) = f(x + α·d) and φ'(α) = ∇f(x + α·d)ᵀd.
// A point where f or ∇f was not finite has f = +Inf and d = NaN.
type lsPoint struct{ a, f, d float64 }

func (p lsPoint) finite() bool { return !math.IsInf(p.f, 1) }

// trial evaluates φ and φ' at step a into xCur and gCur.
func (m *minimizer) trial(a float64) (lsPoint, error) {
	st := m.st
	for i, x := range st.X {
		m.xCur[i] = x + a*m.d[i]
	}
	f, err := m.evaluate(m.xCur, m.gCur)
	if err != nil {
		return lsPoint{}, err
	}
	p := lsPoint{a: a, f: f, d: dot(m.gCur, m.d)}
	if !finite(p.f) || !finite(p.d) || !allFinite(m.gCur) {
		p.f, p.d = math.Inf(1), math.NaN()
	}
	return p, nil
}

// lineSearch finds a step along m.d from the current state satisfying the
// strong Wolfe conditions (see Minimize), starting with step a0; d0 = φ'(0)
// < 0. It returns which buffers hold the chosen point and its objective.
//
// It is Nocedal and Wright's Algorithm 3.5 (bracketing) and 3.6 (zoom).
// Trial steps come from the cubic that interpolates φ and φ' at the two
// ends of the current interval, safeguarded: when extrapolating, the step
// grows by a factor in [2.1, 5] over the last increment; when zooming, it
// stays at least 10 % of the bracket away from either end (else the
// bracket is bisected). A trial point where f or ∇f is not finite ends the
// bracketing and is treated as too far: the next trial is 10 % of the way
// to it from the best point, so overflow is backed out of geometrically.
func (m *minimizer) lineSearch(a0, d0 float64) (lsOutcome, float64, error) {
	f0 := m.st.F
	dInf, xInf := normInf(m.d), normInf(m.st.X)
	sufficient := func(p lsPoint) bool { return p.f <= f0+wolfeC1*p.a*d0 }
	curvature := func(p lsPoint) bool { return math.Abs(p.d) <= -wolfeC2*d0 }
	// giveUp accepts lo, if it is not the origin, or ends with out.
	giveUp := func(lo lsPoint, out lsOutcome) (lsOutcome, float64, error) {
		if lo.a > 0 && lo.f < f0 {
			return lsLo, lo.f, nil
		}
		return out, 0, nil
	}
	keepLo := func() { m.xLo, m.xCur, m.gLo, m.gCur = m.xCur, m.xLo, m.gCur, m.gLo }

	lo := lsPoint{a: 0, f: f0, d: d0} // best point with sufficient decrease
	var hi lsPoint
	a, evals := a0, 0
	for i := 0; ; i++ {
		if m.st.Evals >= m.cfg.MaxEvals {
			return giveUp(lo, lsBudget)
		}
		if evals >= maxLineSearchEvals {
			return giveUp(lo, lsFailed)
		}
		p, err := m.trial(a)
		evals++
		if err != nil {
			return 0, 0, err
		}
		if !p.finite() || !sufficient(p) || (i > 0 && p.f >= lo.f) {
			hi = p
			break
		}
		if curvature(p) {
			return lsCur, p.f, nil
		}
		if p.d >= 0 {
			hi = lo
			lo = p
			keepLo()
			break
		}
		// Still going down: extrapolate.
		prev := lo
		lo = p
		keepLo()
		inc := p.a - prev.a
		next := cubicMin(prev, p)
		lower, upper := p.a+1.1*inc, p.a+4*inc
		switch {
		case math.IsNaN(next) || next > upper:
			next = upper
		case next < lower:
			next = lower
		}
		a = next
	}
	// Zoom: lo has sufficient decrease and the lowest f so far, and
	// (hi − lo)·φ'(lo) < 0, so [lo, hi] brackets a strong Wolfe point.
	for {
		if m.st.Evals >= m.cfg.MaxEvals {
			return giveUp(lo, lsBudget)
		}
		if evals >= maxLineSearchEvals {
			return giveUp(lo, lsFailed)
		}
		width := hi.a - lo.a
		if math.Abs(width)*dInf <= epsilon*xInf || math.Abs(width) <= epsilon*math.Max(lo.a, hi.a) {
			// The bracket is below the resolution of x.
			return giveUp(lo, lsFailed)
		}
		a := math.NaN()
		if hi.finite() {
			a = cubicMin(lo, hi)
		}
		l, r := lo.a+0.1*width, hi.a-0.1*width
		if !(a >= math.Min(l, r) && a <= math.Max(l, r)) {
			if hi.finite() {
				a = lo.a + 0.5*width
			} else {
				a = l
			}
		}
		p, err := m.trial(a)
		evals++
		if err != nil {
			return 0, 0, err
		}
		if !p.finite() || !sufficient(p) || p.f >= lo.f {
			hi = p
			continue
		}
		if curvature(p) {
			return lsCur, p.f, nil
		}
		if p.d*width >= 0 {
			hi = lo
		}
		lo = p
		keepLo()
	}
}

// cubicMin returns the minimiser of the cubic interpolating φ and φ' at p
// and q (Nocedal and Wright eq. 3.59), or NaN when that cubic has no local
// minimum or the arithmetic overflows.
func cubicMin(p, q lsPoint) float64 {
	d1 := p.d + q.d - 3*(p.f-q.f)/(p.a-q.a)
	disc := d1*d1 - p.d*q.d
	if !(disc >= 0) || math.IsInf(disc, 1) {
		return math.NaN()
	}
	d2 := math.Copysign(math.Sqrt(disc), q.a-p.a)
	a := q.a - (q.a-p.a)*(q.d+d2-d1)/(q.d-p.d+2*d2)
	if !finite(a) {
		return math.NaN()
	}
	return a
}
