package allreduce

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
)

// sampleCap is how many recent block completion times feed the straggler
// threshold's p99.
const sampleCap = 256

// Coordinator is the coordinator's side of the protocol: membership and
// failure detection, the plan of each round, and the reduction of the
// contributions along the fixed tree.
//
// It is a deterministic state machine, like etcd's raft.RawNode: the same
// sequence of calls yields the same outbox, events and result. It does no
// I/O, reads no clock and is not safe for concurrent use; one goroutine of the
// transport owns it, feeds it what arrives (Join, Heartbeat, Leave, Deliver)
// and the passing of time (Tick), and publishes what Outbox returns.
//
// Cost: Deliver is O(log B + k·h) for B planned blocks, k blocks in the
// contribution's range and h holders of each, plus the vector additions of
// the tree nodes it completes; Tick is O(W + B) for W live workers and B
// outstanding blocks, plus O(W) per block it re-issues.
type Coordinator struct {
	cfg Config
	now int64 // ticks since creation

	members map[WorkerID]*member // every worker ever seen; lookup only
	live    []*member            // live members, sorted by id

	r         *round // current round; nil before the first Start
	lastRound uint64

	changed bool // the assignment changed during the current call
	outbox  []Plan
	events  []Event

	samples  [sampleCap]int64 // recent completion ticks, a ring
	nSamples int              // number of valid samples (≤ sampleCap)
	next     int              // next slot of the ring
	p99      int64            // cached 99th percentile of samples
	p99Dirty bool
}

type member struct {
	id       WorkerID
	live     bool
	lastSeen int64
	held     []*block // outstanding blocks of the current round, sorted by Lo
	load     int      // Σ Len of held
	relay    *member  // leader of m's group in the current round; nil: none
}

type round struct {
	spec     RoundSpec
	revision int
	started  int64

	blocks []*block // the planned blocks, sorted by Lo, a partition of [0, Shards)
	nodes  nodeStore

	uncovered int       // micro-shards not yet covered
	result    []float64 // the root, once uncovered = 0
}

// block is a planned range and who was asked to compute it.
type block struct {
	r        Range
	done     bool
	holders  []holding // live workers asked for r, in issue order
	issuedAt int64     // tick of the last (re-)issue; the straggler clock
}

type holding struct {
	m    *member
	tick int64 // tick of the last issue to m
	rev  int   // plan revision of the last issue to m
}

// NewCoordinator returns a coordinator with no workers and no round.
func NewCoordinator(cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Coordinator{cfg: cfg, members: make(map[WorkerID]*member)}, nil
}

// Now returns the number of ticks since the coordinator was created.
func (c *Coordinator) Now() int64 { return c.now }

// Round returns the spec of the current round, false before the first Start.
func (c *Coordinator) Round() (RoundSpec, bool) {
	if c.r == nil {
		return RoundSpec{}, false
	}
	return c.r.spec, true
}

// Live returns the live workers, sorted.
func (c *Coordinator) Live() []WorkerID {
	out := make([]WorkerID, len(c.live))
	for i, m := range c.live {
		out[i] = m.id
	}
	return out
}

// Join adds w to the live workers, or revives it if it was declared dead or
// left. It is idempotent: joining a live worker only counts as a heartbeat.
// A joining worker gets work from the next round; in the current one it takes
// blocks that have no live holder and, when idle, speculative copies.
func (c *Coordinator) Join(w WorkerID) {
	c.join(w)
	c.flush()
}

func (c *Coordinator) join(w WorkerID) {
	m := c.members[w]
	if m == nil {
		m = &member{id: w}
		c.members[w] = m
	}
	m.lastSeen = c.now
	if m.live {
		return
	}
	m.live, m.relay = true, nil
	i := sort.Search(len(c.live), func(i int) bool { return c.live[i].id >= w })
	c.live = slices.Insert(c.live, i, m)
	c.event(Event{Kind: WorkerJoined, Round: c.current(), Worker: w})
	if c.active() {
		for _, b := range c.r.blocks {
			if !b.done && len(b.holders) == 0 {
				c.reissue(b)
			}
		}
	}
}

// Heartbeat records that w is alive. A heartbeat from a worker that is not
// live (never seen, declared dead, or left) is a Join: the transport
// authenticates workers, and a worker that was wrongly declared dead comes
// back by its next heartbeat.
func (c *Coordinator) Heartbeat(w WorkerID) {
	if m := c.members[w]; m != nil && m.live {
		m.lastSeen = c.now
		return
	}
	c.Join(w)
}

