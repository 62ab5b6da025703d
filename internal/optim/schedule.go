package optim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Schedule kinds accepted by Schedule.Kind.
const (
	ScheduleConstant = "constant"
	ScheduleStep     = "step"
	ScheduleCosine   = "cosine"
)

// Schedule gives the learning rate of step t (0-based). After Warmup steps
// of linear warm-up, with τ = t − Warmup:
//
//	warm-up (t < Warmup): lr = Base·(t + 1)/Warmup
//	constant:             lr = Base
//	step:                 lr = max(Min, Base·Gamma^⌊τ/StepEvery⌋)
//	cosine:               lr = Min + (Base − Min)·(1 + cos(π·τ/T))/2 for τ < T,
//	                      lr = Min for τ ≥ T,  T = Total − Warmup
//
// LR is a pure function of t, so a resumed run needs only the step number.
type Schedule struct {
	// Kind is "constant" (also when empty), "step" or "cosine".
	Kind string `json:"kind,omitempty"`
	// Base > 0 is the peak learning rate.
	Base float64 `json:"base"`
	// StepEvery ≥ 1 is the period of the step schedule, in steps.
	StepEvery int `json:"step_every,omitempty"`
	// Gamma ∈ (0, 1] is the step schedule's factor.
	Gamma float64 `json:"gamma,omitempty"`
	// Total > Warmup is the length of the cosine schedule, warm-up
	// included, in steps.
	Total int `json:"total,omitempty"`
	// Warmup ≥ 0 is the number of warm-up steps.
	Warmup int `json:"warmup,omitempty"`
	// Min ∈ [0, Base] is the floor of the step and cosine schedules.
	Min float64 `json:"min,omitempty"`
}

// Validate reports whether s is a usable schedule.
func (s Schedule) Validate() error {
	if !(s.Base > 0) || math.IsInf(s.Base, 1) {
		return fmt.Errorf("%w: schedule base learning rate %v, want finite and > 0", ErrConfig, s.Base)
	}
	if s.Warmup < 0 {
		return fmt.Errorf("%w: schedule warmup %d < 0", ErrConfig, s.Warmup)
	}
	if !(s.Min >= 0 && s.Min <= s.Base) {
		return fmt.Errorf("%w: schedule min %v outside [0, base %v]", ErrConfig, s.Min, s.Base)
	}
	switch s.Kind {
	case "", ScheduleConstant:
	case ScheduleStep:
		if s.StepEvery < 1 {
			return fmt.Errorf("%w: step schedule every %d steps, want ≥ 1", ErrConfig, s.StepEvery)
		}
		if !(s.Gamma > 0 && s.Gamma <= 1) {
			return fmt.Errorf("%w: step schedule gamma %v outside (0, 1]", ErrConfig, s.Gamma)
		}
	case ScheduleCosine:
		if s.Total <= s.Warmup {
			return fmt.Errorf("%w: cosine schedule total %d, want > warmup %d", ErrConfig, s.Total, s.Warmup)
		}
	default:
		return fmt.Errorf("%w: schedule %q: expected constant, step or cosine", ErrConfig, s.Kind)
	}
	return nil
}

// LR returns the learning rate of step t ≥ 0 (t < 0 is treated as 0). s
// must be valid.
func (s Schedule) LR(t int) float64 {
	t = max(t, 0)
	if t < s.Warmup {
		return s.Base * float64(t+1) / float64(s.Warmup)
	}
	tau := t - s.Warmup
	switch s.Kind {
	case ScheduleStep:
		return math.Max(s.Min, s.Base*math.Pow(s.Gamma, float64(tau/s.StepEvery)))
	case ScheduleCosine:
		T := s.Total - s.Warmup
		if tau >= T {
			return s.Min
		}
		return s.Min + (s.Base-s.Min)*(1+math.Cos(math.Pi*float64(tau)/float64(T)))/2
	default:
		return s.Base
	}
}

// ParseSchedule reads a schedule from a command-line spec and a base
// learning rate. The spec is a kind, optionally followed by a colon and
// comma-separated key=value settings:
//
//	constant
//	constant:warmup=100
//	step:every=1000,gamma=0.5,min=1e-5,warmup=100
//	cosine:total=10000,min=0,warmup=100
//
// The result is validated.
func ParseSchedule(spec string, base float64) (Schedule, error) {
	kind, params, _ := strings.Cut(spec, ":")
	s := Schedule{Kind: kind, Base: base}
	if params != "" {
		for kv := range strings.SplitSeq(params, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return Schedule{}, fmt.Errorf("%w: schedule %q: setting %q is not key=value", ErrConfig, spec, kv)
			}
			var err error
			switch k {
			case "every":
				s.StepEvery, err = strconv.Atoi(v)
			case "gamma":
				s.Gamma, err = strconv.ParseFloat(v, 64)
			case "total":
				s.Total, err = strconv.Atoi(v)
			case "warmup":
				s.Warmup, err = strconv.Atoi(v)
			case "min":
				s.Min, err = strconv.ParseFloat(v, 64)
			default:
				return Schedule{}, fmt.Errorf("%w: schedule %q: unknown setting %q", ErrConfig, spec, k)
			}
			if err != nil {
				return Schedule{}, fmt.Errorf("%w: schedule %q: %s: %w", ErrConfig, spec, k, err)
			}
		}
	}
	if err := s.Validate(); err != nil {
		return Schedule{}, err
	}
	return s, nil
}
