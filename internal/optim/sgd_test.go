package optim

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

// Two hand-computed steps of every optimizer, from θ0 = (1, −2) with
// gradients g1 = (0.5, −1) and g2 = (0.25, 0.5) at lr = 0.1 and default
// constants (μ = 0.9, β1 = 0.9, β2 = 0.999, ε = 1e-8, AdaGrad ε = 1e-10).
func TestUpdatesMatchHandComputation(t *testing.T) {
	// The expectations below are written as the textbook formulas with the
	// intermediate values worked out by hand; they round differently from
	// the implementation's evaluation order, by a few ulp.
	const relTol = 1e-14
	g1, g2 := []float64{0.5, -1}, []float64{0.25, 0.5}
	for _, tc := range []struct {
		name         string
		step1, step2 []float64
	}{
		{SGD, []float64{0.95, -1.9}, []float64{0.925, -1.95}},
		// v1 = g1, θ1 = θ0 − 0.1·v1; v2 = 0.9·v1 + g2 = (0.7, −0.4), θ2 = θ1 − 0.1·v2.
		{Momentum, []float64{0.95, -1.9}, []float64{0.88, -1.86}},
		// θ1 = θ0 − 0.1·(g1 + 0.9·g1) = θ0 − 0.19·g1;
		// θ2 = θ1 − 0.1·(g2 + 0.9·(0.7, −0.4)) = θ1 − 0.1·(0.88, 0.14).
		{Nesterov, []float64{0.905, -1.81}, []float64{0.817, -1.824}},
		// Step 1: m̂ = g1, v̂ = g1², so θ1 = θ0 − 0.1·g1/(|g1| + ε).
		// Step 2: m = (0.07, −0.04), v = (0.00031225, 0.001249),
		// 1 − β1² = 0.19, 1 − β2² = 0.001999.
		{Adam,
			[]float64{1 - 0.1*0.5/(0.5+1e-8), -2 + 0.1*1/(1+1e-8)},
			[]float64{
				1 - 0.1*0.5/(0.5+1e-8) - 0.1*(0.07/0.19)/(math.Sqrt(0.00031225/0.001999)+1e-8),
				-2 + 0.1*1/(1+1e-8) - 0.1*(-0.04/0.19)/(math.Sqrt(0.001249/0.001999)+1e-8),
			}},
		// G1 = (0.25, 1), G2 = (0.3125, 1.25).
		{AdaGrad,
			[]float64{1 - 0.1*0.5/(0.5+1e-10), -2 + 0.1*1/(1+1e-10)},
			[]float64{
				1 - 0.1*0.5/(0.5+1e-10) - 0.1*0.25/(math.Sqrt(0.3125)+1e-10),
				-2 + 0.1*1/(1+1e-10) - 0.1*0.5/(math.Sqrt(1.25)+1e-10),
			}},
	} {
		o, err := New(Config{Name: tc.name}, 2)
		if err != nil {
			t.Fatalf("New(%s): %v", tc.name, err)
		}
		theta := []float64{1, -2}
		o.Update(theta, g1, 0.1)
		if !equalRel(theta, tc.step1, relTol) {
			t.Errorf("%s step 1: θ = %.17g, want %.17g", tc.name, theta, tc.step1)
		}
		o.Update(theta, g2, 0.1)
		if !equalRel(theta, tc.step2, relTol) {
			t.Errorf("%s step 2: θ = %.17g, want %.17g", tc.name, theta, tc.step2)
		}
		if s := o.State().Step; s != 2 {
			t.Errorf("%s: state step %d after 2 updates", tc.name, s)
		}
	}
}

func equalRel(a, b []float64, tol float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return scalar.EqualWithinRel(x, y, tol) })
}