// Leave removes w from the live workers (a graceful leave, or a disconnect
// the transport detected) and re-issues its outstanding blocks now. Leaving a
// worker that is not live does nothing.
func (c *Coordinator) Leave(w WorkerID) {
	if m := c.members[w]; m != nil && m.live {
		c.remove(m, WorkerLeft)
		c.flush()
	}
}

// remove takes m out of the live workers and re-issues the blocks only it
// held.
func (c *Coordinator) remove(m *member, why EventKind) {
	m.live = false
	i := sort.Search(len(c.live), func(i int) bool { return c.live[i].id >= m.id })
	c.live = slices.Delete(c.live, i, i+1)
	c.event(Event{Kind: why, Round: c.current(), Worker: m.id})
	held := m.held
	m.held, m.load = nil, 0
	for _, b := range held {
		b.holders = slices.DeleteFunc(b.holders, func(h holding) bool { return h.m == m })
		if len(b.holders) == 0 {
			c.reissue(b)
		}
	}
	// The members of m's group sent their revision-0 blocks to m: those
	// results are lost, so the blocks go again to their holders, who now
	// send them to the coordinator.
	for _, x := range c.live {
		if x.relay != m {
			continue
		}
		x.relay = nil
		for _, b := range slices.Clone(x.held) {
			if i := slices.IndexFunc(b.holders, func(h holding) bool { return h.m == x }); i >= 0 && b.holders[i].rev == 0 {
				c.issue(b, x, c.revise())
				c.event(Event{Kind: Resent, Round: c.r.spec.Round, Worker: x.id, Range: b.r})
			}
		}
	}
}

// Start begins round s, abandoning the current one (its late contributions
// become ErrStale). It splits [0, s.Shards) over the live workers, sorted,
// into contiguous runs of ⌊(i+1)·M/W⌋ − ⌊i·M/W⌋ micro-shards, covers each run
// with the fewest tree nodes ([Cover]), and queues revision 0 of the plan. It
// fails with ErrNoWorkers when no worker is live, ErrRound when s.Round is
// not above every round started before, and ErrMalformed when s is out of
// bounds; the current round then goes on.
func (c *Coordinator) Start(s RoundSpec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if c.r != nil && s.Round <= c.lastRound {
		return fmt.Errorf("%w: start round %d after round %d", ErrRound, s.Round, c.lastRound)
	}
	if len(c.live) == 0 {
		return fmt.Errorf("%w: start round %d", ErrNoWorkers, s.Round)
	}
	if c.active() {
		c.event(Event{Kind: Abandoned, Round: c.r.spec.Round})
	}
	for _, m := range c.live {
		m.held, m.load, m.relay = nil, 0, nil
	}
	r := &round{
		spec:      s,
		started:   c.now,
		nodes:     newNodeStore(s.Shards),
		uncovered: s.Shards,
	}
	c.r, c.lastRound = r, s.Round
	w := len(c.live)
	var busy []*member // workers with a non-empty run, in order
	for i, m := range c.live {
		lo, hi := runStart(i, w, s.Shards), runStart(i+1, w, s.Shards)
		for _, rg := range Cover(Range{lo, hi}, s.Shards) {
			b := &block{r: rg}
			r.blocks = append(r.blocks, b)
			c.issue(b, m, 0)
		}
		if lo < hi {
			busy = append(busy, m)
		}
	}
	g := c.cfg.GroupSize
	if g == GroupSqrt {
		g = int(math.Ceil(math.Sqrt(float64(len(busy)))))
	}
	if g >= 2 {
		for k := 0; k < len(busy); k += g {
			if group := busy[k:min(k+g, len(busy))]; len(group) >= 2 {
				for _, m := range group {
					m.relay = group[0]
				}
			}
		}
	}
	c.changed = true
	c.flush()
	return nil
}

// runStart returns where the i-th of w contiguous runs of [0, m) starts:
// i·m/w, moved by at most a 32nd of a run to the point of that window with
// the most trailing zero bits (the nearest to i·m/w among equals), so that
// the runs are covered by fewer tree nodes (for m = 196 over 2 workers,
// runs of 96 and 100 micro-shards in 2 and 3 blocks instead of 98 and 98 in
// 3 and 6). The runs stay within 2/32 of equal length and in order.
func runStart(i, w, m int) int {
	x := int(int64(i) * int64(m) / int64(w))
	if i <= 0 || i >= w {
		return x
	}
	best := x
	for d := 1; d <= m/w/32; d++ {
		for _, y := range [2]int{x - d, x + d} {
			if bits.TrailingZeros(uint(y)) > bits.TrailingZeros(uint(best)) {
				best = y
			}
		}
	}
	return best
}

