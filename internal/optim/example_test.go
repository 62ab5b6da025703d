package optim_test

import (
	"fmt"

	"github.com/dptrain/dptrain/internal/optim"
)

// Minimize drives an evaluation it does not own; here a quadratic stands in
// for a distributed round, and onIter would write the checkpoint.
func ExampleMinimize() {
	eval := func(x, grad []float64) (float64, error) {
		// f(x) = (x0 − 1)² + 10·(x1 + 2)²
		grad[0] = 2 * (x[0] - 1)
		grad[1] = 20 * (x[1] + 2)
		return (x[0]-1)*(x[0]-1) + 10*(x[1]+2)*(x[1]+2), nil
	}
	var checkpoints int
	res, err := optim.Minimize(eval, []float64{0, 0}, optim.DefaultLBFGSConfig(), nil,
		func(st *optim.LBFGSState) error { checkpoints++; return nil })
	if err != nil {
		panic(err)
	}
	fmt.Printf("%v: x = (%.6f, %.6f), checkpoints = iterations: %t\n", res.Status, res.X[0], res.X[1], checkpoints == res.Iter)
	// Output:
	// converged (gradient): x = (1.000000, -2.000000), checkpoints = iterations: true
}
