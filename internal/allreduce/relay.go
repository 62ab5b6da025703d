package allreduce

import (
	"fmt"
	"slices"
)

// MaxEarly and MaxEarlyValues bound the contributions a [Relay] holds for
// rounds it has no plan of yet, in number and in vector elements (128 MiB
// of float64); past either the oldest are dropped, and the coordinator
// re-issues what is lost. Such contributions arrive only when a member's
// result overtakes the plan on its way to the leader.
const (
	MaxEarly       = 1024
	MaxEarlyValues = 1 << 24
)

// Relay is a group leader's side of the protocol (see [Config.GroupSize]):
// it collects the blocks its group sends it in a round, adds them along the
// fixed tree, and hands the sums on for the coordinator. Like Coordinator it
// does no I/O; the transport feeds it plans and contributions and sends
// what Outbox returns to the coordinator.
//
// From the first plan it sees of a round, the relay expects every block
// issued in revision 0 to a worker whose assignment names it as the relay
// (its own blocks included). When the last one has arrived it hands on the
// nodes the blocks add up to: with a group of consecutive runs, one or a
// few vectors in place of one per block. The sums are the tree's own
// (the nodes of [Coordinator.Deliver]), so the coordinator's result is the
// same bits with or without relays.
//
// Any change of the plan (a newer revision of the round) means the
// coordinator is re-issuing work, perhaps because a member died: the relay
// then hands on what it has added so far and, for the rest of the round,
// every block it receives as it arrives. The coordinator takes a node only
// when none of its blocks is covered yet, so nothing counts twice. A
// relay never waits on its own: what it holds leaves at the next revision,
// which the coordinator's heartbeat timeout and straggler threshold bound.
type Relay struct {
	job string
	id  WorkerID

	spec    RoundSpec // of the round, once a plan of it has arrived
	planned bool
	rev     int

	expect  map[Range]*relayed // blocks sent here in this round
	missing int                // expected blocks not arrived
	nodes   nodeStore
	through bool // hand on every block as it arrives

	early     []Contribution // contributions of rounds without a plan yet, oldest first
	earlyVals int            // Σ len(Vec) of early
	out       []Contribution
}

type relayed struct {
	from WorkerID
	got  bool
}

// NewRelay returns the relay of worker id in job.
func NewRelay(job string, id WorkerID) *Relay {
	return &Relay{job: job, id: id}
}

// Apply takes plan p if it is newer than the last one (a newer round, or a
// higher revision of the same round) and reports whether it did. A newer
// round starts afresh: the relay expects the revision-0 blocks of the
// workers that name it, or, when p is not revision 0 (revision 0 was
// missed), hands on every block as it arrives. A newer revision of the
// round hands on what was added so far. A plan of another job is an error
// wrapping ErrJob.
func (g *Relay) Apply(p *Plan) (bool, error) {
	if p.Job != g.job {
		return false, fmt.Errorf("%w: plan of job %q for the relay of %q of job %q", ErrJob, p.Job, g.id, g.job)
	}
	if g.planned && (p.Round < g.spec.Round || (p.Round == g.spec.Round && p.Revision <= g.rev)) {
		return false, nil
	}
	if g.planned && p.Round == g.spec.Round {
		g.rev = p.Revision
		g.handOn()
		return true, nil
	}
	g.spec, g.rev, g.planned = p.RoundSpec, p.Revision, true
	// Most workers lead no group: they allocate nothing for the round.
	g.expect, g.missing, g.through = nil, 0, p.Revision > 0
	g.nodes = nodeStore{}
	for _, a := range p.Assign {
		if a.Relay != g.id {
			continue
		}
		for i, r := range a.Ranges {
			if a.issued(i) == 0 {
				if g.expect == nil {
					g.expect, g.nodes = make(map[Range]*relayed), newNodeStore(p.Shards)
				}
				g.expect[r] = &relayed{from: a.Worker}
				g.missing++
			}
		}
	}
	early := g.early
	g.early, g.earlyVals = nil, 0
	for _, c := range early {
		if c.Round > g.spec.Round {
			g.hold(c)
		} else if c.Round == g.spec.Round {
			_ = g.Add(c) // a refusal now is a block the coordinator re-issues
		}
	}
	return true, nil
}

