package optim

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Optimizer names accepted by Config.Name.
const (
	SGD      = "sgd"
	Momentum = "momentum"
	Nesterov = "nesterov"
	Adam     = "adam"
	AdaGrad  = "adagrad"
)

// Config selects a mini-batch optimizer and its constants. Fields left zero
// take the values of DefaultConfig, so Config{Name: "adam"} is Adam with
// its usual constants; a consequence is that Beta1 = 0 cannot be asked for
// (use a tiny value instead). Fields that do not apply to Name are ignored.
type Config struct {
	// Name is one of "sgd", "momentum", "nesterov", "adam", "adagrad".
	Name string `json:"name"`
	// Momentum μ ∈ [0, 1) for "momentum" and "nesterov" (default 0.9).
	Momentum float64 `json:"momentum,omitempty"`
	// Beta1, Beta2 ∈ [0, 1) are Adam's decay rates for the first and
	// second moments (defaults 0.9 and 0.999).
	Beta1 float64 `json:"beta1,omitempty"`
	Beta2 float64 `json:"beta2,omitempty"`
	// Eps > 0 is added to Adam's √v̂ (default 1e-8).
	Eps float64 `json:"eps,omitempty"`
	// AdaGradEps > 0 is added to AdaGrad's √G (default 1e-10).
	AdaGradEps float64 `json:"adagrad_eps,omitempty"`
}

// DefaultConfig returns plain SGD and the default constants of the other
// optimizers.
func DefaultConfig() Config {
	return Config{Name: SGD, Momentum: 0.9, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, AdaGradEps: 1e-10}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	for _, p := range []struct{ v, d *float64 }{
		{&c.Momentum, &d.Momentum}, {&c.Beta1, &d.Beta1}, {&c.Beta2, &d.Beta2},
		{&c.Eps, &d.Eps}, {&c.AdaGradEps, &d.AdaGradEps},
	} {
		if *p.v == 0 {
			*p.v = *p.d
		}
	}
	return c
}

// ErrConfig is wrapped by the errors of Config.Validate, Schedule.Validate,
// LBFGSConfig.Validate and the constructors that call them.
var ErrConfig = errors.New("optim: invalid configuration")

// Validate reports whether c, after zero fields take their defaults, names a
// known optimizer with constants in range.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch c.Name {
	case SGD, Momentum, Nesterov, Adam, AdaGrad:
	default:
		return fmt.Errorf("%w: optimizer %q: expected sgd, momentum, nesterov, adam or adagrad", ErrConfig, c.Name)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"momentum", c.Momentum}, {"beta1", c.Beta1}, {"beta2", c.Beta2}} {
		if !(p.v >= 0 && p.v < 1) {
			return fmt.Errorf("%w: %s %v outside [0, 1)", ErrConfig, p.name, p.v)
		}
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"eps", c.Eps}, {"adagrad eps", c.AdaGradEps}} {
		if !(p.v > 0) || math.IsInf(p.v, 1) {
			return fmt.Errorf("%w: %s %v, want finite and > 0", ErrConfig, p.name, p.v)
		}
	}
	return nil
}

// Optimizer updates parameters from mini-batch gradients. Implementations
// are deterministic, allocate nothing in Update, and are not safe for
// concurrent use.
type Optimizer interface {
	// Update takes one step: θ ← θ − lr·(the optimizer's direction for
	// grad), in place. lr must be finite and ≥ 0 (see Schedule). It panics
	// unless theta and grad have the length the optimizer was built for.
	Update(theta, grad []float64, lr float64)
	// State returns a deep copy of the optimizer's state.
	State() State
	// Restore replaces the optimizer's state with a copy of s, which must
	// come from an optimizer of the same Name and size.
	Restore(s State) error
}

// State is an optimizer's state as plain, JSON-friendly data.
type State struct {
	// Name is the optimizer's Config.Name.
	Name string `json:"name"`
	// Step is the number of updates taken.
	Step int64 `json:"step"`
	// Slots are the per-parameter state vectors, each of the optimizer's
	// size: none for sgd; the velocity v for momentum and nesterov; the
	// moments m and v for adam; the sum of squares G for adagrad.
	Slots [][]float64 `json:"slots"`
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	c := State{Name: s.Name, Step: s.Step, Slots: make([][]float64, len(s.Slots))}
	for i, v := range s.Slots {
		c.Slots[i] = slices.Clone(v)
	}
	return c
}