// active reports whether a round is collecting contributions.
func (c *Coordinator) active() bool { return c.r != nil && c.r.result == nil }

// Deliver accepts a contribution. It checks, in order: the job (ErrJob),
// the round (ErrStale for an older round, also recorded as a Stale event;
// ErrRound for one not started), the worker (ErrUnknownWorker if it never
// joined), that the range is a block of this round's plans or a node of the
// tree made of whole planned blocks, as a group leader sends (ErrRange), the
// length (ErrLength), that the values are finite (ErrNotFinite), and that
// no micro-shard of the range is already covered (ErrDuplicate, recorded as
// a Duplicate event: the first result wins). When only some of a node's
// blocks are covered, the others are issued again to their holders, who
// then send them to the coordinator (a Resent event each). A contribution
// from a live worker counts as its heartbeat; one from a worker that died
// or left is used if it is first, but does not revive the worker.
//
// Deliver takes ownership of m.Vec when it returns nil: the coordinator adds
// into it in place and may return it from Result, so the caller must not
// use it again. On error it does not keep m.Vec.
func (c *Coordinator) Deliver(m Contribution) error {
	if m.Job != c.cfg.Job {
		return fmt.Errorf("%w: contribution of job %q from %q", ErrJob, m.Job, m.Worker)
	}
	mem := c.members[m.Worker]
	if mem != nil && mem.live {
		mem.lastSeen = c.now
	}
	r := c.r
	switch {
	case r == nil || m.Round > r.spec.Round:
		return fmt.Errorf("%w: contribution of round %d from %q", ErrRound, m.Round, m.Worker)
	case m.Round < r.spec.Round:
		c.event(Event{Kind: Stale, Round: m.Round, Worker: m.Worker, Range: m.Range})
		return fmt.Errorf("%w: contribution of round %d from %q in round %d", ErrStale, m.Round, m.Worker, r.spec.Round)
	case mem == nil:
		return fmt.Errorf("%w: %q", ErrUnknownWorker, m.Worker)
	}
	bs := r.span(m.Range)
	if bs == nil {
		if !IsNode(m.Range, r.spec.Shards) {
			return fmt.Errorf("%w: %v from %q is not a node of the tree over %d micro-shards",
				ErrRange, m.Range, m.Worker, r.spec.Shards)
		}
		return fmt.Errorf("%w: %v from %q is not made of blocks assigned in round %d", ErrRange, m.Range, m.Worker, m.Round)
	}
	if len(m.Vec) != r.spec.VecLen {
		return fmt.Errorf("%w: %v from %q has %d elements, want %d", ErrLength, m.Range, m.Worker, len(m.Vec), r.spec.VecLen)
	}
	if err := checkFinite("contribution", m.Vec); err != nil {
		return fmt.Errorf("%w (%v from %q)", err, m.Range, m.Worker)
	}
	done := 0
	for _, b := range bs {
		if b.done {
			done++
		}
	}
	if done > 0 {
		c.event(Event{Kind: Duplicate, Round: m.Round, Worker: m.Worker, Range: m.Range})
		if done == len(bs) {
			return fmt.Errorf("%w: %v from %q in round %d", ErrDuplicate, m.Range, m.Worker, m.Round)
		}
		for _, b := range bs {
			c.resend(b)
		}
		c.flush()
		return fmt.Errorf("%w: %v from %q in round %d: %d of its %d blocks are covered", ErrDuplicate, m.Range, m.Worker, m.Round, done, len(bs))
	}
	c.cover(bs, m.Range, mem, m.Vec)
	return nil
}

// span returns the planned blocks that make up rg: one block, or for a
// node of the tree, the blocks that tile it exactly; nil when there are
// none. The slice is the round's own.
func (r *round) span(rg Range) []*block {
	i := sort.Search(len(r.blocks), func(i int) bool { return r.blocks[i].r.Lo >= rg.Lo })
	if i == len(r.blocks) || r.blocks[i].r.Lo != rg.Lo {
		return nil
	}
	j := i
	for j < len(r.blocks) && r.blocks[j].r.Hi < rg.Hi {
		j++
	}
	switch {
	case j == len(r.blocks) || r.blocks[j].r.Hi != rg.Hi:
		return nil
	case j > i && !IsNode(rg, r.spec.Shards):
		return nil
	}
	return r.blocks[i : j+1]
}

