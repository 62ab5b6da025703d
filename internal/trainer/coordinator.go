package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/metrics"
	"github.com/dptrain/dptrain/internal/natsbus"
)

// CoordinatorConfig configures the coordinator's transport loop.
type CoordinatorConfig struct {
	Subjects natsbus.Subjects
	// Tick is the unit of the state machine's logical time.
	Tick time.Duration
	// HeartbeatTimeout declares a silent worker dead. The default, 1 s
	// (five heartbeats of 200 ms), meets the detection bound
	// max(1 s, 3 × p99 step time) whatever the step time; a false
	// positive costs only a re-issue, since the worker rejoins with its
	// next heartbeat.
	HeartbeatTimeout time.Duration
	// StragglerMin is the least time a block may take before a
	// speculative copy is issued.
	StragglerMin time.Duration
	// MinWorkers is the fewest live workers the job runs with; below it
	// the job waits Grace, then stops.
	MinWorkers int
	Grace      time.Duration
	// GroupSize groups the workers of each round under group leaders that
	// add their group's contributions before the coordinator does (see
	// allreduce.Config.GroupSize; allreduce.GroupSqrt for ⌈√W⌉); 0: none.
	GroupSize int
}

// DefaultCoordinatorConfig returns the defaults.
func DefaultCoordinatorConfig() CoordinatorConfig {
	return CoordinatorConfig{
		Subjects:         natsbus.Subjects{Prefix: natsbus.DefaultPrefix},
		Tick:             50 * time.Millisecond,
		HeartbeatTimeout: time.Second,
		StragglerMin:     2 * time.Second,
		MinWorkers:       1,
		Grace:            30 * time.Second,
	}
}

// Coordinator runs rounds over NATS: it publishes parameters and plans,
// feeds contributions, heartbeats and membership into the allreduce state
// machine, and turns time into ticks. It owns the state machine; nothing
// else touches it.
type Coordinator struct {
	cfg  CoordinatorConfig
	spec *JobSpec
	prob *Problem
	bus  *natsbus.Bus
	log  *zap.Logger
	m    *metrics.Coordinator
	sm   *allreduce.Coordinator

	joins, hbs, leaves, contribs, fails *natsbus.Inbox
	stopResponder                       func() error

	round       uint64
	version     uint64
	published   []float64 // parameters of version
	paramsBytes []byte    // their encoding, for re-sends (nil until one is needed)
	patch       []float64 // the vector of the last patch, reused
	lastResend  time.Time
	compute     map[string]time.Duration // each worker's last reported block time
	// planBytes is the newest plan revision published, re-sent to workers
	// whose heartbeats show they missed it.
	planBytes      []byte
	lastPlanResend time.Time
	roundPlanned   bool
	dropsSeen      map[dropKey]uint64 // transport drops already counted as rejected
	// Stats counts what the loop did, for the report.
	Stats CoordinatorStats
}

// CoordinatorStats are counters kept by the coordinator's loop.
type CoordinatorStats struct {
	Rounds   uint64
	Rejected map[string]uint64
	Reissued uint64
	Dead     uint64
	// Contributions counts the contributions the state machine took:
	// blocks from workers, or group leaders' sums of several blocks.
	Contributions uint64
}

