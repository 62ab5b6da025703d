package model

import (
	"math/rand/v2"
	"testing"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// BenchmarkLinearSGDStep is one worker's share of a mini-batch step of the
// benchmark workload: 98 micro-shards (200,000 rows in 196, 2 workers) of
// 10 or 11 random rows each (1024 rows), one pass per micro-shard into a
// cleared gradient, as the trainer runs its leaves. It measures what a pass
// costs beyond its rows (per-pass set-up such as the transposed copies).
func BenchmarkLinearSGDStep(b *testing.B) {
	base := benchDense()
	const leaves, rowsPerStep, shardRows = 98, 1024, 1020
	rnd := rand.New(rand.NewPCG(5, 6))
	idx := make([][]int32, leaves)
	for s := range idx {
		n := rowsPerStep*(s+1)/leaves - rowsPerStep*s/leaves
		for range n {
			idx[s] = append(idx[s], int32(s*shardRows+rnd.IntN(shardRows)))
		}
	}
	for _, c := range benchCases(base) {
		b.Run(c.name, func(b *testing.B) {
			f := mustLoss(c.kind, c.k, loss.Config{})
			d := c.data()
			m := mustModel(Config{Kind: KindLinear, Inputs: d.X.Cols, Outputs: f.Logits()})
			theta := make([]float64, m.NumParams())
			for i := range theta {
				theta[i] = 0.01 * rnd.NormFloat64()
			}
			grad := make([]float64, m.NumParams())
			b.SetBytes(rowsPerStep * int64(d.X.Cols) * 4)
			b.ReportAllocs()
			for b.Loop() {
				for _, ix := range idx {
					clear(grad)
					m.Accumulate(grad, theta, shard.Rows{D: d, Index: ix}, f, nil)
				}
			}
			b.ReportMetric(float64(b.N)*rowsPerStep/b.Elapsed().Seconds(), "examples/s")
		})
	}
}
