package allreduce_test

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/allreduce/allreducetest"
)

const testJob = "job"

func testConfig() allreduce.Config {
	cfg := allreduce.DefaultConfig()
	cfg.Job = testJob
	cfg.HeartbeatTimeout = 5
	cfg.MinStragglerTicks = 4
	cfg.StragglerFactor = 2
	cfg.MaxStragglerTicks = 40
	return cfg
}

func newCoordinator(t testing.TB, cfg allreduce.Config, workers ...allreduce.WorkerID) *allreduce.Coordinator {
	t.Helper()
	c, err := allreduce.NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range workers {
		c.Join(w)
	}
	return c
}

func spec(round uint64, shards, veclen int) allreduce.RoundSpec {
	return allreduce.RoundSpec{Round: round, Step: round, Kind: allreduce.KindGrad, Shards: shards, VecLen: veclen}
}

// contribution computes w's contribution for r with Leaf data.
func contribution(s allreduce.RoundSpec, w allreduce.WorkerID, r allreduce.Range) allreduce.Contribution {
	v := make([]float64, s.VecLen)
	allreduce.TreeSum(v, r, s.Shards, func(i int) []float64 { return allreducetest.Leaf(s.Round, i, s.VecLen) })
	return allreduce.Contribution{Job: testJob, Round: s.Round, Worker: w, Range: r, Vec: v}
}

func lastPlan(t *testing.T, c *allreduce.Coordinator) allreduce.Plan {
	t.Helper()
	out := c.Outbox()
	if len(out) == 0 {
		t.Fatal("no plan in the outbox")
	}
	return out[len(out)-1]
}

func kinds(evs []allreduce.Event, k allreduce.EventKind) []allreduce.Event {
	var out []allreduce.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	if err := allreduce.DefaultConfig().Validate(); !errors.Is(err, allreduce.ErrConfig) {
		t.Fatalf("default config without a job: %v, want ErrConfig", err)
	}
	for _, mutate := range []func(*allreduce.Config){
		func(c *allreduce.Config) { c.HeartbeatTimeout = 0 },
		func(c *allreduce.Config) { c.MinStragglerTicks = 0 },
		func(c *allreduce.Config) { c.MaxStragglerTicks = c.MinStragglerTicks - 1 },
		func(c *allreduce.Config) { c.StragglerFactor = 0.5 },
		func(c *allreduce.Config) { c.StragglerFactor = math.NaN() },
		func(c *allreduce.Config) { c.StragglerFactor = math.Inf(1) },
	} {
		cfg := testConfig()
		mutate(&cfg)
		if _, err := allreduce.NewCoordinator(cfg); !errors.Is(err, allreduce.ErrConfig) {
			t.Errorf("config %+v: %v, want ErrConfig", cfg, err)
		}
	}
}

func TestStartPlansContiguousNearEqualRuns(t *testing.T) {
	for _, w := range []int{1, 2, 3, 5, 8, 64} {
		for _, m := range []int{1, 2, 3, 7, 64, 196, 1000} {
			var ids []allreduce.WorkerID
			for i := range w {
				ids = append(ids, allreducetest.WorkerName(w-1-i)) // joined out of order
			}
			c := newCoordinator(t, testConfig(), ids...)
			if err := c.Start(spec(1, m, 2)); err != nil {
				t.Fatal(err)
			}
			p := lastPlan(t, c)
			if err := p.Validate(); err != nil {
				t.Fatalf("W=%d M=%d: plan invalid: %v", w, m, err)
			}
			if p.Revision != 0 || p.Job != testJob || p.Shards != m {
				t.Fatalf("W=%d M=%d: plan header %+v", w, m, p)
			}
			// Concatenated in worker order, the runs tile [0, M); each run has
			// ⌊M/W⌋ or ⌈M/W⌉ micro-shards, give or take twice a 32nd of that
			// (boundaries move to better aligned points), and the plan has no
			// more blocks than exactly equal runs would.
			slack := 2 * (m / w / 32)
			equal, blocks := 0, 0
			for i := range min(w, m) {
				equal += len(allreduce.Cover(allreduce.Range{Lo: i * m / min(w, m), Hi: (i + 1) * m / min(w, m)}, m))
			}
			next := 0
			for i, a := range p.Assign {
				if i > 0 && a.Worker <= p.Assign[i-1].Worker {
					t.Fatalf("workers not sorted: %v", p.Assign)
				}
				lo := next
				for _, r := range a.Ranges {
					if r.Lo != next {
						t.Fatalf("W=%d M=%d: %s's ranges %v not contiguous from %d", w, m, a.Worker, a.Ranges, next)
					}
					next = r.Hi
				}
				if n := next - lo; n < m/w-slack || n > (m+w-1)/w+slack {
					t.Fatalf("W=%d M=%d: %s has %d micro-shards", w, m, a.Worker, n)
				}
				blocks += len(a.Ranges)
			}
			if blocks > equal {
				t.Fatalf("W=%d M=%d: %d blocks, equal runs would have %d", w, m, blocks, equal)
			}
			if next != m {
				t.Fatalf("W=%d M=%d: runs end at %d", w, m, next)
			}
			if got, want := len(p.Assign), min(w, m); got != want {
				t.Fatalf("W=%d M=%d: %d workers with work, want %d", w, m, got, want)
			}
		}
	}
}

