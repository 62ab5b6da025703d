// Package allreducetest is a deterministic in-memory network for testing the
// allreduce protocol, in the spirit of etcd's rafttest: one
// [allreduce.Coordinator] and simulated workers exchange encoded messages
// over a seeded network that drops, duplicates, delays and reorders them,
// and a test can kill, stall, isolate, hold back and restart workers.
//
// Time is the coordinator's tick. Each [Network.Tick] delivers the messages
// due, lets every running worker send a heartbeat and compute at most one
// block, ticks the coordinator and broadcasts its plans. A worker sends a
// block where the plan routes it ([allreduce.Plan.Route]): to the
// coordinator, or to its group leader, whose [allreduce.Relay] hands the
// group's sums on. A simulated
// worker's micro-shard contributions are [Leaf] vectors: irregular values
// of widely spread magnitudes, so that any change in the order of the
// additions changes the bits of the sum.
package allreducetest

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/dptrain/dptrain/internal/allreduce"
)

// Options configure the faults of a Network. The zero value is a perfect
// network.
type Options struct {
	// Seed seeds every random choice of the network.
	Seed uint64
	// Drop is the probability that a message is lost.
	Drop float64
	// Duplicate is the probability that a message is delivered twice.
	Duplicate float64
	// MaxDelay delays each copy of a message by 0..MaxDelay ticks, uniformly,
	// which reorders messages; messages due in the same tick are delivered in
	// a random order.
	MaxDelay int
}

// Stats counts what happened on a Network.
type Stats struct {
	Sent, Dropped, Duplicated int // messages, all kinds
	Accepted                  int // contributions the coordinator accepted
	Stale, Duplicates         int // contributions rejected as ErrStale, ErrDuplicate
	Relayed                   int // contributions a group leader took
	// Unexpected holds every other error: a correct protocol on this
	// network has none.
	Unexpected []error
}

type msgKind uint8

const (
	msgHeartbeat msgKind = iota + 1
	msgContribution
	msgPlan
	msgRelay // a member's contribution to its group leader
)

type message struct {
	at   int64  // tick it is due
	seq  uint64 // send order, for a stable base order
	kind msgKind
	peer allreduce.WorkerID // sender (to the coordinator) or receiver (plans, relayed contributions)
	data []byte
}

type worker struct {
	id         allreduce.WorkerID
	state      *allreduce.Worker
	relay      *allreduce.Relay
	killed     bool      // process gone: no heartbeats, no work, nothing received
	isolated   bool      // running, but every message to or from it is lost
	holding    bool      // running, but its outgoing messages wait for Release
	held       []message // messages waiting for Release
	stallUntil int64     // computes nothing before this tick
	computed   int       // blocks computed, for tests
}

// Network connects a Coordinator with simulated workers. It is not safe for
// concurrent use.
type Network struct {
	C *allreduce.Coordinator

	job     string
	opts    Options
	rng     *rand.Rand
	now     int64
	seq     uint64
	queue   []message
	workers []*worker // sorted by id
	stats   Stats
	events  []allreduce.Event
	summer  allreduce.Summer
	leafBuf []float64
}

// New returns a network around a coordinator of job, with no workers.
func New(c *allreduce.Coordinator, job string, opts Options) *Network {
	return &Network{C: c, job: job, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))}
}

// WorkerName returns the ID of the i-th simulated worker, "w000", "w001", …
// (zero-padded so that sorted IDs are in index order).
func WorkerName(i int) allreduce.WorkerID { return allreduce.WorkerID(fmt.Sprintf("w%03d", i)) }

// AddWorkers adds and joins n workers named by WorkerName, continuing the
// numbering, and returns their IDs.
func (n *Network) AddWorkers(k int) []allreduce.WorkerID {
	var ids []allreduce.WorkerID
	for range k {
		id := WorkerName(len(n.workers))
		n.workers = append(n.workers, &worker{id: id, state: allreduce.NewWorker(n.job, id), relay: allreduce.NewRelay(n.job, id)})
		n.C.Join(id)
		ids = append(ids, id)
	}
	n.drain()
	return ids
}

func (n *Network) worker(id allreduce.WorkerID) *worker {
	i := sort.Search(len(n.workers), func(i int) bool { return n.workers[i].id >= id })
	if i == len(n.workers) || n.workers[i].id != id {
		panic(fmt.Sprintf("allreducetest: no worker %q", id))
	}
	return n.workers[i]
}

// Kill stops worker id: no more heartbeats or results, and it receives
// nothing. Its messages already in flight still arrive.
func (n *Network) Kill(id allreduce.WorkerID) { n.worker(id).killed = true }

// Restart brings a killed worker back as a fresh process, with no memory of
// plans; its heartbeats make the coordinator take it back.
func (n *Network) Restart(id allreduce.WorkerID) {
	w := n.worker(id)
	w.killed, w.stallUntil = false, 0
	w.state = allreduce.NewWorker(n.job, id)
	w.relay = allreduce.NewRelay(n.job, id)
}

