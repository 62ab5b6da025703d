package allreduce_test

import (
	"fmt"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/allreduce/allreducetest"
)

// BenchmarkCoordinatorStep is the coordinator's whole CPU work for one
// optimizer step as the trainer drives it, NATS aside: Start, encoding the
// plan, decoding every worker's contributions from their wire bytes,
// Deliver, a Tick, Result, and encoding the next parameters. Workers take
// 1 to 64, M the micro-shards of the benchmark workload (200,000 rows: 196)
// and the largest M (1024), vectors the length of a logistic (P+2+E ≈ 270)
// and a 10-class softmax (≈ 2,590) contribution. The per-step cost should
// grow sub-linearly in the number of workers: the reduction is over M
// leaves whatever the workers, only the number of blocks (≤ 2·log M per
// worker) and messages grows.
func BenchmarkCoordinatorStep(b *testing.B) {
	for _, veclen := range []int{270, 2590} {
		for _, m := range []int{196, 1024} {
			for _, w := range []int{1, 2, 4, 8, 16, 32, 64} {
				b.Run(fmt.Sprintf("veclen=%d/M=%d/workers=%d", veclen, m, w), func(b *testing.B) {
					benchStep(b, w, m, veclen)
				})
			}
		}
	}
}

func benchStep(b *testing.B, w, m, veclen int) {
	c, err := allreduce.NewCoordinator(testConfig())
	if err != nil {
		b.Fatal(err)
	}
	for i := range w {
		c.Join(allreducetest.WorkerName(i))
	}
	if err := c.Start(spec(1, m, veclen)); err != nil {
		b.Fatal(err)
	}
	plan := c.Outbox()[0]
	// The wire bytes of every contribution, re-stamped with the round
	// number untimed (a worker's work, not the coordinator's).
	type wire struct {
		msg  allreduce.Contribution
		data []byte
	}
	var msgs []wire
	for _, a := range plan.Assign {
		for _, r := range a.Ranges {
			v := make([]float64, veclen)
			for j := range v {
				v[j] = float64(r.Lo+j%7) * 0.5
			}
			msgs = append(msgs, wire{msg: allreduce.Contribution{Job: testJob, Worker: a.Worker, Range: r, Vec: v}})
		}
	}
	theta := allreduce.Params{Job: testJob, Theta: make([]float64, veclen)}
	var planBuf, paramsBuf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		round := uint64(i + 2)
		b.StopTimer()
		for k := range msgs {
			msgs[k].msg.Round = round
			if msgs[k].data, err = msgs[k].msg.AppendBinary(msgs[k].data[:0]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := c.Start(spec(round, m, veclen)); err != nil {
			b.Fatal(err)
		}
		for _, p := range c.Outbox() {
			if planBuf, err = p.AppendBinary(planBuf[:0]); err != nil {
				b.Fatal(err)
			}
		}
		for _, msg := range msgs {
			var d allreduce.Contribution
			if err := d.UnmarshalBinary(msg.data); err != nil {
				b.Fatal(err)
			}
			if err := c.Deliver(d); err != nil {
				b.Fatal(err)
			}
		}
		c.Tick()
		c.Events()
		if _, ok := c.Result(); !ok {
			b.Fatal("no result")
		}
		theta.Version = round
		if paramsBuf, err = theta.AppendBinary(paramsBuf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(msgs)), "contributions/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(w), "ns/worker")
}