func TestStartErrors(t *testing.T) {
	c := newCoordinator(t, testConfig())
	if err := c.Start(spec(1, 4, 2)); !errors.Is(err, allreduce.ErrNoWorkers) {
		t.Fatalf("no workers: %v", err)
	}
	c.Join("a")
	if err := c.Start(spec(1, 0, 2)); !errors.Is(err, allreduce.ErrMalformed) {
		t.Fatalf("0 shards: %v", err)
	}
	if err := c.Start(spec(1, allreduce.MaxShards+1, 2)); !errors.Is(err, allreduce.ErrMalformed) {
		t.Fatalf("too many shards: %v", err)
	}
	if err := c.Start(spec(2, 4, 2)); err != nil {
		t.Fatal(err)
	}
	for _, r := range []uint64{1, 2} {
		if err := c.Start(spec(r, 4, 2)); !errors.Is(err, allreduce.ErrRound) {
			t.Fatalf("round %d after 2: %v", r, err)
		}
	}
	if s, ok := c.Round(); !ok || s.Round != 2 {
		t.Fatalf("a failed Start changed the round: %+v", s)
	}
}

func TestDeliverRejects(t *testing.T) {
	c := newCoordinator(t, testConfig(), "a", "b")
	s1 := spec(1, 7, 3)
	if err := c.Start(s1); err != nil {
		t.Fatal(err)
	}
	if err := c.Deliver(contribution(s1, "a", allreduce.Range{Lo: 0, Hi: 2})); err != nil {
		t.Fatalf("round 1 contribution: %v", err)
	}
	s := spec(2, 7, 3)
	if err := c.Start(s); err != nil {
		t.Fatal(err)
	}
	p := lastPlan(t, c)
	blockA := p.RangesFor("a")[0]
	good := func() allreduce.Contribution { return contribution(s, "a", blockA) }
	for _, tc := range []struct {
		name   string
		mutate func(*allreduce.Contribution)
		want   error
	}{
		{"wrong job", func(m *allreduce.Contribution) { m.Job = "other" }, allreduce.ErrJob},
		{"stale round", func(m *allreduce.Contribution) { *m = contribution(s1, "a", allreduce.Range{Lo: 0, Hi: 4}) }, allreduce.ErrStale},
		{"future round", func(m *allreduce.Contribution) { m.Round = 3 }, allreduce.ErrRound},
		{"unknown worker", func(m *allreduce.Contribution) { m.Worker = "stranger" }, allreduce.ErrUnknownWorker},
		{"not a node", func(m *allreduce.Contribution) { m.Range = allreduce.Range{Lo: 1, Hi: 3} }, allreduce.ErrRange},
		{"outside", func(m *allreduce.Contribution) { m.Range = allreduce.Range{Lo: 7, Hi: 8} }, allreduce.ErrRange},
		{"empty", func(m *allreduce.Contribution) { m.Range = allreduce.Range{Lo: 2, Hi: 2} }, allreduce.ErrRange},
		{"node never assigned", func(m *allreduce.Contribution) { m.Range = allreduce.Range{Lo: 0, Hi: 1} }, allreduce.ErrRange},
		{"short", func(m *allreduce.Contribution) { m.Vec = m.Vec[:2] }, allreduce.ErrLength},
		{"long", func(m *allreduce.Contribution) { m.Vec = append(m.Vec, 1) }, allreduce.ErrLength},
		{"NaN", func(m *allreduce.Contribution) { m.Vec[1] = math.NaN() }, allreduce.ErrNotFinite},
		{"Inf", func(m *allreduce.Contribution) { m.Vec[2] = math.Inf(-1) }, allreduce.ErrNotFinite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.mutate(&m)
			if err := c.Deliver(m); !errors.Is(err, tc.want) {
				t.Fatalf("Deliver: %v, want %v", err, tc.want)
			}
		})
	}
	if got := kinds(c.Events(), allreduce.Stale); len(got) != 1 || got[0].Round != 1 || got[0].Worker != "a" {
		t.Fatalf("stale events %+v", got)
	}
	if err := c.Deliver(good()); err != nil {
		t.Fatalf("good contribution after the rejected ones: %v", err)
	}
	if err := c.Deliver(good()); !errors.Is(err, allreduce.ErrDuplicate) {
		t.Fatalf("second copy: %v, want ErrDuplicate", err)
	}
	if got := kinds(c.Events(), allreduce.Duplicate); len(got) != 1 || got[0].Range != blockA {
		t.Fatalf("duplicate events %+v", got)
	}
	if slices.Contains(c.Pending(), blockA) {
		t.Fatalf("pending %v still has %v", c.Pending(), blockA)
	}
}