// Stall makes worker id compute nothing for the next ticks ticks; it keeps
// sending heartbeats (a straggler).
func (n *Network) Stall(id allreduce.WorkerID, ticks int) {
	n.worker(id).stallUntil = n.now + int64(ticks)
}

// Isolate cuts worker id off: every message to or from it is lost until
// Heal.
func (n *Network) Isolate(id allreduce.WorkerID) { n.worker(id).isolated = true }

// Heal ends Isolate.
func (n *Network) Heal(id allreduce.WorkerID) { n.worker(id).isolated = false }

// Hold keeps every message worker id sends (heartbeats included) until
// Release, like a connection that stalls and then flushes.
func (n *Network) Hold(id allreduce.WorkerID) { n.worker(id).holding = true }

// Release sends the messages Hold kept back, and ends Hold.
func (n *Network) Release(id allreduce.WorkerID) {
	w := n.worker(id)
	w.holding = false
	held := w.held
	w.held = nil
	for _, m := range held {
		n.send(m)
	}
}

// Computed returns how many blocks worker id computed.
func (n *Network) Computed(id allreduce.WorkerID) int { return n.worker(id).computed }

// Now returns the number of ticks run.
func (n *Network) Now() int64 { return n.now }

// Stats returns the network's counters.
func (n *Network) Stats() Stats { return n.stats }

// Events returns every coordinator event so far, in order.
func (n *Network) Events() []allreduce.Event { return n.events }

// Leaf returns micro-shard i's contribution in round as a new vector of
// length veclen: values ±m·2^e with a 53-bit mantissa m ∈ [1, 2) and e ∈
// [−30, 30], all drawn from a hash of (round, i, j), so that no two orders of
// summation are likely to agree to the bit.
func Leaf(round uint64, i, veclen int) []float64 {
	v := make([]float64, veclen)
	fillLeaf(v, round, i)
	return v
}

