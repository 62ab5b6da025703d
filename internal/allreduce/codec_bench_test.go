package allreduce_test

import (
	"fmt"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/allreduce/allreducetest"
)

// BenchmarkPlanCodec encodes and decodes the revision-0 plan of a round of
// 1024 micro-shards over 2 to 64 workers.
func BenchmarkPlanCodec(b *testing.B) {
	for _, w := range []int{2, 16, 64} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			c, err := allreduce.NewCoordinator(testConfig())
			if err != nil {
				b.Fatal(err)
			}
			for i := range w {
				c.Join(allreducetest.WorkerName(i))
			}
			if err := c.Start(spec(1, 1024, 10)); err != nil {
				b.Fatal(err)
			}
			p := c.Outbox()[0]
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = p.AppendBinary(buf[:0]); err != nil {
					b.Fatal(err)
				}
				var d allreduce.Plan
				if err := d.UnmarshalBinary(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkParamsCodec encodes and decodes θ of the benchmark's models: a
// logistic (257), a 10-output linear (2,570) and an MNIST MLP(256)
// (203,530) parameter vector.
func BenchmarkParamsCodec(b *testing.B) {
	for _, n := range []int{257, 2570, 203_530} {
		b.Run(fmt.Sprintf("params=%d", n), func(b *testing.B) {
			p := allreduce.Params{Job: testJob, Version: 7, Theta: make([]float64, n)}
			for i := range p.Theta {
				p.Theta[i] = float64(i) / 7
			}
			var buf []byte
			var err error
			b.SetBytes(8 * int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = p.AppendBinary(buf[:0]); err != nil {
					b.Fatal(err)
				}
				var d allreduce.Params
				if err := d.UnmarshalBinary(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
