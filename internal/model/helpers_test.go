package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// lossKinds lists every loss with the task and target count it serves.
var lossKinds = []struct {
	kind loss.Kind
	task shard.Task
	k    int
}{
	{loss.KindLogistic, shard.Binary, 1},
	{loss.KindBinarySoftmax, shard.Binary, 1},
	{loss.KindSoftmax, shard.Multiclass, 3},
	{loss.KindSigmoid, shard.Multilabel, 3},
}

// mustLoss builds a loss or panics (test setup).
func mustLoss(kind loss.Kind, k int, cfg loss.Config) loss.Func {
	f, err := loss.New(kind, k, cfg)
	if err != nil {
		panic(err)
	}
	return f
}

// mustModel builds a model or panics (test setup).
func mustModel(c Config) Model {
	m, err := New(c)
	if err != nil {
		panic(err)
	}
	return m
}

// dataOpts describes a random test dataset.
type dataOpts struct {
	rows, cols int
	task       shard.Task
	k          int
	soft       bool    // soft targets instead of hard labels
	weights    bool    // random example weights (some zero)
	density    float64 // fraction of nonzero features
}

// randomData returns the same random dataset stored dense and as CSR. The
// CSR copy keeps a few explicit zeros, as LIBSVM files may.
func randomData(rnd *rand.Rand, o dataOpts) (dense, csr *shard.Dataset) {
	x := make([]float32, o.rows*o.cols)
	for i := range x {
		if rnd.Float64() < o.density {
			x[i] = float32(rnd.NormFloat64())
		}
	}
	y := make([]float32, o.rows*o.k)
	for r := range o.rows {
		row := y[r*o.k : (r+1)*o.k]
		switch {
		case o.task == shard.Multiclass && o.soft:
			s := float32(0)
			for i := range row {
				row[i] = rnd.Float32() + 0.01
				s += row[i]
			}
			for i := range row {
				row[i] /= s
			}
		case o.task == shard.Multiclass:
			row[rnd.IntN(o.k)] = 1
		case o.soft:
			for i := range row {
				row[i] = rnd.Float32()
			}
		default:
			for i := range row {
				row[i] = float32(rnd.IntN(2))
			}
		}
	}
	var w []float64
	if o.weights {
		w = make([]float64, o.rows)
		for i := range w {
			if rnd.IntN(5) > 0 {
				w[i] = 0.25 + 2*rnd.Float64()
			}
		}
	}
	indptr := make([]int64, o.rows+1)
	var indices []int32
	var values []float32
	for r := range o.rows {
		for j := range o.cols {
			v := x[r*o.cols+j]
			if v != 0 || rnd.IntN(10) == 0 {
				indices = append(indices, int32(j))
				values = append(values, v)
			}
		}
		indptr[r+1] = int64(len(indices))
	}
	base := shard.Dataset{Name: fmt.Sprintf("random %dx%d", o.rows, o.cols), Task: o.task, K: o.k, Y: y, Weights: w}
	dense, csr = new(shard.Dataset), new(shard.Dataset)
	*dense, *csr = base, base
	dense.X = shard.Matrix{Rows: o.rows, Cols: o.cols, Dense: x}
	csr.X = shard.Matrix{Rows: o.rows, Cols: o.cols, Indptr: indptr, Indices: indices, Values: values}
	return dense, csr
}

// randomTheta returns parameters for m: the model's own initialisation
// with every entry (biases included) perturbed, so that no gradient entry
// is structurally zero at the test point.
func randomTheta(rnd *rand.Rand, m Model, scale float64) []float64 {
	theta := make([]float64, m.NumParams())
	m.Init(theta, rnd.Uint64())
	for i := range theta {
		theta[i] += scale * rnd.NormFloat64()
	}
	return theta
}

// models lists the model configurations the tests sweep, for inputs and
// outputs.
func models(inputs, outputs int) []Config {
	return []Config{
		{Kind: KindLinear, Inputs: inputs, Outputs: outputs},
		{Kind: KindMLP, Inputs: inputs, Outputs: outputs, Hidden: []int{4}, Activation: ReLU},
		{Kind: KindMLP, Inputs: inputs, Outputs: outputs, Hidden: []int{4, 3}, Activation: Tanh},
		{Kind: KindMLP, Inputs: inputs, Outputs: outputs, Hidden: []int{5, 3}, Activation: ReLU},
	}
}

// name describes c in test messages.
func name(c Config) string {
	if c.Kind == KindLinear {
		return fmt.Sprintf("linear %d→%d", c.Inputs, c.Outputs)
	}
	return fmt.Sprintf("mlp %d→%v→%d %s", c.Inputs, c.Hidden, c.Outputs, c.activation())
}
