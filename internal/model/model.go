// Package model holds the trainer's models: linear and a multi-layer
// perceptron. Parameters live in one flat []float64 vector θ so they can be
// sent, hashed and checkpointed as one thing; the layers are views into it.
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
}