// NewCoordinator subscribes to the job's subjects and starts answering job
// requests. Call Close when done.
func NewCoordinator(cfg CoordinatorConfig, spec *JobSpec, prob *Problem, bus *natsbus.Bus, log *zap.Logger, m *metrics.Coordinator) (*Coordinator, error) {
	ticks := func(d time.Duration) int { return max(1, int((d+cfg.Tick-1)/cfg.Tick)) }
	ac := allreduce.DefaultConfig()
	ac.Job = spec.Job
	ac.HeartbeatTimeout = ticks(cfg.HeartbeatTimeout)
	ac.MinStragglerTicks = ticks(cfg.StragglerMin)
	ac.GroupSize = cfg.GroupSize
	sm, err := allreduce.NewCoordinator(ac)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, spec: spec, prob: prob, bus: bus, log: log, m: m, sm: sm,
		Stats: CoordinatorStats{Rejected: map[string]uint64{}}}
	// Rounds and parameter versions only grow, also across a restart of
	// the coordinator (workers drop what is older than what they saw):
	// a new coordinator numbers them from the clock.
	c.compute = map[string]time.Duration{}
	c.round = uint64(time.Now().UnixNano())
	c.version = c.round
	s := cfg.Subjects
	subs := []struct {
		in   **natsbus.Inbox
		subj string
		buf  int
	}{
		{&c.joins, s.Join(), 256}, {&c.hbs, s.AllHeartbeats(), 4096}, {&c.leaves, s.AllLeaves(), 256},
		{&c.contribs, s.AllContribs(), 4096}, {&c.fails, s.AllFailures(), 64},
	}
	for _, sub := range subs {
		in, err := bus.Subscribe(sub.subj, sub.buf)
		if err != nil {
			c.Close()
			return nil, err
		}
		*sub.in = in
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("trainer: %w", err)
	}
	ack, _ := json.Marshal(JobAck{Job: spec.Job})
	var lastSpec atomic.Int64
	republish := func([]byte) []byte {
		// Answer every request; publish the (possibly large) spec at most
		// every 100 ms however many workers ask at once.
		if now := time.Now().UnixNano(); now-lastSpec.Load() > int64(100*time.Millisecond) {
			lastSpec.Store(now)
			if err := bus.Publish(s.Job(), specJSON); err != nil {
				log.Warn("publishing the job spec", zap.Error(err))
			}
		}
		return ack
	}
	if c.stopResponder, err = bus.Respond(s.JobRequest(), republish); err != nil {
		c.Close()
		return nil, err
	}
	if err := bus.Publish(s.Job(), specJSON); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close stops the coordinator's subscriptions.
func (c *Coordinator) Close() {
	for _, in := range []*natsbus.Inbox{c.joins, c.hbs, c.leaves, c.contribs, c.fails} {
		if in != nil {
			_ = in.Close()
		}
	}
	if c.stopResponder != nil {
		_ = c.stopResponder()
	}
}

// Live returns the live workers.
func (c *Coordinator) Live() []allreduce.WorkerID { return c.sm.Live() }

// WaitForWorkers returns when n workers have joined, or an error when
// timeout passes first.
func (c *Coordinator) WaitForWorkers(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(c.cfg.Tick)
	defer tick.Stop()
	for len(c.sm.Live()) < n {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("trainer: %d of %d workers joined within %v (live: %v)", len(c.sm.Live()), n, timeout, c.sm.Live())
		case <-tick.C:
			c.sm.Tick()
			c.countDrops()
		case m, ok := <-c.joins.C:
			err = c.hello(m, ok, c.sm.Join)
		case m, ok := <-c.hbs.C:
			err = c.hello(m, ok, c.sm.Heartbeat)
		case m, ok := <-c.leaves.C:
			err = c.hello(m, ok, c.sm.Leave)
		case m, ok := <-c.fails.C:
			err = c.failure(m, ok)
		}
		if err != nil {
			return err
		}
		c.drainEvents()
	}
	return nil
}

// hello handles a join, heartbeat or leave taken from a subscription; it
// fails only when the subscription was closed.
func (c *Coordinator) hello(m natsbus.Message, ok bool, f func(allreduce.WorkerID)) error {
	if !ok {
		return errBusClosed
	}
	c.onHello(m, f)
	return nil
}

// failure handles a worker's failure report: the job stops with it.
func (c *Coordinator) failure(m natsbus.Message, ok bool) error {
	if !ok {
		return errBusClosed
	}
	return c.onFailure(m.Data)
}

func (c *Coordinator) onHello(m natsbus.Message, f func(allreduce.WorkerID)) {
	var h Hello
	if err := decodeControl(m.Data, &h); err != nil {
		c.reject("malformed", err)
		return
	}
	if h.Job != c.spec.Job {
		c.reject("job", fmt.Errorf("hello from %s for job %q", h.Worker, h.Job))
		return
	}
	if natsbus.ValidWorkerName(h.Worker) != nil {
		c.reject("malformed", fmt.Errorf("worker name %q", h.Worker))
		return
	}
	if m.Subject != c.cfg.Subjects.Join() {
		if err := c.checkSender(m.Subject, h.Worker); err != nil {
			c.reject("unknown_worker", err)
			return
		}
	}
	f(allreduce.WorkerID(h.Worker))
	if _, seen := c.compute[h.Worker]; h.ComputeSeconds > 0 && h.ComputeSeconds < 1e6 && (seen || len(c.compute) < maxTrackedWorkers) {
		c.compute[h.Worker] = time.Duration(h.ComputeSeconds * float64(time.Second))
	}
	// A worker behind on the round missed the plan (a NATS restart, say):
	// send the newest revision again, at most twice per heartbeat timeout.
	if c.planBytes != nil && h.Round < c.round && time.Since(c.lastPlanResend) > c.cfg.HeartbeatTimeout/2 {
		if _, done := c.sm.Result(); !done {
			c.lastPlanResend = time.Now()
			if err := c.bus.Publish(c.cfg.Subjects.Plan(), c.planBytes); err != nil {
				c.log.Warn("re-publishing the plan", zap.Error(err))
			}
		}
	}
	// A worker behind on parameters missed a broadcast: send it again,
	// at most once per heartbeat timeout.
	if c.published != nil && h.Version < c.version && time.Since(c.lastResend) > c.cfg.HeartbeatTimeout/2 {
		c.lastResend = time.Now()
		b, err := c.fullParams()
		if err == nil {
			err = c.bus.Publish(c.cfg.Subjects.Params(), b)
		}
		if err != nil {
			c.log.Warn("re-publishing parameters", zap.Error(err))
		}
	}
}