// TestStateRoundTrip checkpoints after 3 steps through JSON, restores into a
// fresh optimizer and checks both continue with the same bits.
func TestStateRoundTrip(t *testing.T) {
	grads := [][]float64{{0.3, -1, 2}, {-0.5, 0.1, 0}, {1e-3, 4, -2}, {0.7, 0.7, -0.1}, {2, -3, 0.5}, {0, 0, 1}}
	for _, name := range []string{SGD, Momentum, Nesterov, Adam, AdaGrad} {
		cfg := Config{Name: name}
		a, err := New(cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		theta := []float64{0.1, 0.2, -0.3}
		for _, g := range grads[:3] {
			a.Update(theta, g, 0.05)
		}
		b, err := json.Marshal(a.State())
		if err != nil {
			t.Fatal(err)
		}
		var st State
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		c, _ := New(cfg, 3)
		if err := c.Restore(st); err != nil {
			t.Fatalf("%s: Restore: %v", name, err)
		}
		theta2 := slices.Clone(theta)
		for _, g := range grads[3:] {
			a.Update(theta, g, 0.05)
			c.Update(theta2, g, 0.05)
		}
		if !slices.Equal(theta, theta2) {
			t.Errorf("%s: restored run %v, uninterrupted %v", name, theta2, theta)
		}
		if sa, sc := a.State(), c.State(); sa.Step != sc.Step || sa.Step != 6 {
			t.Errorf("%s: steps %d and %d, want 6", name, sa.Step, sc.Step)
		}
	}
}

func TestStateIsDeepCopy(t *testing.T) {
	o, _ := New(Config{Name: Adam}, 2)
	theta := []float64{1, 1}
	o.Update(theta, []float64{1, 2}, 0.1)
	st := o.State()
	before := o.State()
	st.Slots[0][0] = 42
	if !slices.Equal(o.State().Slots[0], before.Slots[0]) {
		t.Error("modifying State()'s slots changed the optimizer")
	}
	st = before.Clone()
	if err := o.Restore(st); err != nil {
		t.Fatal(err)
	}
	st.Slots[1][1] = 42
	if o.State().Slots[1][1] == 42 {
		t.Error("Restore kept a reference to the caller's slots")
	}
}

func TestRestoreRejects(t *testing.T) {
	o, _ := New(Config{Name: Momentum}, 2)
	for name, st := range map[string]State{
		"name":   {Name: Adam, Slots: [][]float64{{0, 0}, {0, 0}}},
		"slots":  {Name: Momentum, Slots: nil},
		"length": {Name: Momentum, Slots: [][]float64{{0, 0, 0}}},
		"nan":    {Name: Momentum, Slots: [][]float64{{0, math.NaN()}}},
		"step":   {Name: Momentum, Step: -1, Slots: [][]float64{{0, 0}}},
	} {
		if err := o.Restore(st); !errors.Is(err, ErrState) {
			t.Errorf("Restore with bad %s: %v, want ErrState", name, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{Name: Adam}, true},
		{DefaultConfig(), true},
		{Config{Name: "rmsprop"}, false},
		{Config{Name: Momentum, Momentum: 1}, false},
		{Config{Name: Momentum, Momentum: -0.5}, false},
		{Config{Name: Adam, Beta2: 1.5}, false},
		{Config{Name: Adam, Eps: -1}, false},
		{Config{Name: Adam, Eps: math.Inf(1)}, false},
		{Config{Name: AdaGrad, AdaGradEps: math.NaN()}, false},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%t", tc.cfg, err, tc.ok)
		}
		if _, nerr := New(tc.cfg, 3); (nerr == nil) != tc.ok {
			t.Errorf("New(%+v) = %v, want ok=%t", tc.cfg, nerr, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("%+v.Validate() = %v, want ErrConfig", tc.cfg, err)
		}
	}
	if _, err := New(Config{}, -1); err == nil {
		t.Error("New with -1 parameters succeeded")
	}
}

func TestUpdateDoesNotAllocate(t *testing.T) {
	for _, name := range []string{SGD, Momentum, Nesterov, Adam, AdaGrad} {
		o, _ := New(Config{Name: name}, 100)
		theta, g := make([]float64, 100), make([]float64, 100)
		for i := range g {
			g[i] = float64(i%7) - 3
		}
		if a := testing.AllocsPerRun(50, func() { o.Update(theta, g, 0.01) }); a != 0 {
			t.Errorf("%s: %v allocations per Update", name, a)
		}
	}
}

func TestUpdatePanicsOnShapeMismatch(t *testing.T) {
	o, _ := New(Config{Name: Adam}, 3)
	defer func() {
		if recover() == nil {
			t.Error("Update with a short gradient did not panic")
		}
	}()
	o.Update(make([]float64, 3), make([]float64, 2), 0.1)
}

// TestOptimizersDescend runs every optimizer on a convex quadratic and
// checks it gets close to the minimum: a behavioural check of signs and
// scaling beyond the two hand-computed steps.
func TestOptimizersDescend(t *testing.T) {
	h := []float64{1, 4, 0.25} // diagonal Hessian
	c := []float64{1, -2, 3}   // minimiser
	lr := map[string]float64{SGD: 0.2, Momentum: 0.05, Nesterov: 0.05, Adam: 0.05, AdaGrad: 0.5}
	for _, name := range []string{SGD, Momentum, Nesterov, Adam, AdaGrad} {
		o, _ := New(Config{Name: name}, 3)
		theta, g := make([]float64, 3), make([]float64, 3)
		for range 3000 {
			for i := range g {
				g[i] = h[i] * (theta[i] - c[i])
			}
			o.Update(theta, g, lr[name])
		}
		for i := range theta {
			if math.Abs(theta[i]-c[i]) > 1e-3 {
				t.Errorf("%s: θ = %v after 3000 steps, want ≈ %v", name, theta, c)
				break
			}
		}
	}
}

func BenchmarkUpdate(b *testing.B) {
	const n = 100_000
	for _, name := range []string{SGD, Momentum, Nesterov, Adam, AdaGrad} {
		o, _ := New(Config{Name: name}, n)
		theta, g := make([]float64, n), make([]float64, n)
		for i := range g {
			g[i] = float64(i%7) - 3
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				o.Update(theta, g, 1e-3)
			}
		})
	}
}
