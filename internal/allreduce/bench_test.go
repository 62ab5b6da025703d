package allreduce_test

import (
	"fmt"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
)

// benchRound runs rounds of M micro-shards over w workers, each worker
// delivering its blocks of veclen floats; timed is Start, every Deliver,
// a Tick, Outbox, Events and Result. Vectors are refilled untimed (Deliver
// adds into them in place).
func benchRound(b *testing.B, w, m, veclen int) {
	c, plan := startBench(b, testConfig(), w, m, veclen)
	var msgs []allreduce.Contribution
	var tmpl [][]float64
	for _, a := range plan.Assign {
		for _, r := range a.Ranges {
			msgs = append(msgs, allreduce.Contribution{Job: testJob, Worker: a.Worker, Range: r, Vec: make([]float64, veclen)})
			tmpl = append(tmpl, benchVec(r, veclen))
		}
	}
	b.SetBytes(int64(8 * veclen * len(msgs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for k := range msgs {
			copy(msgs[k].Vec, tmpl[k])
			msgs[k].Round = uint64(i + 2)
		}
		b.StartTimer()
		if err := c.Start(spec(uint64(i+2), m, veclen)); err != nil {
			b.Fatal(err)
		}
		for _, msg := range msgs {
			if err := c.Deliver(msg); err != nil {
				b.Fatal(err)
			}
		}
		c.Tick()
		c.Outbox()
		c.Events()
		if _, ok := c.Result(); !ok {
			b.Fatal("no result")
		}
	}
	b.ReportMetric(float64(len(msgs)), "contributions/op")
}

// BenchmarkDeliverResult: M = 1024 micro-shards, vectors of 10⁶ floats, the
// round delivered as the blocks of 16 or 64 workers; and as 1024 leaves of
// 10⁴ floats (10⁶-float leaves would need 8 GB of input).
func BenchmarkDeliverResult(b *testing.B) {
	for _, tc := range []struct{ workers, veclen int }{{16, 1_000_000}, {64, 1_000_000}, {1024, 10_000}} {
		b.Run(fmt.Sprintf("M=1024/blocks=%d/veclen=%d", tc.workers, tc.veclen), func(b *testing.B) {
			benchRound(b, tc.workers, 1024, tc.veclen)
		})
	}
}

// BenchmarkCoordinatorRound is the coordinator's own per-round work (plan,
// bookkeeping, tree merges of short vectors) against the number of workers.
func BenchmarkCoordinatorRound(b *testing.B) {
	for _, w := range []int{1, 2, 4, 8, 16, 32, 64} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) { benchRound(b, w, 1024, 8) })
	}
}

// BenchmarkTreeSum is a worker's reduction of 1024 leaves of 10⁴ floats.
func BenchmarkTreeSum(b *testing.B) {
	const m, veclen = 1024, 10_000
	leaf := make([]float64, veclen)
	for j := range leaf {
		leaf[j] = float64(j)
	}
	dst := make([]float64, veclen)
	var s allreduce.Summer
	b.SetBytes(8 * m * veclen)
	b.ReportAllocs()
	for b.Loop() {
		s.Sum(dst, allreduce.Range{Lo: 0, Hi: m}, m, func(int) []float64 { return leaf })
	}
}

// BenchmarkContributionCodec encodes and decodes a 10⁶-float contribution.
func BenchmarkContributionCodec(b *testing.B) {
	c := allreduce.Contribution{Job: testJob, Round: 1, Worker: "w", Range: allreduce.Range{Lo: 0, Hi: 8}, Vec: make([]float64, 1_000_000)}
	for j := range c.Vec {
		c.Vec[j] = float64(j) / 3
	}
	buf := make([]byte, 0, 8_000_100)
	b.SetBytes(8 * int64(len(c.Vec)))
	b.ReportAllocs()
	for b.Loop() {
		data, err := c.AppendBinary(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		var d allreduce.Contribution
		if err := d.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}