// checkSender checks that the per-worker subject a message came on names
// the worker the message claims to be from. The server's permissions tie
// the subject, not the payload, to the sender's credentials
// (natsbus.WorkerPermissions), so a worker cannot speak for another.
func (c *Coordinator) checkSender(subject, worker string) error {
	w, err := c.cfg.Subjects.Worker(subject)
	if err != nil {
		return err
	}
	if w != worker {
		return fmt.Errorf("trainer: a message on %s claims to come from worker %q", subject, worker)
	}
	return nil
}

// dropKey names a drop counter of one of the coordinator's inboxes.
type dropKey struct {
	in     *natsbus.Inbox
	reason natsbus.DropReason
}

// dropRejectReason maps the transport's drops of hostile or corrupt input
// to the reasons of dpt_messages_rejected_total; the other drops (evicted,
// slow or full consumer, chunks of an abandoned message) are losses under
// load, not rejections, and give false.
func dropRejectReason(r natsbus.DropReason) (string, bool) {
	switch r {
	case natsbus.DropMalformed, natsbus.DropVersion, natsbus.DropConflict:
		return "malformed", true
	case natsbus.DropChecksum:
		return "checksum", true
	case natsbus.DropOversized:
		return "oversized", true
	case natsbus.DropDuplicate:
		return "duplicate", true
	}
	return "", false
}

// countDrops adds what the inboxes dropped since the last call (frames that
// never decoded: bad framing, checksum, oversized claims) to the rejected
// counters. It runs once per tick.
func (c *Coordinator) countDrops() {
	if c.dropsSeen == nil {
		c.dropsSeen = map[dropKey]uint64{}
	}
	for _, in := range []*natsbus.Inbox{c.joins, c.hbs, c.leaves, c.contribs, c.fails} {
		for _, rc := range in.Dropped() {
			reason, ok := dropRejectReason(rc.Reason)
			k := dropKey{in, rc.Reason}
			if !ok || rc.Count <= c.dropsSeen[k] {
				continue
			}
			n := rc.Count - c.dropsSeen[k]
			c.dropsSeen[k] = rc.Count
			c.Stats.Rejected[reason] += n
			if c.m != nil {
				c.m.Transport.Rejected.WithLabelValues(reason).Add(float64(n))
			}
			c.log.Debug("transport dropped messages", zap.String("reason", reason), zap.String("drop", rc.Reason.String()),
				zap.String("subject", in.Subject()), zap.Uint64("count", n))
		}
	}
}

func (c *Coordinator) onFailure(b []byte) error {
	var f Failure
	if err := decodeControl(b, &f); err != nil {
		c.reject("malformed", err)
		return nil
	}
	if f.Job != c.spec.Job {
		return nil
	}
	return fmt.Errorf("trainer: worker %s: %s", f.Worker, f.Error)
}

func (c *Coordinator) reject(reason string, err error) {
	c.Stats.Rejected[reason]++
	if c.m != nil {
		c.m.Transport.Rejected.WithLabelValues(reason).Inc()
	}
	c.log.Debug("rejected a message", zap.String("reason", reason), zap.Error(err))
}

