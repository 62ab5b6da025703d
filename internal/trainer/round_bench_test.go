package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
)

// benchDense is the benchmark workload's shape, 200,000 × 256 dense
// float32 N(0,1), with a binary, a 10-class and a 10-label target.
var benchDense = sync.OnceValue(func() *shard.Dataset {
	const n, d, k = 200_000, 256, 10
	rnd := rand.New(rand.NewPCG(20240601, 1))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rnd.NormFloat64())
	}
	y := make([]float32, n*k)
	for r := range n {
		y[r*k+rnd.IntN(k)] = 1
	}
	return &shard.Dataset{Name: "bench", X: shard.Matrix{Rows: n, Cols: d, Dense: x}, Task: shard.Multiclass, K: k, Y: y}
})

func benchTask(task string) (*shard.Dataset, JobSpec) {
	base := benchDense()
	d := *base
	spec := JobSpec{Job: "bench", Task: task, K: 10, Features: 256, Model: model.Config{Kind: model.KindLinear},
		Train: DataSource{Rows: d.Rows(), Shards: shard.DefaultMicroShards(d.Rows())}, Seed: 1}
	switch task {
	case "binary":
		d.Task, d.K, spec.K, spec.Loss = shard.Binary, 1, 1, "logistic"
		d.Y = make([]float32, d.Rows())
		for r := range d.Y {
			d.Y[r] = base.Y[r*10]
		}
	case "multiclass":
		spec.Loss = "softmax"
	case "multilabel":
		d.Task, spec.Loss = shard.Multilabel, "sigmoid"
	}
	return &d, spec
}

// BenchmarkWorkerBlock is one worker's compute for one gradient round of
// the benchmark workload with 2 workers: the blocks covering micro-shards
// [0, M/2), as computeBlock runs them (leaf contributions of Σ gradient,
// Σ loss and Σ weight, combined along the tree). "sgd" is one step of 1024
// rows per worker; each iteration is the next step (new rows, new θ).
func BenchmarkWorkerBlock(b *testing.B) {
	for _, task := range []string{"binary", "multiclass", "multilabel"} {
		d, spec := benchTask(task)
		for _, regime := range []string{"full", "sgd"} {
			spec := spec
			if regime == "sgd" {
				spec.BatchSize = 2048
			}
			prob, err := NewProblem(spec)
			if err != nil {
				b.Fatal(err)
			}
			set := wholeSet(d, spec.Train.Shards)
			M := spec.Train.Shards
			blocks := allreduce.Cover(allreduce.Range{Lo: 0, Hi: M / 2}, M)
			theta := make([]float64, prob.P)
			rnd := rand.New(rand.NewPCG(1, 2))
			for i := range theta {
				theta[i] = 0.01 * rnd.NormFloat64()
			}
			epoch := -1
			if regime == "sgd" {
				epoch = 0
			}
			rows := d.Rows() / 2
			if regime == "sgd" {
				rows = 1024
			}
			b.Run(fmt.Sprintf("%s/%s/veclen=%d", task, regime, prob.VecLen(allreduce.KindGrad)), func(b *testing.B) {
				m, _ := prob.NewModel()
				var sc scratch
				var step uint64
				for b.Loop() {
					// Each step its own rows and parameters, as in training.
					theta[0] += 1e-3
					for _, blk := range blocks {
						if _, err := computeBlock(context.Background(), prob, m, &sc, set, allreduce.KindGrad, epoch, step, theta, blk, nil, nil); err != nil {
							b.Fatal(err)
						}
					}
					step++
				}
				b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "examples/s")
			})
		}
	}
}
