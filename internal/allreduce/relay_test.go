package allreduce_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/allreduce/allreducetest"
)

func groupConfig(g int) allreduce.Config {
	cfg := testConfig()
	cfg.GroupSize = g
	return cfg
}

// TestGroupPlan: the workers with work are grouped in order, the first of
// each group leads it, a group of one has no leader, and Route sends a
// revision-0 block to the leader.
func TestGroupPlan(t *testing.T) {
	c := newCoordinator(t, groupConfig(2), "a", "b", "c", "d", "e")
	if err := c.Start(spec(1, 40, 1)); err != nil {
		t.Fatal(err)
	}
	p := c.Outbox()[0]
	want := map[allreduce.WorkerID]allreduce.WorkerID{"a": "a", "b": "a", "c": "c", "d": "c", "e": ""}
	for _, a := range p.Assign {
		if a.Relay != want[a.Worker] {
			t.Errorf("%s: relay %q, want %q", a.Worker, a.Relay, want[a.Worker])
		}
		for _, r := range a.Ranges {
			if got := p.Route(a.Worker, r); got != want[a.Worker] {
				t.Errorf("Route(%s, %v) = %q, want %q", a.Worker, r, got, want[a.Worker])
			}
		}
	}
	if got := p.Route("a", allreduce.Range{Lo: 39, Hi: 40}); got != "" {
		t.Errorf("Route of a block not assigned to a = %q, want the coordinator", got)
	}
	// Fewer micro-shards than workers: only workers with work are grouped.
	c = newCoordinator(t, groupConfig(2), "a", "b", "c", "d", "e")
	if err := c.Start(spec(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	p = c.Outbox()[0]
	var relays []allreduce.WorkerID
	for _, a := range p.Assign {
		relays = append(relays, a.Relay)
	}
	if len(p.Assign) != 3 || relays[0] != p.Assign[0].Worker || relays[1] != p.Assign[0].Worker || relays[2] != "" {
		t.Errorf("3 workers with work: relays %q, want the first for two, none for the third", relays)
	}
}

// TestRelaySendsGroupNodes: with groups that cover aligned halves, each
// leader sends one vector, the coordinator takes two, and the result is the
// reference's bits.
func TestRelaySendsGroupNodes(t *testing.T) {
	for _, g := range []int{0, 3} {
		n, _ := newNetwork(t, groupConfig(g), allreducetest.Options{Seed: 1}, 6)
		runRound(t, n, spec(1, 64, 5), 100, nil)
		st := n.Stats()
		want := 6 // one block per worker: the runs of 64/6 are not aligned, Cover splits them
		if g == 3 {
			want = 2
		}
		if g == 0 {
			want = 0
			for _, e := range n.Events() {
				if e.Kind == allreduce.Delivered {
					want++
				}
			}
			if want <= 6 {
				t.Fatalf("without groups, %d contributions", want)
			}
		}
		if st.Accepted != want {
			t.Errorf("group size %d: coordinator took %d contributions, want %d (%+v)", g, st.Accepted, want, st)
		}
		// Every block is credited to the worker that computed it, with
		// the leader it came through.
		delivered := map[allreduce.WorkerID]int{}
		for _, e := range n.Events() {
			if e.Kind != allreduce.Delivered {
				continue
			}
			delivered[e.Worker]++
			leader := allreduce.WorkerID("")
			if g == 3 && e.Worker != "w000" && e.Worker != "w003" {
				leader = "w000"
				if e.Worker > "w003" {
					leader = "w003"
				}
			}
			if e.Via != leader {
				t.Errorf("group size %d: %s's block %v delivered via %q, want %q", g, e.Worker, e.Range, e.Via, leader)
			}
		}
		if len(delivered) != 6 {
			t.Errorf("group size %d: blocks credited to %v, want all 6 workers", g, delivered)
		}
	}
}

// TestRelaysUnderFaults runs rounds with groups over faulty networks and
// with a leader killed, stalled or isolated at every tick of the round:
// every round completes with the reference's bits.
func TestRelaysUnderFaults(t *testing.T) {
	for _, g := range []int{2, 3, 8} {
		for _, w := range []int{2, 5, 9} {
			for _, fault := range []string{"none", "kill", "stall", "isolate", "hold"} {
				for at := 0; at < 4; at++ {
					if fault == "none" && at > 0 {
						continue
					}
					t.Run(fmt.Sprintf("g=%d/W=%d/%s@%d", g, w, fault, at), func(t *testing.T) {
						opts := faulty
						opts.Seed = uint64(100*g + 10*w + at)
						cfg := groupConfig(g)
						cfg.HeartbeatTimeout = 20
						n, ids := newNetwork(t, cfg, opts, w)
						leader := ids[0]
						if w > g {
							leader = ids[g] // the second group's leader
						}
						hook := func(tick int) {
							if tick != at {
								return
							}
							switch fault {
							case "kill":
								n.Kill(leader)
							case "stall":
								n.Stall(leader, 30)
							case "isolate":
								n.Isolate(leader)
							case "hold":
								n.Hold(leader)
							}
						}
						for round := uint64(1); round <= 3; round++ {
							runRound(t, n, allreduce.RoundSpec{Round: round, Kind: allreduce.KindGrad, Shards: 50, VecLen: 3}, 3000, hook)
							if fault == "hold" {
								n.Release(leader)
							}
						}
					})
				}
			}
		}
	}
}

// TestDeadLeaderGroupResent: when a leader dies, the blocks its members
// sent it are issued to them again, and Route then sends them to the
// coordinator.
func TestDeadLeaderGroupResent(t *testing.T) {
	c := newCoordinator(t, groupConfig(2), "a", "b")
	s := spec(1, 8, 2)
	if err := c.Start(s); err != nil {
		t.Fatal(err)
	}
	c.Outbox()
	c.Leave("a")
	plans := c.Outbox()
	if len(plans) != 1 {
		t.Fatalf("%d plans after the leader left, want 1", len(plans))
	}
	p := plans[0]
	if got := p.RangesFor("b"); !reflect.DeepEqual(got, []allreduce.Range{{Lo: 0, Hi: 4}, {Lo: 4, Hi: 8}}) {
		t.Fatalf("b holds %v", got)
	}
	for _, r := range p.RangesFor("b") {
		if got := p.Route("b", r); got != "" {
			t.Errorf("Route(b, %v) = %q after the leader left, want the coordinator", r, got)
		}
	}
	var resent int
	for _, e := range c.Events() {
		if e.Kind == allreduce.Resent && e.Worker == "b" {
			resent++
		}
	}
	if resent != 1 {
		t.Errorf("%d blocks resent to b, want 1 (its own)", resent)
	}
	for _, r := range p.RangesFor("b") {
		if err := c.Deliver(contribution(s, "b", r)); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := c.Result(); !ok || !sameBits(got, allreducetest.Want(s)) {
		t.Fatal("result differs from the reference")
	}
}

// TestPartlyCoveredNode: a node whose blocks are partly covered is
// refused, and its other blocks are issued again to their holders, to be
// sent to the coordinator.
func TestPartlyCoveredNode(t *testing.T) {
	c := newCoordinator(t, groupConfig(2), "a", "b")
	s := spec(1, 8, 2)
	if err := c.Start(s); err != nil {
		t.Fatal(err)
	}
	c.Outbox()
	if err := c.Deliver(contribution(s, "b", allreduce.Range{Lo: 4, Hi: 8})); err != nil {
		t.Fatal(err)
	}
	err := c.Deliver(contribution(s, "a", allreduce.Range{Lo: 0, Hi: 8}))
	if !errors.Is(err, allreduce.ErrDuplicate) {
		t.Fatalf("partly covered node: %v, want ErrDuplicate", err)
	}
	plans := c.Outbox()
	if len(plans) != 1 || plans[0].Revision != 1 {
		t.Fatalf("plans %+v, want revision 1", plans)
	}
	r := allreduce.Range{Lo: 0, Hi: 4}
	if got := plans[0].Route("a", r); got != "" {
		t.Errorf("Route(a, %v) = %q, want the coordinator", r, got)
	}
	// A range that is not a node, or not made of whole blocks, is refused.
	for _, bad := range []allreduce.Range{{Lo: 0, Hi: 2}, {Lo: 0, Hi: 6}, {Lo: 2, Hi: 6}} {
		if err := c.Deliver(contribution(s, "a", bad)); !errors.Is(err, allreduce.ErrRange) {
			t.Errorf("%v: %v, want ErrRange", bad, err)
		}
	}
	if err := c.Deliver(contribution(s, "a", r)); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Result(); !ok || !sameBits(got, allreducetest.Want(s)) {
		t.Fatal("result differs from the reference")
	}
}

// TestRelayAdd checks the relay's refusals and that a contribution of a
// round without a plan yet waits for it.
func TestRelayAdd(t *testing.T) {
	c := newCoordinator(t, groupConfig(2), "a", "b")
	s := spec(1, 8, 2)
	if err := c.Start(s); err != nil {
		t.Fatal(err)
	}
	p := c.Outbox()[0]
	g := allreduce.NewRelay(testJob, "a")
	early := contribution(s, "b", allreduce.Range{Lo: 4, Hi: 8})
	if err := g.Add(early); err != nil {
		t.Fatalf("early contribution: %v", err)
	}
	if ok, err := g.Apply(&p); !ok || err != nil {
		t.Fatalf("Apply: %v %v", ok, err)
	}
	if g.Waiting() != 1 {
		t.Fatalf("waiting for %d blocks, want 1", g.Waiting())
	}
	for _, tc := range []struct {
		c    allreduce.Contribution
		want error
	}{
		{contribution(s, "b", allreduce.Range{Lo: 4, Hi: 8}), allreduce.ErrDuplicate},
		{contribution(s, "b", allreduce.Range{Lo: 0, Hi: 4}), allreduce.ErrRange}, // a's block, not b's
		{contribution(spec(1, 8, 3), "a", allreduce.Range{Lo: 0, Hi: 4}), allreduce.ErrLength},
		{allreduce.Contribution{Job: "other", Round: 1, Worker: "a", Range: allreduce.Range{Lo: 0, Hi: 4}, Vec: []float64{1, 2}}, allreduce.ErrJob},
	} {
		if err := g.Add(tc.c); !errors.Is(err, tc.want) {
			t.Errorf("Add(%s %v, %d values): %v, want %v", tc.c.Worker, tc.c.Range, len(tc.c.Vec), err, tc.want)
		}
	}
	if out := g.Outbox(); len(out) != 0 {
		t.Fatalf("handed on %d contributions before the group was complete", len(out))
	}
	if err := g.Add(contribution(s, "a", allreduce.Range{Lo: 0, Hi: 4})); err != nil {
		t.Fatal(err)
	}
	out := g.Outbox()
	if len(out) != 1 || out[0].Range != (allreduce.Range{Lo: 0, Hi: 8}) || out[0].Worker != "a" {
		t.Fatalf("handed on %+v, want the root from a", out)
	}
	if !sameBits(out[0].Vec, allreducetest.Want(s)) {
		t.Fatal("the relay's root differs from the reference")
	}
	if err := g.Add(contribution(spec(0, 8, 2), "b", allreduce.Range{Lo: 4, Hi: 8})); !errors.Is(err, allreduce.ErrStale) {
		t.Errorf("older round: %v, want ErrStale", err)
	}
}

// TestRelayHandsOnAtNewRevision: a new revision of the plan makes the
// relay hand on what it has and every later block as it arrives.
func TestRelayHandsOnAtNewRevision(t *testing.T) {
	c := newCoordinator(t, groupConfig(3), "a", "b", "c")
	s := spec(1, 12, 2)
	if err := c.Start(s); err != nil {
		t.Fatal(err)
	}
	p0 := c.Outbox()[0]
	g := allreduce.NewRelay(testJob, "a")
	if _, err := g.Apply(&p0); err != nil {
		t.Fatal(err)
	}
	blocks := func(w allreduce.WorkerID) []allreduce.Range { return p0.RangesFor(w) }
	for _, r := range blocks("a") {
		if err := g.Add(contribution(s, "a", r)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range blocks("b") {
		if err := g.Add(contribution(s, "b", r)); err != nil {
			t.Fatal(err)
		}
	}
	if out := g.Outbox(); len(out) != 0 {
		t.Fatalf("handed on %d before the group was complete", len(out))
	}
	c.Leave("c")
	p1 := c.Outbox()[0]
	if _, err := g.Apply(&p1); err != nil {
		t.Fatal(err)
	}
	out := g.Outbox()
	if len(out) == 0 {
		t.Fatal("nothing handed on at the new revision")
	}
	for _, x := range out {
		if err := c.Deliver(x); err != nil {
			t.Fatalf("deliver %v: %v", x.Range, err)
		}
	}
	// c's blocks went to the least-loaded worker, which sends them to the
	// coordinator.
	for _, r := range blocks("c") {
		var holder allreduce.WorkerID
		for _, a := range p1.Assign {
			if slices.Contains(a.Ranges, r) {
				holder = a.Worker
			}
		}
		if holder == "" || p1.Route(holder, r) != "" {
			t.Fatalf("re-issued %v: holder %q, routed to %q", r, holder, p1.Route(holder, r))
		}
		if err := c.Deliver(contribution(s, holder, r)); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := c.Result(); !ok || !sameBits(got, allreducetest.Want(s)) {
		t.Fatal("result differs from the reference")
	}
}

// TestRelayEarlyBound: contributions held for a round without a plan are
// bounded; beyond MaxEarly the oldest are dropped.
func TestRelayEarlyBound(t *testing.T) {
	s := spec(1, 8, 2)
	p := allreduce.Plan{Job: testJob, RoundSpec: s, Assign: []allreduce.Assignment{
		{Worker: "a", Ranges: []allreduce.Range{{Lo: 0, Hi: 4}}, Relay: "a"},
		{Worker: "b", Ranges: []allreduce.Range{{Lo: 4, Hi: 8}}, Relay: "a"},
	}}
	for _, junk := range []int{allreduce.MaxEarly - 1, allreduce.MaxEarly} {
		g := allreduce.NewRelay(testJob, "a")
		if err := g.Add(contribution(s, "b", allreduce.Range{Lo: 4, Hi: 8})); err != nil {
			t.Fatal(err)
		}
		for range junk {
			if err := g.Add(contribution(s, "c", allreduce.Range{Lo: 0, Hi: 1})); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := g.Apply(&p); err != nil {
			t.Fatal(err)
		}
		want := 1 // b's block was kept
		if junk == allreduce.MaxEarly {
			want = 2 // b's block, the oldest, was dropped
		}
		if got := g.Waiting(); got != want {
			t.Errorf("%d later contributions: waiting for %d blocks, want %d", junk, got, want)
		}
	}
}

// FuzzRelayContribution feeds a group leader's relay, after a plan, with
// arbitrary contribution bytes decoded as the transport decodes them: it
// must never panic, and whatever it hands on must be a valid contribution
// of a node, in the leader's name, of the plan's length.
func FuzzRelayContribution(f *testing.F) {
	c := newCoordinator(f, groupConfig(3), "a", "b", "c")
	s := spec(1, 12, 2)
	if err := c.Start(s); err != nil {
		f.Fatal(err)
	}
	plan := c.Outbox()[0]
	for _, a := range plan.Assign {
		for _, r := range a.Ranges {
			x := contribution(s, a.Worker, r)
			b, err := x.MarshalBinary()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, false)
			f.Add(b, true)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, revise bool) {
		g := allreduce.NewRelay(testJob, "a")
		if _, err := g.Apply(&plan); err != nil {
			t.Fatal(err)
		}
		var x allreduce.Contribution
		if err := x.UnmarshalBinaryLimit(data, s.VecLen); err != nil {
			return
		}
		_ = g.Add(x)
		if revise {
			p := plan
			p.Revision = 1
			if _, err := g.Apply(&p); err != nil {
				t.Fatal(err)
			}
		}
		for _, out := range g.Outbox() {
			if err := out.Validate(); err != nil {
				t.Fatalf("handed on an invalid contribution: %v", err)
			}
			if out.Worker != "a" || out.Round != s.Round || len(out.Vec) != s.VecLen || !allreduce.IsNode(out.Range, s.Shards) {
				t.Fatalf("handed on %+v", out)
			}
		}
	})
}
