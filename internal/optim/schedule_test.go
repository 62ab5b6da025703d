package optim

import (
	"math"
	"testing"
)

func TestScheduleLR(t *testing.T) {
	const tol = 1e-15
	for _, tc := range []struct {
		s    Schedule
		t    []int
		want []float64
	}{
		{Schedule{Base: 0.1}, []int{0, 1, 1000}, []float64{0.1, 0.1, 0.1}},
		{Schedule{Kind: ScheduleConstant, Base: 0.1, Warmup: 4}, []int{-1, 0, 1, 3, 4, 100}, []float64{0.025, 0.025, 0.05, 0.1, 0.1, 0.1}},
		{Schedule{Kind: ScheduleStep, Base: 1, StepEvery: 10, Gamma: 0.5}, []int{0, 9, 10, 19, 20, 35}, []float64{1, 1, 0.5, 0.5, 0.25, 0.125}},
		{Schedule{Kind: ScheduleStep, Base: 1, StepEvery: 10, Gamma: 0.5, Min: 0.2}, []int{30, 1000}, []float64{0.2, 0.2}},
		// Warm-up shifts the step schedule: τ = t − 2.
		{Schedule{Kind: ScheduleStep, Base: 1, StepEvery: 10, Gamma: 0.5, Warmup: 2}, []int{0, 1, 2, 11, 12}, []float64{0.5, 1, 1, 1, 0.5}},
		// Cosine over T = 10: half-way is the mean of Base and Min.
		{Schedule{Kind: ScheduleCosine, Base: 1, Total: 10, Min: 0.1}, []int{0, 5, 10, 11}, []float64{1, 0.55, 0.1, 0.1}},
		{Schedule{Kind: ScheduleCosine, Base: 2, Total: 12, Warmup: 2}, []int{0, 1, 2, 7, 12}, []float64{1, 2, 2, 1, 0}},
	} {
		if err := tc.s.Validate(); err != nil {
			t.Fatalf("%+v: %v", tc.s, err)
		}
		for i, step := range tc.t {
			if got := tc.s.LR(step); math.Abs(got-tc.want[i]) > tol {
				t.Errorf("%+v.LR(%d) = %.17g, want %g", tc.s, step, got, tc.want[i])
			}
		}
	}
}

func TestScheduleMonotoneAfterWarmup(t *testing.T) {
	for _, s := range []Schedule{
		{Kind: ScheduleStep, Base: 0.3, StepEvery: 7, Gamma: 0.9, Warmup: 5, Min: 1e-3},
		{Kind: ScheduleCosine, Base: 0.3, Total: 500, Warmup: 50, Min: 1e-3},
	} {
		prev := math.Inf(1)
		for step := s.Warmup; step < 600; step++ {
			lr := s.LR(step)
			if lr > prev || lr < s.Min || lr > s.Base {
				t.Fatalf("%+v: LR(%d) = %v after %v", s, step, lr, prev)
			}
			prev = lr
		}
	}
}

func TestParseSchedule(t *testing.T) {
	s, err := ParseSchedule("cosine:total=1000,warmup=10,min=1e-5", 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Schedule{Kind: ScheduleCosine, Base: 0.1, Total: 1000, Warmup: 10, Min: 1e-5}); s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	s, err = ParseSchedule("step:every=100,gamma=0.5", 1)
	if err != nil || s.StepEvery != 100 || s.Gamma != 0.5 {
		t.Errorf("step spec: %+v, %v", s, err)
	}
	for _, bad := range []string{"linear", "step", "step:every=0,gamma=0.5", "cosine:total=5,warmup=5", "cosine:total", "cosine:total=x", "constant:foo=1", "constant:min=2"} {
		if _, err := ParseSchedule(bad, 1); err == nil {
			t.Errorf("ParseSchedule(%q) succeeded", bad)
		}
	}
	if _, err := ParseSchedule("constant", 0); err == nil {
		t.Error("base 0 accepted")
	}
}
