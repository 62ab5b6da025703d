package model

import (
	"fmt"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// Linear is the linear model z = Wᵀx + b, θ = [W (Inputs × Outputs,
// row-major) | b (Outputs)]. Its initial parameters are all zero (the loss
// is convex, so no symmetry needs breaking). It is not safe for concurrent
// use: it keeps per-row scratch buffers (see Clone).
//
// A pass reads each row once: forward, then dL/dz from the loss, then the
// backward update of the W rows of the row's features while the row is in
// cache. With one output the dense forward is a dot product (dotF32's fixed
// order) and the backward an axpy; with several outputs each feature j adds
// x_j·W_j to z and x_j·δ to ∂W_j, skipping zero features, so dense and CSR
// storage of the same data give the same bits.
type Linear struct {
	cfg  Config
	sp   []span
	z, t []float64 // logits and target of the current row
	g    []float64 // dL/dz, then δ = w·dL/dz
}

var _ Model = (*Linear)(nil)

func newLinear(c Config) *Linear {
	return &Linear{
		cfg: c,
		sp:  c.spans(),
		z:   make([]float64, c.Outputs),
		t:   make([]float64, c.Outputs),
		g:   make([]float64, c.Outputs),
	}
}

// NumParams returns (Inputs + 1)·Outputs.
func (m *Linear) NumParams() int { return m.cfg.NumParams() }

// Logits returns Outputs.
func (m *Linear) Logits() int { return m.cfg.Outputs }

// Clone returns a Linear model of the same configuration with its own
// scratch buffers.
func (m *Linear) Clone() Model { return newLinear(m.cfg) }

// Init sets θ to zero, whatever the seed. It panics if len(theta) !=
// NumParams().
func (m *Linear) Init(theta []float64, _ uint64) {
	if len(theta) != m.NumParams() {
		panic(fmt.Sprintf("model: θ has %d parameters, model has %d", len(theta), m.NumParams()))
	}
	clear(theta)
}

// Penalty returns ½‖W‖² and, if grad is non-nil, adds λ·W to its W part.
// The bias is not penalised. It panics on a length mismatch.
func (m *Linear) Penalty(grad, theta []float64, lambda float64) float64 {
	checkPass(m.cfg, grad, theta, shard.Rows{}, nil)
	return penalty(m.sp, grad, theta, lambda)
}

// Predict writes the logits of the i-th row of rows into z.
// It panics on a shape mismatch.
func (m *Linear) Predict(z, theta []float64, rows shard.Rows, i int) {
	checkPass(m.cfg, nil, theta, rows, nil)
	if len(z) != m.cfg.Outputs {
		panic(fmt.Sprintf("model: %d logits requested, model has %d", len(z), m.cfg.Outputs))
	}
	m.forward(z, theta, &rows.D.X, rows.Row(i))
}

// Accumulate implements Model. It panics on a shape mismatch (see
// checkPass).
func (m *Linear) Accumulate(grad, theta []float64, rows shard.Rows, f loss.Func, obs Observer) (lossSum, weightSum float64) {
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
			continue // contributes nothing, not even a NaN from 0·∞
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
		m.backward(grad, m.g, &d.X, r)
	}
	return lossSum, weightSum
}

// forward writes z = Wᵀx_r + b.
func (m *Linear) forward(z, theta []float64, x *shard.Matrix, r int) {
	sp := m.sp[0]
	W, b := sp.w(theta), sp.b(theta)
	K := sp.out
	if K == 1 {
		if x.Sparse() {
			idx, val := sparseRow(x, r)
			z[0] = b[0] + dotSparse(idx, val, W)
		} else {
			z[0] = b[0] + dotF32(denseRow(x, r), W)
		}
		return
	}
	copy(z, b)
	if x.Sparse() {
		idx, val := sparseRow(x, r)
		for k, j := range idx {
			if v := float64(val[k]); v != 0 {
				axpy(z, v, W[int(j)*K:int(j)*K+K])
			}
		}
		return
	}
	if K >= axpyShort {
		for j, v := range denseRow(x, r) {
			if v != 0 {
				axpy(z, float64(v), W[j*K:j*K+K])
			}
		}
		return
	}
	// Short rows of W: the axpy inlined (same operations, no call).
	z = z[:K]
	for j, v := range denseRow(x, r) {
		if v != 0 {
			a, wj := float64(v), W[j*K:j*K+K]
			for k, wk := range wj {
				z[k] += float64(a * wk)
			}
		}
	}
}

// backward adds x_r ⊗ δ to ∂W and δ to ∂b.
func (m *Linear) backward(grad, delta []float64, x *shard.Matrix, r int) {
	sp := m.sp[0]
	gW, gb := sp.w(grad), sp.b(grad)
	K := sp.out
	if K == 1 {
		gb[0] += delta[0]
		if x.Sparse() {
			idx, val := sparseRow(x, r)
			axpySparse(gW, delta[0], idx, val)
		} else {
			axpyF32(gW, delta[0], denseRow(x, r))
		}
		return
	}
	for k, d := range delta {
		gb[k] += d
	}
	if x.Sparse() {
		idx, val := sparseRow(x, r)
		for k, j := range idx {
			if v := float64(val[k]); v != 0 {
				axpy(gW[int(j)*K:int(j)*K+K], v, delta)
			}
		}
		return
	}
	if K >= axpyShort {
		for j, v := range denseRow(x, r) {
			if v != 0 {
				axpy(gW[j*K:j*K+K], float64(v), delta)
			}
		}
		return
	}
	delta = delta[:K]
	for j, v := range denseRow(x, r) {
		if v != 0 {
			a, gj := float64(v), gW[j*K:j*K+K]
			for k, d := range delta {
				gj[k] += float64(a * d)
			}
		}
	}
}