func fillLeaf(v []float64, round uint64, i int) {
	for j := range v {
		h := splitmix(splitmix(round*0x100000001b3^uint64(i)) ^ uint64(j))
		m := 1 + float64(h>>11)/(1<<53)
		e := int(h&63) - 30 // 0..63 → −30..33, clamp below
		e = min(e, 30)
		x := math.Ldexp(m, e)
		if h&(1<<10) != 0 {
			x = -x
		}
		v[j] = x
	}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Want returns the reference result of a round: TreeSum over all its leaves.
func Want(s allreduce.RoundSpec) []float64 {
	dst := make([]float64, s.VecLen)
	allreduce.TreeSum(dst, allreduce.Range{Lo: 0, Hi: s.Shards}, s.Shards, func(i int) []float64 {
		return Leaf(s.Round, i, s.VecLen)
	})
	return dst
}

// Start starts round s on the coordinator and broadcasts its plan.
func (n *Network) Start(s allreduce.RoundSpec) error {
	err := n.C.Start(s)
	n.drain()
	return err
}

// Tick runs one tick: delivery, the workers, the coordinator.
func (n *Network) Tick() {
	n.now++
	n.deliver()
	for _, w := range n.workers {
		n.runWorker(w)
	}
	n.C.Tick()
	n.drain()
}

// Run ticks until the current round's result is ready or maxTicks have run,
// calling hook (if non-nil) before each tick with the tick about to run. It
// returns the result, or an error naming what the round still waits for.
func (n *Network) Run(maxTicks int, hook func(tick int)) ([]float64, error) {
	for t := range maxTicks {
		if v, ok := n.C.Result(); ok {
			return v, nil
		}
		if hook != nil {
			hook(t)
		}
		n.Tick()
	}
	if v, ok := n.C.Result(); ok {
		return v, nil
	}
	return nil, fmt.Errorf("allreducetest: no result after %d ticks: pending %v, waiting for %v, live %v",
		maxTicks, n.C.Pending(), n.C.Waiting(), n.C.Live())
}

// drain collects the coordinator's events and broadcasts its plans.
func (n *Network) drain() {
	n.events = append(n.events, n.C.Events()...)
	for _, p := range n.C.Outbox() {
		data, err := p.MarshalBinary()
		if err != nil {
			n.stats.Unexpected = append(n.stats.Unexpected, fmt.Errorf("encode plan: %w", err))
			continue
		}
		for _, w := range n.workers {
			n.send(message{kind: msgPlan, peer: w.id, data: data})
		}
	}
}

// send puts m on the wire, applying the faults.
func (n *Network) send(m message) {
	n.stats.Sent++
	if n.rng.Float64() < n.opts.Drop {
		n.stats.Dropped++
		return
	}
	copies := 1
	if n.rng.Float64() < n.opts.Duplicate {
		n.stats.Duplicated++
		copies = 2
	}
	for range copies {
		m.at = n.now + 1
		if n.opts.MaxDelay > 0 {
			m.at += int64(n.rng.IntN(n.opts.MaxDelay + 1))
		}
		n.seq++
		m.seq = n.seq
		n.queue = append(n.queue, m)
	}
}

// deliver hands every due message to its receiver, in random order.
func (n *Network) deliver() {
	var due []message
	rest := n.queue[:0]
	for _, m := range n.queue {
		if m.at <= n.now {
			due = append(due, m)
		} else {
			rest = append(rest, m)
		}
	}
	n.queue = rest
	slices.SortFunc(due, func(a, b message) int { return cmp.Compare(a.seq, b.seq) })
	n.rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	for _, m := range due {
		switch m.kind {
		case msgHeartbeat:
			n.C.Heartbeat(m.peer)
		case msgContribution:
			n.contribution(m.data)
		case msgPlan:
			w := n.worker(m.peer)
			if w.killed || w.isolated {
				continue
			}
			var p allreduce.Plan
			if err := p.UnmarshalBinary(m.data); err != nil {
				n.stats.Unexpected = append(n.stats.Unexpected, err)
				continue
			}
			if _, err := w.state.Apply(&p); err != nil {
				n.stats.Unexpected = append(n.stats.Unexpected, err)
			}
			if _, err := w.relay.Apply(&p); err != nil {
				n.stats.Unexpected = append(n.stats.Unexpected, err)
			}
			n.handOn(w)
		case msgRelay:
			w := n.worker(m.peer)
			if w.killed || w.isolated {
				continue
			}
			var c allreduce.Contribution
			if err := c.UnmarshalBinary(m.data); err != nil {
				n.stats.Unexpected = append(n.stats.Unexpected, err)
				continue
			}
			n.relay(w, c)
		}
		n.drain()
	}
}

func (n *Network) contribution(data []byte) {
	var c allreduce.Contribution
	if err := c.UnmarshalBinary(data); err != nil {
		n.stats.Unexpected = append(n.stats.Unexpected, err)
		return
	}
	switch err := n.C.Deliver(c); {
	case err == nil:
		n.stats.Accepted++
	case errors.Is(err, allreduce.ErrStale):
		n.stats.Stale++
	case errors.Is(err, allreduce.ErrDuplicate):
		n.stats.Duplicates++
	default:
		n.stats.Unexpected = append(n.stats.Unexpected, err)
	}
}

// relay gives the contribution c to w's relay and sends what it hands on.
func (n *Network) relay(w *worker, c allreduce.Contribution) {
	switch err := w.relay.Add(c); {
	case err == nil:
		n.stats.Relayed++
	case errors.Is(err, allreduce.ErrStale):
		n.stats.Stale++
	case errors.Is(err, allreduce.ErrDuplicate):
		n.stats.Duplicates++
	default:
		n.stats.Unexpected = append(n.stats.Unexpected, err)
	}
	n.handOn(w)
}

// handOn sends the sums w's relay hands on to the coordinator.
func (n *Network) handOn(w *worker) {
	for _, c := range w.relay.Outbox() {
		data, err := c.MarshalBinary()
		if err != nil {
			n.stats.Unexpected = append(n.stats.Unexpected, err)
			continue
		}
		n.out(w, message{kind: msgContribution, peer: w.id, data: data})
	}
}

// runWorker sends w's heartbeat and computes and sends at most one block.
func (n *Network) runWorker(w *worker) {
	if w.killed {
		return
	}
	n.out(w, message{kind: msgHeartbeat, peer: w.id})
	if n.now < w.stallUntil {
		return
	}
	r, ok := w.state.Next()
	if !ok {
		return
	}
	p := w.state.Plan()
	vec := make([]float64, p.VecLen)
	if cap(n.leafBuf) < p.VecLen {
		n.leafBuf = make([]float64, p.VecLen)
	}
	buf := n.leafBuf[:p.VecLen]
	n.summer.Sum(vec, r, p.Shards, func(i int) []float64 {
		fillLeaf(buf, p.Round, i)
		return buf
	})
	w.computed++
	c := allreduce.Contribution{Job: n.job, Round: p.Round, Worker: w.id, Range: r, Vec: vec}
	w.state.Sent(p.Round, r)
	leader := p.Route(w.id, r)
	if leader == w.id {
		n.relay(w, c)
		return
	}
	data, err := c.MarshalBinary()
	if err != nil {
		n.stats.Unexpected = append(n.stats.Unexpected, err)
		return
	}
	if leader == "" {
		n.out(w, message{kind: msgContribution, peer: w.id, data: data})
	} else {
		n.out(w, message{kind: msgRelay, peer: leader, data: data})
	}
}

// out sends a message from w, unless w is isolated or held.
func (n *Network) out(w *worker, m message) {
	switch {
	case w.isolated:
		n.stats.Sent++
		n.stats.Dropped++
	case w.holding:
		w.held = append(w.held, m)
	default:
		n.send(m)
	}
}
