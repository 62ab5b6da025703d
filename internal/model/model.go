// Package model holds the trainer's models: linear and a multi-layer
// perceptron. Parameters live in one flat []float64 vector θ so they can be
// sent, hashed and checkpointed as one thing; the layers are views into it.
//
// # Parameter layout
//
// A model is a stack of affine layers l = 0..L-1, layer l mapping In_l
// inputs to Out_l outputs. θ holds the layers in order, each as
//
//	[ W_l (In_l × Out_l, row-major) | b_l (Out_l) ]
//
// so row j of W_l is the Out_l weights leaving input j: a sparse input row
// touches only the rows of W_0 of its nonzero features. The linear model is
// the one-layer case, θ = [W (Inputs × Outputs) | b (Outputs)]; an MLP with
// hidden sizes H_1..H_{L-1} has In_0 = Inputs, Out_l = In_{l+1} = H_{l+1} and
// Out_{L-1} = Outputs. [Config.Layers] returns the views.
//
// # Forward and backward
//
// With h_{-1} = x, a_l = W_lᵀ·h_{l-1} + b_l, h_l = act(a_l) for the hidden
// layers and logits z = a_{L-1}. For a row with loss L(z, t), example weight
// w and dL/dz = g (for every loss here g = ŷ − t, with class weights folded
// in by the loss), backpropagation gives, with δ_{L-1} = w·g,
//
//	∂(wL)/∂b_l = δ_l
//	∂(wL)/∂W_l = h_{l-1} ⊗ δ_l                  (outer product)
//	δ_{l-1}    = (W_l·δ_l) ⊙ act'(a_{l-1})
//
// # Determinism and concurrency
//
// A pass visits rows in the order of the view and accumulates in float64 from
// the float32 storage along a fixed order of operations, so its result is a
// pure function of (θ, rows) on one GOARCH. Models keep scratch buffers: a
// Model is not safe for concurrent use; give each goroutine its own
// [Model.Clone].
package model

import (
	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// Observer receives, for each row a pass visits, the logits z, the loss's
// target t and the example weight w. Evaluation sums implement it.
type Observer interface {
	Observe(z, t []float64, w float64)
}

// RowObserver is an Observer that also wants the row's raw targets y (len K
// of the dataset, before label smoothing or normalisation by the loss).
// When the Observer given to a pass implements it, ObserveRow is called
// instead of Observe.
type RowObserver interface {
	Observer
	ObserveRow(z, t []float64, y []float32, w float64)
}

// GradOrder is implemented by models whose pass can write the gradient
// cheaper in an order of its entries of their own than in θ's. Gradients
// in that order add element-wise like any others, so a sum of many of them
// (a tree of micro-shard contributions) is put back in θ's order once,
// with Unpermute: the same bits as summing gradients in θ's order.
type GradOrder interface {
	// Permutes reports whether AccumulatePermuted's order differs from
	// θ's for rows of d; when it does not, AccumulatePermuted is
	// Accumulate.
	Permutes(d *shard.Dataset) bool
	// AccumulatePermuted is Accumulate with grad in the model's order.
	AccumulatePermuted(grad, theta []float64, rows shard.Rows, f loss.Func, obs Observer) (lossSum, weightSum float64)
	// Unpermute puts g (len NumParams()), a gradient or a sum of gradients
	// of rows for which Permutes holds, from the model's order into θ's,
	// through scratch (len NumParams()).
	Unpermute(g, scratch []float64)
}

// Model maps a row of features to logits.
type Model interface {
	// NumParams is len(θ).
	NumParams() int
	// Logits is the number of outputs.
	Logits() int
	// Init writes the initial parameters; a function of seed alone.
	Init(theta []float64, seed uint64)
	// Accumulate adds Σ_i w_i·∂L_i/∂θ over the rows to grad (len NumParams())
	// and returns Σ_i w_i·L_i and Σ_i w_i, visiting the rows in order. When
	// grad is nil only the loss is computed. When obs is non-nil it sees
	// every row's logits. It allocates nothing per row.
	Accumulate(grad, theta []float64, rows shard.Rows, f loss.Func, obs Observer) (lossSum, weightSum float64)
	// Penalty returns ½‖W‖² over the penalised parameters (weights, not
	// biases) and, if grad is non-nil, adds lambda·W to it.
	Penalty(grad, theta []float64, lambda float64) float64
	// Predict writes into z (len Logits()) the logits of the i-th row of
	// rows.
	Predict(z, theta []float64, rows shard.Rows, i int)
	// Clone returns a model of the same configuration with its own scratch
	// buffers, for use on another goroutine.
	Clone() Model
}