// Add takes a member's contribution, or the relay's own. It fails with
// ErrJob for another job, ErrStale for an older round, ErrLength for a
// vector of the wrong length, ErrRange for a block this relay does not
// expect from c.Worker in this round (while it hands blocks on: a range
// that is not a node), and ErrDuplicate for one that has already arrived.
// While handing on it passes on any node of the tree, whoever sent it: a
// worker whose leader this relay was may still send it a block the plan
// has since given to others, and the coordinator takes whichever result
// comes first, as it does from any worker. A contribution of a round
// without a plan yet is held until its plan arrives (within MaxEarly and
// MaxEarlyValues). Add takes ownership of c.Vec when it returns nil.
func (g *Relay) Add(c Contribution) error {
	switch {
	case c.Job != g.job:
		return fmt.Errorf("%w: contribution of job %q from %q", ErrJob, c.Job, c.Worker)
	case !g.planned || c.Round > g.spec.Round:
		g.hold(c)
		return nil
	case c.Round < g.spec.Round:
		return fmt.Errorf("%w: contribution of round %d from %q in round %d", ErrStale, c.Round, c.Worker, g.spec.Round)
	case len(c.Vec) != g.spec.VecLen:
		return fmt.Errorf("%w: %v from %q has %d elements, want %d", ErrLength, c.Range, c.Worker, len(c.Vec), g.spec.VecLen)
	}
	e := g.expect[c.Range]
	switch {
	case e == nil || e.from != c.Worker:
		if !g.through || !IsNode(c.Range, g.spec.Shards) {
			return fmt.Errorf("%w: %v from %q is not relayed by %q in round %d", ErrRange, c.Range, c.Worker, g.id, c.Round)
		}
		g.send(c.Range, c.Vec) // the coordinator checks it
		return nil
	case e.got:
		return fmt.Errorf("%w: %v from %q in round %d", ErrDuplicate, c.Range, c.Worker, c.Round)
	}
	e.got = true
	g.missing--
	if g.through {
		g.send(c.Range, c.Vec)
		return nil
	}
	g.nodes.add(c.Range, c.Vec)
	if g.missing == 0 {
		g.handOn()
	}
	return nil
}

// hold keeps c until a plan of its round arrives, dropping the oldest held
// contributions beyond MaxEarly and MaxEarlyValues.
func (g *Relay) hold(c Contribution) {
	g.early = append(g.early, c)
	g.earlyVals += len(c.Vec)
	n := 0
	for len(g.early)-n > MaxEarly || g.earlyVals > MaxEarlyValues {
		g.earlyVals -= len(g.early[n].Vec)
		n++
	}
	g.early = slices.Delete(g.early, 0, n)
}

// handOn queues every node added so far, left to right, and switches to
// handing on each block as it arrives.
func (g *Relay) handOn() {
	g.through = true
	idx := make([]int, 0, len(g.nodes.stored))
	for i := range g.nodes.stored {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int { return g.nodes.nodeLo(a) - g.nodes.nodeLo(b) })
	for _, i := range idx {
		g.send(g.nodes.nodeRange(i), g.nodes.stored[i])
	}
	clear(g.nodes.stored)
}

func (g *Relay) send(r Range, v []float64) {
	g.out = append(g.out, Contribution{Job: g.job, Round: g.spec.Round, Worker: g.id, Range: r, Vec: v})
}

// Outbox returns and clears the contributions to send to the coordinator,
// in order, in the relay's name.
func (g *Relay) Outbox() []Contribution {
	out := g.out
	g.out = nil
	return out
}

// Waiting returns how many expected blocks of the current round have not
// arrived while the relay still adds them up (0 once it hands blocks on).
func (g *Relay) Waiting() int {
	if g.through {
		return 0
	}
	return g.missing
}