// New returns the optimizer cfg names for n parameters, with zero state.
func New(cfg Config, n int) (Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: %d parameters", ErrConfig, n)
	}
	cfg = cfg.withDefaults()
	slots := 1 // momentum, nesterov, adagrad
	switch cfg.Name {
	case SGD:
		slots = 0
	case Adam:
		slots = 2
	}
	b := base{cfg: cfg, n: n, st: State{Name: cfg.Name, Slots: make([][]float64, slots)}}
	for i := range b.st.Slots {
		b.st.Slots[i] = make([]float64, n)
	}
	switch cfg.Name {
	case SGD:
		return &sgd{b}, nil
	case Momentum, Nesterov:
		return &momentum{b}, nil
	case Adam:
		return &adam{b}, nil
	default:
		return &adaGrad{b}, nil
	}
}

// ErrState is wrapped by the errors Restore returns for a state that does
// not fit the optimizer.
var ErrState = errors.New("optim: state does not fit optimizer")

// base holds what every optimizer shares: its configuration, size and state.
type base struct {
	cfg Config
	n   int
	st  State
}

func (b *base) State() State { return b.st.Clone() }

func (b *base) Restore(s State) error {
	if s.Name != b.st.Name {
		return fmt.Errorf("%w: state of %q, optimizer is %q", ErrState, s.Name, b.st.Name)
	}
	if s.Step < 0 {
		return fmt.Errorf("%w: step %d", ErrState, s.Step)
	}
	if len(s.Slots) != len(b.st.Slots) {
		return fmt.Errorf("%w: %d slots, %s has %d", ErrState, len(s.Slots), s.Name, len(b.st.Slots))
	}
	for i, v := range s.Slots {
		if len(v) != b.n {
			return fmt.Errorf("%w: slot %d has length %d, want %d", ErrState, i, len(v), b.n)
		}
		for j, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%w: slot %d[%d] is %v", ErrState, i, j, x)
			}
		}
	}
	for i, v := range s.Slots {
		copy(b.st.Slots[i], v)
	}
	b.st.Step = s.Step
	return nil
}

func (b *base) check(theta, grad []float64) {
	if len(theta) != b.n || len(grad) != b.n {
		panic(fmt.Sprintf("optim: %s update: lengths θ %d, grad %d, want %d", b.st.Name, len(theta), len(grad), b.n))
	}
}

// sgd is plain stochastic gradient descent:
//
//	θ ← θ − lr·g
type sgd struct{ base }

func (o *sgd) Update(theta, grad []float64, lr float64) {
	o.check(theta, grad)
	for i, g := range grad {
		theta[i] -= lr * g
	}
	o.st.Step++
}

// momentum is heavy-ball momentum, or Nesterov's accelerated gradient, in
// the form that keeps the velocity independent of the learning rate (so a
// schedule can change lr between steps):
//
//	v ← μ·v + g
//	θ ← θ − lr·v              (momentum)
//	θ ← θ − lr·(g + μ·v)      (nesterov)
type momentum struct{ base }

func (o *momentum) Update(theta, grad []float64, lr float64) {
	o.check(theta, grad)
	mu, v := o.cfg.Momentum, o.st.Slots[0]
	if o.cfg.Name == Nesterov {
		for i, g := range grad {
			v[i] = mu*v[i] + g
			theta[i] -= lr * (g + mu*v[i])
		}
	} else {
		for i, g := range grad {
			v[i] = mu*v[i] + g
			theta[i] -= lr * v[i]
		}
	}
	o.st.Step++
}

// adam is Adam (Kingma and Ba, 2015), with bias correction at step t ≥ 1:
//
//	m ← β1·m + (1 − β1)·g
//	v ← β2·v + (1 − β2)·g²
//	θ ← θ − lr·(m/(1 − β1^t)) / (√(v/(1 − β2^t)) + ε)
type adam struct{ base }

func (o *adam) Update(theta, grad []float64, lr float64) {
	o.check(theta, grad)
	o.st.Step++
	b1, b2, eps := o.cfg.Beta1, o.cfg.Beta2, o.cfg.Eps
	t := float64(o.st.Step)
	bc1, bc2 := 1-math.Pow(b1, t), 1-math.Pow(b2, t)
	m, v := o.st.Slots[0], o.st.Slots[1]
	for i, g := range grad {
		m[i] = b1*m[i] + (1-b1)*g
		v[i] = b2*v[i] + (1-b2)*(g*g)
		theta[i] -= lr * (m[i] / bc1) / (math.Sqrt(v[i]/bc2) + eps)
	}
}

// adaGrad is AdaGrad (Duchi, Hazan and Singer, 2011):
//
//	G ← G + g²
//	θ ← θ − lr·g / (√G + ε)
type adaGrad struct{ base }

func (o *adaGrad) Update(theta, grad []float64, lr float64) {
	o.check(theta, grad)
	eps, sum := o.cfg.AdaGradEps, o.st.Slots[0]
	for i, g := range grad {
		sum[i] += g * g
		theta[i] -= lr * g / (math.Sqrt(sum[i]) + eps)
	}
	o.st.Step++
}
