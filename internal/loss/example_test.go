package loss_test

import (
	"fmt"

	"github.com/dptrain/dptrain/internal/loss"
)

func ExampleNew() {
	kind, err := loss.ParseKind("softmax")
	if err != nil {
		panic(err)
	}
	f, err := loss.New(kind, 3, loss.Config{Smoothing: 0.3})
	if err != nil {
		panic(err)
	}
	z := []float64{2, 0, -1} // logits
	y := []float32{1, 0, 0}  // the row's one-hot label
	t := make([]float64, 3)  // target after smoothing
	g := make([]float64, 3)  // ∂L/∂z
	f.Target(t, y)
	l := f.Eval(g, z, t)
	fmt.Printf("t = %.2f\nL = %.4f\ng = %.4f\n", t, l, g)
	// Output:
	// t = [0.80 0.10 0.10]
	// L = 0.6698
	// g = [0.0438 0.0142 -0.0580]
}