// deliverPlan delivers every block of plan p, each from its first holder.
func deliverPlan(t *testing.T, c *allreduce.Coordinator, s allreduce.RoundSpec, p allreduce.Plan) {
	t.Helper()
	for _, a := range p.Assign {
		for _, r := range a.Ranges {
			if err := c.Deliver(contribution(s, a.Worker, r)); err != nil && !errors.Is(err, allreduce.ErrDuplicate) {
				t.Fatal(err)
			}
		}
	}
}

func TestResultIsTreeSum(t *testing.T) {
	for _, w := range []int{1, 2, 3, 5, 8, 64} {
		for _, m := range []int{1, 2, 3, 7, 64, 196, 1000} {
			var ids []allreduce.WorkerID
			for i := range w {
				ids = append(ids, allreducetest.WorkerName(i))
			}
			c := newCoordinator(t, testConfig(), ids...)
			s := spec(uint64(10*w+m), m, 4)
			if err := c.Start(s); err != nil {
				t.Fatal(err)
			}
			p := lastPlan(t, c)
			// Deliver in reverse order, the worst case for merging.
			slices.Reverse(p.Assign)
			for _, a := range p.Assign {
				slices.Reverse(a.Ranges)
			}
			if _, ok := c.Result(); ok {
				t.Fatal("result before any contribution")
			}
			deliverPlan(t, c, s, p)
			got, ok := c.Result()
			if !ok {
				t.Fatalf("W=%d M=%d: no result; pending %v", w, m, c.Pending())
			}
			if want := allreducetest.Want(s); !sameBits(got, want) {
				t.Fatalf("W=%d M=%d: result %v, want %v", w, m, got, want)
			}
			if evs := kinds(c.Events(), allreduce.Completed); len(evs) != 1 {
				t.Fatalf("completed events %+v", evs)
			}
		}
	}
}

func TestDeadWorkerBlocksReissued(t *testing.T) {
	cfg := testConfig()
	c := newCoordinator(t, cfg, "a", "b", "c")
	s := spec(1, 12, 2)
	if err := c.Start(s); err != nil {
		t.Fatal(err)
	}
	p0 := lastPlan(t, c)
	bBlocks := p0.RangesFor("b")
	for tick := 1; tick <= cfg.HeartbeatTimeout; tick++ {
		c.Heartbeat("a")
		c.Heartbeat("c")
		c.Tick()
		dead := kinds(c.Events(), allreduce.WorkerDead)
		if tick < cfg.HeartbeatTimeout && len(dead) > 0 {
			t.Fatalf("b declared dead after %d ticks, timeout %d", tick, cfg.HeartbeatTimeout)
		}
		if tick == cfg.HeartbeatTimeout && (len(dead) != 1 || dead[0].Worker != "b") {
			t.Fatalf("after %d ticks dead = %+v, want b", tick, dead)
		}
	}
	if got := c.Live(); !reflect.DeepEqual(got, []allreduce.WorkerID{"a", "c"}) {
		t.Fatalf("live %v", got)
	}
	p1 := lastPlan(t, c)
	if p1.Revision != 1 || p1.RangesFor("b") != nil {
		t.Fatalf("revision %d assigns b %v", p1.Revision, p1.RangesFor("b"))
	}
	for _, r := range bBlocks {
		if !slices.Contains(p1.RangesFor("a"), r) && !slices.Contains(p1.RangesFor("c"), r) {
			t.Fatalf("b's block %v not re-issued in %+v", r, p1.Assign)
		}
	}
	// b's original arrives late, before the re-issued copy: first wins.
	if err := c.Deliver(contribution(s, "b", bBlocks[0])); err != nil {
		t.Fatalf("late original from the dead worker: %v", err)
	}
	if got := c.Live(); len(got) != 2 {
		t.Fatalf("a contribution revived b: live %v", got)
	}
	deliverPlan(t, c, s, p1)
	got, ok := c.Result()
	if !ok || !sameBits(got, allreducetest.Want(s)) {
		t.Fatalf("result %v, %v", got, ok)
	}
	if d := kinds(c.Events(), allreduce.Duplicate); len(d) != 1 || d[0].Range != bBlocks[0] {
		t.Fatalf("duplicates %+v, want the re-issue of %v", d, bBlocks[0])
	}
}