// resend issues the block b, if it is not done, again to its holders (or to
// another worker when it has none), so that it is sent to the coordinator.
func (c *Coordinator) resend(b *block) {
	switch {
	case b.done:
	case len(b.holders) == 0:
		c.reissue(b)
	default:
		c.resendToHolders(b, c.revise())
	}
}

// resendToHolders issues b again, in revision rev, to each of its holders.
func (c *Coordinator) resendToHolders(b *block, rev int) {
	for _, h := range slices.Clone(b.holders) {
		c.issue(b, h.m, rev)
		c.event(Event{Kind: Resent, Round: c.r.spec.Round, Worker: h.m.id, Range: b.r})
	}
}

// cover marks the blocks bs, which make up rg, done with value v,
// delivered by mem. Each block is credited, its time sampled and a
// Delivered event recorded for the worker that computed it: its holder
// mem, or a holder that sent it through its group leader mem.
func (c *Coordinator) cover(bs []*block, rg Range, mem *member, v []float64) {
	r := c.r
	for _, b := range bs {
		e := Event{Kind: Delivered, Round: r.spec.Round, Worker: mem.id, Range: b.r}
		for _, h := range b.holders {
			switch {
			case h.m == mem:
				e.Ticks = c.now - h.tick
				c.sample(e.Ticks)
			case h.m.relay == mem:
				e.Worker, e.Via, e.Ticks = h.m.id, mem.id, c.now-h.tick
				c.sample(e.Ticks)
			}
			h.m.held = slices.DeleteFunc(h.m.held, func(x *block) bool { return x == b })
			h.m.load -= b.r.Len()
		}
		b.done, b.holders = true, nil
		c.event(e)
	}
	r.nodes.add(rg, v)
	r.uncovered -= rg.Len()
	if r.uncovered > 0 {
		return
	}
	root, ok := r.nodes.stored[1]
	if !ok || len(r.nodes.stored) != 1 {
		panic(fmt.Sprintf("allreduce: round %d covered but %d nodes stored without the root", r.spec.Round, len(r.nodes.stored)))
	}
	r.result, r.nodes.stored = root, nil
	c.event(Event{Kind: Completed, Round: r.spec.Round, Ticks: c.now - r.started})
}

// Tick advances logical time by one tick: workers silent for
// HeartbeatTimeout ticks are declared dead and their blocks re-issued;
// blocks with no live holder go to the least-loaded live worker; blocks
// outstanding past the straggler threshold (see Config) are issued again.
// Any change of the assignment is queued as one new plan revision.
func (c *Coordinator) Tick() {
	c.now++
	var dead []*member
	for _, m := range c.live {
		if c.now-m.lastSeen >= int64(c.cfg.HeartbeatTimeout) {
			dead = append(dead, m)
		}
	}
	for _, m := range dead {
		c.remove(m, WorkerDead)
	}
	if c.active() {
		t := c.threshold()
		for _, b := range c.r.blocks {
			switch {
			case b.done:
			case len(b.holders) == 0:
				c.reissue(b)
			case c.now-b.issuedAt > t:
				c.overdue(b)
			}
		}
	}
	c.flush()
}

// reissue issues b, which has no live holder, to the least-loaded live
// worker (ties broken by ID). With no live worker b waits for a Join.
func (c *Coordinator) reissue(b *block) {
	if m := c.leastLoaded(b, false); m != nil {
		c.issue(b, m, c.revise())
		c.event(Event{Kind: Reissued, Round: c.r.spec.Round, Worker: m.id, Range: b.r})
	}
}

// overdue issues the overdue block b to an idle live worker that does not
// hold it, or, when none is idle, again to its holders.
func (c *Coordinator) overdue(b *block) {
	rev := c.revise()
	if m := c.leastLoaded(b, true); m != nil {
		c.issue(b, m, rev)
		c.event(Event{Kind: Speculative, Round: c.r.spec.Round, Worker: m.id, Range: b.r})
		return
	}
	c.resendToHolders(b, rev)
}

