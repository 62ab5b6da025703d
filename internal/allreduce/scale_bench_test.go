package allreduce_test

import (
	"fmt"
	"slices"
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

// BenchmarkCoordinatorStepGroups is BenchmarkCoordinatorStep with group
// leaders of ⌈√W⌉ workers (Config.GroupSize): the coordinator decodes and
// adds the node sums the leaders send, computed untimed by a Relay per
// leader. BenchmarkLeaderStep is the busiest leader's share: decoding its
// members' contributions, adding them along the tree, encoding the sums.
func BenchmarkCoordinatorStepGroups(b *testing.B) {
	for _, veclen := range []int{270, 2590} {
		for _, m := range []int{196, 1024} {
			for _, w := range []int{4, 8, 16, 32, 64} {
				b.Run(fmt.Sprintf("veclen=%d/M=%d/workers=%d", veclen, m, w), func(b *testing.B) {
					benchGroupStep(b, w, m, veclen, false)
				})
			}
		}
	}
}

func BenchmarkLeaderStep(b *testing.B) {
	for _, veclen := range []int{270, 2590} {
		for _, m := range []int{196, 1024} {
			for _, w := range []int{4, 8, 16, 32, 64} {
				b.Run(fmt.Sprintf("veclen=%d/M=%d/workers=%d", veclen, m, w), func(b *testing.B) {
					benchGroupStep(b, w, m, veclen, true)
				})
			}
		}
	}
}

// groupSize is ⌈√w⌉.
func groupSize(w int) int {
	g := 1
	for g*g < w {
		g++
	}
	return g
}

// groupWire returns, for round 1 of a coordinator of w workers in groups,
// each leader's members' contributions (the leader's inbox) and what its
// relay hands on, in leader order.
func groupWire(b *testing.B, w, m, veclen int) (c *allreduce.Coordinator, inbox, out [][]allreduce.Contribution) {
	cfg := testConfig()
	cfg.GroupSize = groupSize(w)
	c, plan := startBench(b, cfg, w, m, veclen)
	for _, a := range plan.Assign {
		if a.Relay != a.Worker {
			continue
		}
		var in []allreduce.Contribution
		for _, x := range plan.Assign {
			if x.Relay != a.Worker {
				continue
			}
			for _, r := range x.Ranges {
				in = append(in, allreduce.Contribution{Job: testJob, Round: 1, Worker: x.Worker, Range: r, Vec: benchVec(r, veclen)})
			}
		}
		g := allreduce.NewRelay(testJob, a.Worker)
		if _, err := g.Apply(&plan); err != nil {
			b.Fatal(err)
		}
		for _, x := range in {
			y := x
			y.Vec = slices.Clone(x.Vec)
			if err := g.Add(y); err != nil {
				b.Fatal(err)
			}
		}
		inbox, out = append(inbox, in), append(out, g.Outbox())
	}
	for _, a := range plan.Assign { // workers in no group send to the coordinator
		if a.Relay == "" {
			for _, r := range a.Ranges {
				out = append(out, []allreduce.Contribution{{Job: testJob, Round: 1, Worker: a.Worker, Range: r, Vec: make([]float64, veclen)}})
			}
		}
	}
	return c, inbox, out
}

func benchGroupStep(b *testing.B, w, m, veclen int, leader bool) {
	c, inbox, out := groupWire(b, w, m, veclen)
	if leader {
		busiest := inbox[0]
		for _, in := range inbox {
			if len(in) > len(busiest) {
				busiest = in
			}
		}
		benchLeader(b, busiest, m, veclen)
		return
	}
	var msgs []allreduce.Contribution
	for _, o := range out {
		msgs = append(msgs, o...)
	}
	benchRounds(b, c, msgs, w, m, veclen)
}

// benchLeader times a leader's work for one step: decode each member's
// contribution, add it along the tree, encode what the relay hands on.
func benchLeader(b *testing.B, in []allreduce.Contribution, m, veclen int) {
	leader := in[0].Worker
	for _, x := range in {
		leader = min(leader, x.Worker)
	}
	plan := allreduce.Plan{Job: testJob, RoundSpec: spec(1, m, veclen)}
	for _, x := range in { // in is in worker order, as the plan
		if k := len(plan.Assign); k == 0 || plan.Assign[k-1].Worker != x.Worker {
			plan.Assign = append(plan.Assign, allreduce.Assignment{Worker: x.Worker, Relay: leader})
		}
		a := &plan.Assign[len(plan.Assign)-1]
		a.Ranges = append(a.Ranges, x.Range)
		a.Issued = append(a.Issued, 0)
	}
	data := make([][]byte, len(in))
	var enc []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		round := uint64(i + 2)
		b.StopTimer()
		plan.Round = round
		for k := range in {
			in[k].Round = round
			var err error
			if data[k], err = in[k].AppendBinary(data[k][:0]); err != nil {
				b.Fatal(err)
			}
		}
		g := allreduce.NewRelay(testJob, leader)
		if _, err := g.Apply(&plan); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, d := range data {
			var x allreduce.Contribution
			if err := x.UnmarshalBinary(d); err != nil {
				b.Fatal(err)
			}
			if err := g.Add(x); err != nil {
				b.Fatal(err)
			}
		}
		for _, x := range g.Outbox() {
			var err error
			if enc, err = x.AppendBinary(enc[:0]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(in)), "contributions/op")
}

// startBench returns a coordinator of cfg with w workers that has started
// round 1 of m micro-shards and vectors of veclen, and the round's plan.
func startBench(b *testing.B, cfg allreduce.Config, w, m, veclen int) (*allreduce.Coordinator, allreduce.Plan) {
	c, err := allreduce.NewCoordinator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for i := range w {
		c.Join(allreducetest.WorkerName(i))
	}
	if err := c.Start(spec(1, m, veclen)); err != nil {
		b.Fatal(err)
	}
	return c, c.Outbox()[0]
}

// benchVec returns a contribution vector for block r: finite values that
// do not overflow over rounds of additions.
func benchVec(r allreduce.Range, veclen int) []float64 {
	v := make([]float64, veclen)
	for j := range v {
		v[j] = float64(r.Lo+j%7) * 0.5
	}
	return v
}

func benchStep(b *testing.B, w, m, veclen int) {
	c, plan := startBench(b, testConfig(), w, m, veclen)
	var msgs []allreduce.Contribution
	for _, a := range plan.Assign {
		for _, r := range a.Ranges {
			msgs = append(msgs, allreduce.Contribution{Job: testJob, Worker: a.Worker, Range: r, Vec: benchVec(r, veclen)})
		}
	}
	benchRounds(b, c, msgs, w, m, veclen)
}

// benchRounds times the coordinator's rounds 2, 3, … with the
// contributions cs.
func benchRounds(b *testing.B, c *allreduce.Coordinator, cs []allreduce.Contribution, w, m, veclen int) {
	// The wire bytes of every contribution, re-stamped with the round
	// number untimed (a worker's work, not the coordinator's).
	type wire struct {
		msg  allreduce.Contribution
		data []byte
	}
	msgs := make([]wire, len(cs))
	for i, x := range cs {
		msgs[i].msg = x
	}
	var err error
	theta := allreduce.Params{Job: testJob, Theta: make([]float64, veclen)}
	var planBuf, paramsBuf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		round := uint64(i + 2)
		b.StopTimer()
		for k := range w { // heartbeats come by time, not by step
			c.Heartbeat(allreducetest.WorkerName(k))
		}
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