// drainEvents logs and counts what the state machine reports.
func (c *Coordinator) drainEvents() {
	for _, e := range c.sm.Events() {
		switch e.Kind {
		case allreduce.Delivered:
			if c.m != nil {
				c.m.ObserveContribution(string(e.Worker), c.compute[string(e.Worker)], time.Duration(e.Ticks)*c.cfg.Tick)
			}
		case allreduce.WorkerDead:
			c.Stats.Dead++
			c.log.Warn("worker declared dead", zap.String("worker", string(e.Worker)), zap.Uint64("round", e.Round))
		case allreduce.WorkerJoined:
			c.log.Info("worker joined", zap.String("worker", string(e.Worker)))
		case allreduce.WorkerLeft:
			c.log.Info("worker left", zap.String("worker", string(e.Worker)))
		case allreduce.Reissued, allreduce.Speculative:
			c.Stats.Reissued++
			reason := "dead"
			if e.Kind == allreduce.Speculative {
				reason = "straggler"
			}
			if c.m != nil {
				c.m.Reissued.WithLabelValues(reason).Inc()
			}
			c.log.Info("micro-shards re-issued", zap.String("reason", reason), zap.String("to", string(e.Worker)),
				zap.Int("lo", e.Range.Lo), zap.Int("hi", e.Range.Hi), zap.Uint64("round", e.Round))
		}
	}
	if c.m != nil {
		c.m.WorkersLive.Set(float64(len(c.sm.Live())))
	}
}

// maxTrackedWorkers bounds the per-worker state kept for metrics.
const maxTrackedWorkers = 4096

// fullPass is the epoch a plan carries for a round over every row of each
// micro-shard (Rounder's epoch < 0).
const fullPass = allreduce.MaxEpoch

// Round implements Rounder over NATS.
func (c *Coordinator) Round(ctx context.Context, kind allreduce.Kind, theta []float64, epoch int, step uint64) ([]float64, error) {
	t0 := time.Now()
	if err := c.publishParams(theta); err != nil {
		return nil, err
	}
	shards := c.spec.Train.Shards
	if kind == allreduce.KindEval {
		if c.spec.Test == nil {
			return nil, errors.New("trainer: evaluation round without a test set")
		}
		shards = c.spec.Test.Shards
	}
	c.round++
	wireEpoch := epoch
	if epoch < 0 {
		wireEpoch = fullPass
	}
	spec := allreduce.RoundSpec{Round: c.round, Step: step, Epoch: wireEpoch, Kind: kind,
		ParamsVersion: c.version, Shards: shards, VecLen: c.prob.VecLen(kind)}
	t1 := time.Now()
	if err := c.startRound(ctx, spec); err != nil {
		return nil, err
	}
	c.Stats.Rounds++
	t2 := time.Now()
	if err := c.flush(); err != nil {
		return nil, err
	}
	if c.m != nil {
		c.m.ObservePhase(metrics.PhasePlan, t2.Sub(t1))
		c.m.ObservePhase(metrics.PhaseBroadcast, t1.Sub(t0)+time.Since(t2))
	}
	waitStart := time.Now()
	var reduce time.Duration // time in the state machine's Deliver, which adds along the tree
	tick := time.NewTicker(c.cfg.Tick)
	defer tick.Stop()
	var starved time.Time // when live workers fell below the minimum
	for {
		if err := c.flush(); err != nil {
			return nil, err
		}
		if vec, ok := c.sm.Result(); ok {
			if c.m != nil {
				c.m.ObservePhase(metrics.PhaseComputeWait, time.Since(waitStart)-reduce)
				c.m.ObservePhase(metrics.PhaseReduce, reduce)
			}
			return vec, nil
		}
		var err error
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case m, ok := <-c.contribs.C:
			if !ok {
				return nil, errBusClosed
			}
			reduce += c.deliver(m)
		case m, ok := <-c.joins.C:
			err = c.hello(m, ok, c.sm.Join)
		case m, ok := <-c.hbs.C:
			err = c.hello(m, ok, c.sm.Heartbeat)
		case m, ok := <-c.leaves.C:
			err = c.hello(m, ok, c.sm.Leave)
		case m, ok := <-c.fails.C:
			err = c.failure(m, ok)
		case <-tick.C:
			c.sm.Tick()
			c.countDrops()
			live := len(c.sm.Live())
			switch {
			case live >= c.cfg.MinWorkers:
				starved = time.Time{}
			case starved.IsZero():
				starved = time.Now()
				c.log.Warn("too few live workers: waiting", zap.Int("live", live), zap.Int("min", c.cfg.MinWorkers), zap.Duration("grace", c.cfg.Grace))
			case time.Since(starved) > c.cfg.Grace:
				return nil, fmt.Errorf("trainer: round %d: %d live workers, fewer than %d, for longer than %v; pending micro-shards %v",
					c.round, live, c.cfg.MinWorkers, c.cfg.Grace, c.sm.Pending())
			}
			if live > 0 && !c.roundPlanned {
				// workers came back after the round found none: plan it now
				if err := c.sm.Start(spec); err == nil {
					c.roundPlanned = true
				}
			}
		}
		if err != nil {
			return nil, err
		}
		c.drainEvents()
	}
}