func TestLeaveReissuesAtOnce(t *testing.T) {
	c := newCoordinator(t, testConfig(), "a", "b")
	if err := c.Start(spec(1, 8, 2)); err != nil {
		t.Fatal(err)
	}
	c.Outbox()
	c.Leave("a")
	c.Leave("a") // idempotent
	c.Leave("x") // unknown: nothing
	out := c.Outbox()
	if len(out) != 1 || out[0].Revision != 1 {
		t.Fatalf("outbox %+v, want one revision 1", out)
	}
	if got := out[0].RangesFor("b"); !reflect.DeepEqual(got, []allreduce.Range{{Lo: 0, Hi: 4}, {Lo: 4, Hi: 8}}) {
		t.Fatalf("b's ranges %v", got)
	}
	if got := c.Pending(); len(got) != 2 {
		t.Fatalf("pending %v", got)
	}
	evs := c.Events()
	if len(kinds(evs, allreduce.WorkerLeft)) != 1 || len(kinds(evs, allreduce.Reissued)) != 1 {
		t.Fatalf("events %+v", evs)
	}
}

func TestOrphansGoToJoiningWorker(t *testing.T) {
	c := newCoordinator(t, testConfig(), "a")
	s := spec(1, 5, 2)
	if err := c.Start(s); err != nil {
		t.Fatal(err)
	}
	c.Leave("a")
	c.Tick()
	if got := c.Waiting(); len(got) != 0 {
		t.Fatalf("waiting for %v with no live worker", got)
	}
	if got := c.Pending(); len(got) == 0 {
		t.Fatal("nothing pending")
	}
	c.Outbox()
	c.Heartbeat("n") // a heartbeat from a new worker joins it
	p := lastPlan(t, c)
	if got := allreduce.ComputeBlocks(&p, "n", func(allreduce.Range) bool { return false }); len(got) == 0 {
		t.Fatalf("joining worker got nothing: %+v", p)
	}
	deliverPlan(t, c, s, p)
	if got, ok := c.Result(); !ok || !sameBits(got, allreducetest.Want(s)) {
		t.Fatal("no correct result")
	}
}

