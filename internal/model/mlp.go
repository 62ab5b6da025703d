package model

import (
	"fmt"
	"math"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// MLP is a multi-layer perceptron: affine layers with a ReLU or tanh
// activation after every layer but the last, whose outputs are the logits.
// The parameter layout is the package's (see the package doc).
//
// Init draws every weight matrix uniformly from [−a, a] and sets biases to
// zero: a = √(6/In) (He uniform) for the hidden layers of a ReLU network,
// a = √(6/(In+Out)) (Glorot uniform) for those of a tanh network and for the
// output layer of both. Draws come from a SplitMix64 stream seeded with the
// seed, layer by layer in row-major order, so θ is a function of the seed
// alone and never changes with the Go version.
//
// The first layer gathers the row's nonzero features (dense or CSR alike,
// so both storages give the same bits) and adds x_j·W_0[j] for each;
// later layers skip zero activations the same way. An MLP is not safe for
// concurrent use: it keeps per-row scratch buffers (see Clone).
type MLP struct {
	cfg   Config
	sp    []span
	tanh  bool
	a, h  [][]float64 // hidden layer l: pre-activation a_l and h_l = act(a_l)
	delta [][]float64 // δ_l, len Out_l; δ_{L-1} aliases g
	z, t  []float64   // logits and target of the current row
	g     []float64   // dL/dz, then δ_{L-1} = w·dL/dz
	idx   []int32     // nonzero features of the current row
	val   []float64   // and their values
}

var _ Model = (*MLP)(nil)

func newMLP(c Config) *MLP {
	sp := c.spans()
	L := len(sp)
	m := &MLP{
		cfg:   c,
		sp:    sp,
		tanh:  c.activation() == Tanh,
		a:     make([][]float64, L-1),
		h:     make([][]float64, L-1),
		delta: make([][]float64, L),
		z:     make([]float64, c.Outputs),
		t:     make([]float64, c.Outputs),
		g:     make([]float64, c.Outputs),
		idx:   make([]int32, 0, c.Inputs),
		val:   make([]float64, 0, c.Inputs),
	}
	for l := range L - 1 {
		m.a[l] = make([]float64, sp[l].out)
		m.h[l] = make([]float64, sp[l].out)
		m.delta[l] = make([]float64, sp[l].out)
	}
	m.delta[L-1] = m.g
	return m
}

// NumParams returns Σ_l (In_l + 1)·Out_l.
func (m *MLP) NumParams() int { return m.cfg.NumParams() }

// Logits returns Outputs.
func (m *MLP) Logits() int { return m.cfg.Outputs }

// Clone returns an MLP of the same configuration with its own scratch
// buffers.
func (m *MLP) Clone() Model { return newMLP(m.cfg) }

// Init writes the initial parameters for seed (see MLP). It panics if
// len(theta) != NumParams().
func (m *MLP) Init(theta []float64, seed uint64) {
	checkPass(m.cfg, nil, theta, shard.Rows{}, nil)
	g := newSplitMix64(seed)
	last := len(m.sp) - 1
	for l, sp := range m.sp {
		var a float64
		if l < last && !m.tanh {
			a = math.Sqrt(6 / float64(sp.in))
		} else {
			a = math.Sqrt(6 / float64(sp.in+sp.out))
		}
		for j := range sp.w(theta) {
			theta[sp.off+j] = a * (2*g.float64() - 1)
		}
		clear(sp.b(theta))
	}
}

// Penalty returns ½ Σ_l ‖W_l‖² and, if grad is non-nil, adds λ·W_l to its
// weight parts. Biases are not penalised. It panics on a length mismatch.
func (m *MLP) Penalty(grad, theta []float64, lambda float64) float64 {
	checkPass(m.cfg, grad, theta, shard.Rows{}, nil)
	return penalty(m.sp, grad, theta, lambda)
}

// Predict writes the logits of the i-th row of rows into z.
// It panics on a shape mismatch.
func (m *MLP) Predict(z, theta []float64, rows shard.Rows, i int) {
	checkPass(m.cfg, nil, theta, rows, nil)
	if len(z) != m.cfg.Outputs {
		panic(fmt.Sprintf("model: %d logits requested, model has %d", len(z), m.cfg.Outputs))
	}
	m.forward(z, theta, &rows.D.X, rows.Row(i))
}

// Accumulate implements Model. It panics on a shape mismatch (see
// checkPass).
func (m *MLP) Accumulate(grad, theta []float64, rows shard.Rows, f loss.Func, obs Observer) (lossSum, weightSum float64) {
	checkPass(m.cfg, grad, theta, rows, f)
	n := rows.Len()
	if n == 0 {
		return 0, 0
	}
	d := rows.D
	ro, _ := obs.(RowObserver)
	for i := range n {
		r := rows.Row(i)
		y, w := targets(d, r), weight(d, r)
		f.Target(m.t, y)
		m.forward(m.z, theta, &d.X, r)
		l := f.Eval(m.g, m.z, m.t)
		observe(obs, ro, m.z, m.t, y, w)
		if w == 0 {
			continue
		}
		lossSum += w * l
		weightSum += w
		if grad == nil {
			continue
		}
		if w != 1 {
			for k := range m.g {
				m.g[k] *= w
			}
		}
		m.backward(grad, theta)
	}
	return lossSum, weightSum
}

// gather collects row r's nonzero features into m.idx and m.val.
func (m *MLP) gather(x *shard.Matrix, r int) {
	m.idx, m.val = m.idx[:0], m.val[:0]
	if x.Sparse() {
		idx, val := sparseRow(x, r)
		for k, j := range idx {
			if v := val[k]; v != 0 {
				m.idx = append(m.idx, j)
				m.val = append(m.val, float64(v))
			}
		}
		return
	}
	for j, v := range denseRow(x, r) {
		if v != 0 {
			m.idx = append(m.idx, int32(j))
			m.val = append(m.val, float64(v))
		}
	}
}

// forward computes every layer for row r, writing the logits into z.
func (m *MLP) forward(z, theta []float64, x *shard.Matrix, r int) {
	m.gather(x, r)
	last := len(m.sp) - 1
	for l, sp := range m.sp {
		out := z
		if l < last {
			out = m.a[l]
		}
		W, K := sp.w(theta), sp.out
		copy(out, sp.b(theta))
		if l == 0 {
			for k, j := range m.idx {
				axpy(out, m.val[k], W[int(j)*K:int(j)*K+K])
			}
		} else {
			for j, v := range m.h[l-1] {
				if v != 0 {
					axpy(out, v, W[j*K:j*K+K])
				}
			}
		}
		if l < last {
			m.activate(m.h[l], out)
		}
	}
}

// activate writes h = act(a). ReLU passes NaN through.
func (m *MLP) activate(h, a []float64) {
	h = h[:len(a)]
	if m.tanh {
		for i, v := range a {
			h[i] = math.Tanh(v)
		}
		return
	}
	for i, v := range a {
		if v <= 0 {
			h[i] = 0
		} else {
			h[i] = v
		}
	}
}

// backward adds w·∂L/∂θ for the current row to grad, from δ_{L-1} = m.g and
// the activations of the last forward.
func (m *MLP) backward(grad, theta []float64) {
	for l := len(m.sp) - 1; l >= 0; l-- {
		sp := m.sp[l]
		delta := m.delta[l]
		gW, gb, K := sp.w(grad), sp.b(grad), sp.out
		for k, d := range delta {
			gb[k] += d
		}
		if l == 0 {
			for k, j := range m.idx {
				axpy(gW[int(j)*K:int(j)*K+K], m.val[k], delta)
			}
			return
		}
		W := sp.w(theta)
		in, a, prev := m.h[l-1], m.a[l-1], m.delta[l-1]
		for j, v := range in {
			if v != 0 {
				axpy(gW[j*K:j*K+K], v, delta)
			}
		}
		// δ_{l-1} = (W_l·δ_l) ⊙ act'(a_{l-1}).
		for j := range prev {
			switch {
			case m.tanh:
				prev[j] = dot(W[j*K:j*K+K], delta) * (1 - in[j]*in[j])
			case a[j] > 0:
				prev[j] = dot(W[j*K:j*K+K], delta)
			default:
				prev[j] = 0
			}
		}
	}
}
