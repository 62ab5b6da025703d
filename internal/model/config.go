package model

import (
	"errors"
	"fmt"
)

// Model kinds and activations accepted by [Config].
const (
	KindLinear = "linear"
	KindMLP    = "mlp"

	ReLU = "relu"
	Tanh = "tanh"
)

// MaxParams bounds NumParams: 2³¹ float64 parameters are 16 GiB per copy
// of θ, beyond what a worker can hold with its gradient and optimiser state.
const MaxParams = 1 << 31

// Config describes a model.
type Config struct {
	// Kind is "linear" or "mlp".
	Kind string
	// Inputs is the number of features, Outputs the number of logits (the
	// loss's Logits()).
	Inputs, Outputs int
	// Hidden lists the hidden layer widths of an MLP, input side first; it
	// must be empty for a linear model.
	Hidden []int
	// Activation is the hidden activation of an MLP, "relu" (the default
	// when empty) or "tanh". A linear model has none; the field is then
	// ignored but must still be empty or a valid name.
	Activation string
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("model: invalid configuration")

// Validate reports whether c describes a model New can build.
func (c Config) Validate() error {
	switch c.Activation {
	case "", ReLU, Tanh:
	default:
		return fmt.Errorf("%w: activation %q (want %q or %q)", ErrConfig, c.Activation, ReLU, Tanh)
	}
	if c.Inputs < 1 || c.Outputs < 1 {
		return fmt.Errorf("%w: %d inputs and %d outputs (want ≥ 1 each)", ErrConfig, c.Inputs, c.Outputs)
	}
	switch c.Kind {
	case KindLinear:
		if len(c.Hidden) != 0 {
			return fmt.Errorf("%w: a linear model has no hidden layers (got %v)", ErrConfig, c.Hidden)
		}
	case KindMLP:
		if len(c.Hidden) == 0 {
			return fmt.Errorf("%w: an mlp needs at least one hidden layer", ErrConfig)
		}
		for i, h := range c.Hidden {
			if h < 1 {
				return fmt.Errorf("%w: hidden layer %d has width %d (want ≥ 1)", ErrConfig, i, h)
			}
		}
	default:
		return fmt.Errorf("%w: kind %q (want %q or %q)", ErrConfig, c.Kind, KindLinear, KindMLP)
	}
	// Count in float64 first: the product of widths may overflow int.
	n, in := 0.0, float64(c.Inputs)
	for _, out := range c.widths() {
		n += (in + 1) * float64(out)
		in = float64(out)
	}
	if n > MaxParams {
		return fmt.Errorf("%w: %.0f parameters (limit %d)", ErrConfig, n, MaxParams)
	}
	return nil
}

// widths returns Out_l for every layer: the hidden widths, then Outputs.
func (c Config) widths() []int {
	return append(append(make([]int, 0, len(c.Hidden)+1), c.Hidden...), c.Outputs)
}

// activation returns the MLP's activation with the default applied.
func (c Config) activation() string {
	if c.Activation == "" {
		return ReLU
	}
	return c.Activation
}

// NumParams returns len(θ) for a valid c: Σ_l (In_l + 1)·Out_l.
func (c Config) NumParams() int {
	n, in := 0, c.Inputs
	for _, out := range c.widths() {
		n += (in + 1) * out
		in = out
	}
	return n
}

// Layer is one affine layer's view into θ: W is In × Out row-major (row j
// holds the Out weights leaving input j) and B has Out entries.
type Layer struct {
	W, B    []float64
	In, Out int
}

// Layers returns the views of θ's layers, input side first. It panics if
// len(theta) != c.NumParams() (programmer error).
func (c Config) Layers(theta []float64) []Layer {
	if len(theta) != c.NumParams() {
		panic(fmt.Sprintf("model: θ has %d parameters, config needs %d", len(theta), c.NumParams()))
	}
	sp := c.spans()
	out := make([]Layer, len(sp))
	for l, s := range sp {
		out[l] = Layer{W: s.w(theta), B: s.b(theta), In: s.in, Out: s.out}
	}
	return out
}

// span locates one layer in θ: W = θ[off : off+in·out], b the next out.
type span struct{ off, in, out int }

func (s span) w(theta []float64) []float64 {
	e := s.off + s.in*s.out
	return theta[s.off:e:e]
}

func (s span) b(theta []float64) []float64 {
	o := s.off + s.in*s.out
	return theta[o : o+s.out : o+s.out]
}

// spans returns the layers' positions in θ, input side first.
func (c Config) spans() []span {
	ws := c.widths()
	out := make([]span, len(ws))
	off, in := 0, c.Inputs
	for l, o := range ws {
		out[l] = span{off: off, in: in, out: o}
		off += (in + 1) * o
		in = o
	}
	return out
}

// New returns the model c describes, or an error wrapping ErrConfig.
func New(c Config) (Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.Hidden = append([]int(nil), c.Hidden...) // own the slice
	if c.Kind == KindLinear {
		return newLinear(c), nil
	}
	return newMLP(c), nil
}
