package loss

// Func is a loss over one example's logits. Implementations are stateless
// after construction and safe for concurrent use.
type Func interface {
	// Logits is the number of logits the loss takes (1 for Logistic, 2 for
	// BinarySoftmax, K for Softmax and Sigmoid).
	Logits() int
	// Target writes the loss's target vector (len Logits()) for a data row
	// whose target columns are y (len K of the dataset), with label
	// smoothing applied.
	Target(dst []float64, y []float32)
	// Eval returns the loss L(z, t) for logits z and target t (both len
	// Logits()) and writes dL/dz into g. Class weights, when configured, are
	// folded into both. It panics if the lengths differ.
	Eval(g, z, t []float64) float64
	// Prob writes ŷ, the model's estimate, for logits z.
	Prob(yhat, z []float64)
}

// Rows is implemented by the losses that evaluate a block of rows in one
// call, with the bits of Eval row by row: Logistic and Sigmoid, whose
// logits are independent and go through the vectorised log loss, and
// Softmax, which saves the per-row calls.
type Rows interface {
	Func
	// EvalRows sets l[i] to the loss of row i < len(l), whose logits and
	// target are z[i·n:(i+1)·n] and t[i·n:(i+1)·n] with n = Logits(), and
	// writes its gradient into g[i·n:(i+1)·n]: the values Eval returns and
	// writes for that row. It panics unless z, t and g have len(l)·n
	// entries.
	EvalRows(l, g, z, t []float64)
	// TargetRows writes the targets of len(dst)/n rows, Target of
	// y[i·n:(i+1)·n] into dst[i·n:(i+1)·n]: these losses take one target
	// column per logit. It panics unless len(y) = len(dst) is a multiple
	// of n.
	TargetRows(dst []float64, y []float32)
}