// deliver feeds a contribution to the state machine, counting and rejecting
// what is malformed or sent in another worker's name. It returns the time
// spent in the state machine, which adds the vector along the tree.
func (c *Coordinator) deliver(m natsbus.Message) time.Duration {
	if c.m != nil {
		c.m.Transport.ReceivedBytes.WithLabelValues("contrib").Add(float64(len(m.Data)))
		c.m.Transport.ReceivedMessages.WithLabelValues("contrib").Inc()
	}
	var ct allreduce.Contribution
	limit := max(c.prob.VecLen(allreduce.KindGrad), c.prob.VecLen(allreduce.KindEval))
	if err := ct.UnmarshalBinaryLimit(m.Data, limit); err != nil {
		c.reject(rejectReason(err), err)
		return 0
	}
	if err := c.checkSender(m.Subject, string(ct.Worker)); err != nil {
		c.reject("unknown_worker", err)
		return 0
	}
	start := time.Now()
	if err := c.sm.Deliver(ct); err != nil {
		c.reject(rejectReason(err), err)
	} else {
		c.Stats.Contributions++
	}
	return time.Since(start)
}

func (c *Coordinator) startRound(ctx context.Context, spec allreduce.RoundSpec) error {
	c.roundPlanned = false
	err := c.sm.Start(spec)
	switch {
	case err == nil:
		c.roundPlanned = true
	case errors.Is(err, allreduce.ErrNoWorkers):
		c.log.Warn("no live workers at the start of a round; waiting", zap.Uint64("round", spec.Round))
	default:
		return err
	}
	return nil
}

func rejectReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{allreduce.ErrStale, "stale"}, {allreduce.ErrDuplicate, "duplicate"}, {allreduce.ErrUnknownWorker, "unknown_worker"},
		{allreduce.ErrRange, "range"}, {allreduce.ErrLength, "length"}, {allreduce.ErrNotFinite, "not_finite"},
		{allreduce.ErrJob, "job"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "malformed"
}

func (c *Coordinator) publishParams(theta []float64) error {
	if c.published != nil && slices.EqualFunc(c.published, theta, func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b)
	}) {
		return nil
	}
	// A patch against the previous version when it is shorter (few
	// parameters changed: sparse data); the whole of θ otherwise, and for
	// re-sends, which go to workers that may have missed the base.
	var b []byte
	if c.published != nil {
		p := allreduce.PatchParams(c.spec.Job, c.version+1, theta, c.version, c.published, c.patch)
		c.patch = p.Theta
		if p.Compact() {
			var err error
			if b, err = p.MarshalBinary(); err != nil {
				return err
			}
		}
	}
	c.version++
	c.published = append(c.published[:0], theta...)
	c.paramsBytes = nil // encoded when a re-send needs it
	if b == nil {
		var err error
		if b, err = c.fullParams(); err != nil {
			return err
		}
	}
	if c.m != nil {
		c.m.Transport.SentBytes.WithLabelValues("params").Add(float64(len(b)))
		c.m.Transport.SentMessages.WithLabelValues("params").Inc()
	}
	return c.bus.Publish(c.cfg.Subjects.Params(), b)
}

// fullParams returns the encoding of the whole parameters of the current
// version.
func (c *Coordinator) fullParams() ([]byte, error) {
	if c.paramsBytes == nil {
		p := allreduce.Params{Job: c.spec.Job, Version: c.version, Theta: c.published}
		b, err := p.MarshalBinary()
		if err != nil {
			return nil, err
		}
		c.paramsBytes = b
	}
	return c.paramsBytes, nil
}

// flush publishes the plans the state machine queued.
func (c *Coordinator) flush() error {
	for _, p := range c.sm.Outbox() {
		b, err := p.MarshalBinary()
		if err != nil {
			return err
		}
		if c.m != nil {
			c.m.Transport.SentBytes.WithLabelValues("plan").Add(float64(len(b)))
			c.m.Transport.SentMessages.WithLabelValues("plan").Inc()
		}
		if err := c.bus.Publish(c.cfg.Subjects.Plan(), b); err != nil {
			return err
		}
		c.planBytes = b
	}
	return nil
}