func TestStragglerGetsSpeculativeCopy(t *testing.T) {
	cfg := testConfig()
	c := newCoordinator(t, cfg, "a", "b", "c")
	s := spec(1, 3, 2)
	if err := c.Start(s); err != nil {
		t.Fatal(err)
	}
	p0 := lastPlan(t, c)
	slow := p0.RangesFor("c")[0]
	for _, w := range []allreduce.WorkerID{"a", "b"} {
		for _, r := range p0.RangesFor(w) {
			if err := c.Deliver(contribution(s, w, r)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var spec1 []allreduce.Event
	for tick := 1; tick <= cfg.MinStragglerTicks+1; tick++ {
		for _, w := range []allreduce.WorkerID{"a", "b", "c"} {
			c.Heartbeat(w)
		}
		c.Tick()
		spec1 = kinds(c.Events(), allreduce.Speculative)
		if tick <= cfg.MinStragglerTicks && len(spec1) > 0 {
			t.Fatalf("speculation after %d ticks, threshold %d", tick, cfg.MinStragglerTicks)
		}
	}
	if len(spec1) != 1 || spec1[0].Worker != "a" || spec1[0].Range != slow {
		t.Fatalf("speculative events %+v, want %v to a", spec1, slow)
	}
	p := lastPlan(t, c)
	if !slices.Contains(p.RangesFor("a"), slow) || !slices.Contains(p.RangesFor("c"), slow) {
		t.Fatalf("plan %+v does not hold %v for both a and c", p.Assign, slow)
	}
	// The copy wins; the original then counts as a duplicate.
	if err := c.Deliver(contribution(s, "a", slow)); err != nil {
		t.Fatal(err)
	}
	if err := c.Deliver(contribution(s, "c", slow)); !errors.Is(err, allreduce.ErrDuplicate) {
		t.Fatalf("original after the copy: %v", err)
	}
	if got, ok := c.Result(); !ok || !sameBits(got, allreducetest.Want(s)) {
		t.Fatal("no correct result")
	}
}

func TestLostResultResentToSoleWorker(t *testing.T) {
	cfg := testConfig()
	c := newCoordinator(t, cfg, "a")
	s := spec(1, 4, 2)
	if err := c.Start(s); err != nil {
		t.Fatal(err)
	}
	w := allreduce.NewWorker(testJob, "a")
	p0 := lastPlan(t, c)
	if ok, err := w.Apply(&p0); !ok || err != nil {
		t.Fatal(ok, err)
	}
	r, ok := w.Next()
	if !ok {
		t.Fatal("nothing to do")
	}
	w.Sent(s.Round, r) // ... and the network loses it
	if _, ok := w.Next(); ok {
		t.Fatal("worker would send twice")
	}
	var resent []allreduce.Event
	for range cfg.MinStragglerTicks + 1 {
		c.Heartbeat("a")
		c.Tick()
		resent = append(resent, kinds(c.Events(), allreduce.Resent)...)
	}
	if len(resent) != 1 || resent[0].Worker != "a" {
		t.Fatalf("resent events %+v", resent)
	}
	p1 := lastPlan(t, c)
	if ok, err := w.Apply(&p1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, _ := w.Apply(&p0); ok {
		t.Fatal("older revision applied")
	}
	r2, ok := w.Next()
	if !ok || r2 != r {
		t.Fatalf("after the re-issue Next = %v, %v; want %v", r2, ok, r)
	}
	if err := c.Deliver(contribution(s, "a", r2)); err != nil {
		t.Fatal(err)
	}
	w.Sent(s.Round, r2)
	if _, ok := w.Next(); ok {
		t.Fatal("worker would send a third time")
	}
}

func TestWorkerApply(t *testing.T) {
	w := allreduce.NewWorker(testJob, "a")
	if _, ok := w.Next(); ok {
		t.Fatal("work before any plan")
	}
	p := samplePlan()
	p.Job = testJob
	if _, err := w.Apply(&allreduce.Plan{Job: "other"}); !errors.Is(err, allreduce.ErrJob) {
		t.Fatalf("other job: %v", err)
	}
	if ok, _ := w.Apply(p); !ok {
		t.Fatal("first plan not applied")
	}
	var got []allreduce.Range
	for {
		r, ok := w.Next()
		if !ok {
			break
		}
		got = append(got, r)
		w.Sent(p.Round, r)
		w.Sent(p.Round-1, allreduce.Range{Lo: 6, Hi: 7}) // another round: ignored
	}
	if want := p.RangesFor("a"); !reflect.DeepEqual(got, want) {
		t.Fatalf("computed %v, want %v", got, want)
	}
	// A newer round starts afresh.
	q := *p
	q.Round++
	q.Revision = 0
	q.Assign = []allreduce.Assignment{{Worker: "a", Ranges: []allreduce.Range{{Lo: 0, Hi: 4}}}}
	if ok, _ := w.Apply(&q); !ok {
		t.Fatal("newer round not applied")
	}
	if r, ok := w.Next(); !ok || r != (allreduce.Range{Lo: 0, Hi: 4}) {
		t.Fatalf("Next = %v, %v", r, ok)
	}
	if ok, _ := w.Apply(p); ok {
		t.Fatal("older round applied")
	}
}

func TestHeartbeatJoinsAndEventsAreOrdered(t *testing.T) {
	c := newCoordinator(t, testConfig())
	c.Heartbeat("b")
	c.Join("a")
	c.Join("a")
	if got := c.Live(); !reflect.DeepEqual(got, []allreduce.WorkerID{"a", "b"}) {
		t.Fatalf("live %v", got)
	}
	evs := c.Events()
	if len(evs) != 2 || evs[0].Worker != "b" || evs[1].Worker != "a" || evs[0].Kind != allreduce.WorkerJoined {
		t.Fatalf("events %+v", evs)
	}
	if len(c.Events()) != 0 || len(c.Outbox()) != 0 {
		t.Fatal("Events or Outbox not cleared")
	}
}
