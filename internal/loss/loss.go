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