// leastLoaded returns the live worker not holding b with the fewest
// outstanding micro-shards, the smallest ID among equals; with idle, only a
// worker with none. It returns nil if there is none.
func (c *Coordinator) leastLoaded(b *block, idle bool) *member {
	var best *member
	for _, m := range c.live {
		if (idle && m.load > 0) || (best != nil && m.load >= best.load) {
			continue
		}
		if !slices.ContainsFunc(b.holders, func(h holding) bool { return h.m == m }) {
			best = m
		}
	}
	return best
}

// issue records that b was issued to m in plan revision rev, now.
func (c *Coordinator) issue(b *block, m *member, rev int) {
	b.issuedAt = c.now
	for i := range b.holders {
		if b.holders[i].m == m {
			b.holders[i].tick, b.holders[i].rev = c.now, rev
			return
		}
	}
	b.holders = append(b.holders, holding{m: m, tick: c.now, rev: rev})
	i := sort.Search(len(m.held), func(i int) bool { return m.held[i].r.Lo >= b.r.Lo })
	m.held = slices.Insert(m.held, i, b)
	m.load += b.r.Len()
}

// revise returns the revision of the change being made, opening a new one on
// the first change of the call.
func (c *Coordinator) revise() int {
	if !c.changed {
		c.changed = true
		c.r.revision++
	}
	return c.r.revision
}

// flush queues the plan if the call changed it.
func (c *Coordinator) flush() {
	if !c.changed {
		return
	}
	c.changed = false
	r := c.r
	p := Plan{Job: c.cfg.Job, RoundSpec: r.spec, Revision: r.revision}
	for _, m := range c.live {
		if len(m.held) == 0 {
			continue
		}
		a := Assignment{Worker: m.id, Ranges: make([]Range, len(m.held)), Issued: make([]int, len(m.held))}
		if m.relay != nil {
			a.Relay = m.relay.id
		}
		for i, b := range m.held {
			a.Ranges[i] = b.r
			for _, h := range b.holders {
				if h.m == m {
					a.Issued[i] = h.rev
				}
			}
		}
		p.Assign = append(p.Assign, a)
	}
	c.outbox = append(c.outbox, p)
}

// threshold returns the straggler threshold T (see Config).
func (c *Coordinator) threshold() int64 {
	t := int64(c.cfg.MinStragglerTicks)
	if c.nSamples == 0 {
		return t
	}
	if c.p99Dirty {
		s := slices.Clone(c.samples[:c.nSamples])
		slices.Sort(s)
		c.p99 = s[(99*len(s)+99)/100-1] // the ⌈0.99·n⌉-th smallest
		c.p99Dirty = false
	}
	t = max(t, int64(math.Ceil(c.cfg.StragglerFactor*float64(c.p99))))
	return min(t, int64(c.cfg.MaxStragglerTicks))
}

func (c *Coordinator) sample(ticks int64) {
	c.samples[c.next] = ticks
	c.next = (c.next + 1) % sampleCap
	c.nSamples = min(c.nSamples+1, sampleCap)
	c.p99Dirty = true
}

func (c *Coordinator) event(e Event) { c.events = append(c.events, e) }

// current returns the number of the current round, 0 before the first.
func (c *Coordinator) current() uint64 {
	if c.r == nil {
		return 0
	}
	return c.r.spec.Round
}

// Outbox returns and clears the plans to publish, in order.
func (c *Coordinator) Outbox() []Plan {
	out := c.outbox
	c.outbox = nil
	return out
}

// Events returns and clears what happened since the last call, in order.
func (c *Coordinator) Events() []Event {
	out := c.events
	c.events = nil
	return out
}

// Result returns the root of the fixed tree, the sum of all micro-shard
// contributions of the current round, once every micro-shard is covered;
// nil and false before. The vector is the coordinator's until the next
// Start, which forgets it; the caller may keep it but must not modify it
// while the round is current.
func (c *Coordinator) Result() ([]float64, bool) {
	if c.r == nil || c.r.result == nil {
		return nil, false
	}
	return c.r.result, true
}

// Pending returns the blocks of the current round not yet covered, sorted.
func (c *Coordinator) Pending() []Range {
	if !c.active() {
		return nil
	}
	var out []Range
	for _, b := range c.r.blocks {
		if !b.done {
			out = append(out, b.r)
		}
	}
	return out
}

// Waiting returns the live workers holding blocks not yet covered, sorted.
func (c *Coordinator) Waiting() []WorkerID {
	var out []WorkerID
	for _, m := range c.live {
		if len(m.held) > 0 {
			out = append(out, m.id)
		}
	}
	return out
}
