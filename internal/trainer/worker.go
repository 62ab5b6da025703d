package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/eval"
	"github.com/dptrain/dptrain/internal/metrics"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/natsbus"
	"github.com/dptrain/dptrain/internal/shard"
)

// WorkerConfig configures a worker.
type WorkerConfig struct {
	// Name identifies the worker; it must be a single NATS subject token.
	Name     string
	Subjects natsbus.Subjects
	// Heartbeat is the interval between heartbeats.
	Heartbeat time.Duration
	// Parallelism is the number of goroutines computing micro-shards.
	Parallelism int
	// Shared, for a worker inside the coordinator's process, holds the
	// coordinator's datasets of one job: the worker uses them instead of
	// reading the files (nil: it reads them).
	Shared *SharedData
}

// SharedData are the datasets of job Job as the coordinator holds them:
// read, held out and scaled as its JobSpec describes, so that they are the
// rows a worker would read itself. Workers only read them.
type SharedData struct {
	Job         string
	Train, Test *shard.Dataset
}

// DefaultWorkerConfig returns the defaults for a worker called name.
func DefaultWorkerConfig(name string) WorkerConfig {
	return WorkerConfig{
		Name:        name,
		Subjects:    natsbus.Subjects{Prefix: natsbus.DefaultPrefix},
		Heartbeat:   200 * time.Millisecond,
		Parallelism: 1,
	}
}

// Validate reports a configuration error.
func (c WorkerConfig) Validate() error {
	if err := natsbus.ValidWorkerName(c.Name); err != nil {
		return fmt.Errorf("trainer: worker name: %w", err)
	}
	if c.Heartbeat <= 0 || c.Parallelism < 1 {
		return fmt.Errorf("trainer: heartbeat %v and parallelism %d must be positive", c.Heartbeat, c.Parallelism)
	}
	return nil
}

// Worker serves jobs: it loads the job's data, then computes the
// contributions of the micro-shards the coordinator's plans assign to it,
// at the parameters of the plan.
type Worker struct {
	cfg WorkerConfig
	bus *natsbus.Bus
	log *zap.Logger
	m   *metrics.Worker

	// job state, owned by Run's goroutine
	job     *jobState
	theta   map[uint64][]float64 // by version; at most two kept
	version uint64
	round   uint64
	aw      *allreduce.Worker // which blocks of the newest plan are still to send
	waiting []task            // blocks waiting for their parameters

	// relay adds up the blocks of the worker's group when it leads one;
	// Run's goroutine and the compute goroutines share it.
	relayMu sync.Mutex
	relay   *allreduce.Relay

	current     atomic.Uint64 // the round compute goroutines should work on
	lastCompute atomic.Int64  // nanoseconds spent on the last block
	tasks       chan task
}

// jobState is a job a worker serves; it is immutable once built, so compute
// goroutines share it without locks.
type jobState struct {
	spec        *JobSpec
	prob        *Problem
	train, test *shardSet
}

type task struct {
	job   *jobState
	plan  *allreduce.Plan
	block allreduce.Range
	theta []float64
}

// NewWorker returns a worker that talks over bus.
func NewWorker(cfg WorkerConfig, bus *natsbus.Bus, log *zap.Logger, m *metrics.Worker) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, bus: bus, log: log.With(zap.String("worker", cfg.Name)), m: m}, nil
}

// Run serves until ctx is cancelled; then it tells the coordinator it is
// leaving and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	s := w.cfg.Subjects
	jobIn, err := w.bus.Subscribe(s.Job(), 16)
	if err != nil {
		return err
	}
	defer jobIn.Close()
	paramsIn, err := w.bus.Subscribe(s.Params(), 16)
	if err != nil {
		return err
	}
	defer paramsIn.Close()
	planIn, err := w.bus.Subscribe(s.Plan(), 256)
	if err != nil {
		return err
	}
	defer planIn.Close()
	relayIn, err := w.bus.Subscribe(s.RelayInbox(w.cfg.Name), 4096)
	if err != nil {
		return err
	}
	defer relayIn.Close()

	w.tasks = make(chan task, 4096)
	var wg sync.WaitGroup
	computeCtx, stopCompute := context.WithCancel(ctx)
	for g := 0; g < w.cfg.Parallelism; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.computeLoop(computeCtx)
		}()
	}
	defer func() {
		stopCompute()
		wg.Wait()
	}()

	hb := time.NewTicker(w.cfg.Heartbeat)
	defer hb.Stop()
	w.requestJob(ctx)
	for {
		select {
		case <-ctx.Done():
			w.leave()
			return nil
		case m, ok := <-jobIn.C:
			if !ok {
				return errBusClosed
			}
			var spec JobSpec
			if err := decodeJSON(m.Data, &spec, maxSpec); err != nil {
				w.log.Warn("bad job message", zap.Error(err))
				continue
			}
			w.onJob(ctx, &spec)
		case m, ok := <-paramsIn.C:
			if !ok {
				return errBusClosed
			}
			if w.job == nil {
				continue // parameters mean nothing before the job
			}
			var p allreduce.Params
			if err := p.UnmarshalBinaryLimit(m.Data, w.job.prob.P); err != nil {
				if errors.Is(err, allreduce.ErrLength) {
					// Another job's parameters, longer than this one's.
					w.log.Debug("parameters of another length", zap.Error(err))
				} else {
					w.log.Warn("bad parameters message", zap.Error(err))
				}
				continue
			}
			w.onParams(&p)
		case m, ok := <-planIn.C:
			if !ok {
				return errBusClosed
			}
			var p allreduce.Plan
			if err := p.UnmarshalBinary(m.Data); err != nil {
				w.log.Warn("bad plan message", zap.Error(err))
				continue
			}
			w.onPlan(ctx, &p)
		case m, ok := <-relayIn.C:
			if !ok {
				return errBusClosed
			}
			w.onRelayed(m)
		case <-hb.C:
			if w.job == nil {
				w.requestJob(ctx)
				continue
			}
			w.hello(s.Heartbeat(w.cfg.Name))
		}
	}
}

func (w *Worker) requestJob(ctx context.Context) {
	// The reply is a small acknowledgement; the coordinator answers by
	// publishing the spec on the job subject, where Run receives it.
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := w.bus.Request(rctx, w.cfg.Subjects.JobRequest(), []byte(w.cfg.Name)); err != nil {
		w.log.Debug("no job yet", zap.Error(err))
	}
}

func (w *Worker) hello(subject string) {
	if w.job == nil {
		return
	}
	b, _ := json.Marshal(Hello{Job: w.job.spec.Job, Worker: w.cfg.Name, Version: w.version, Round: w.round,
		ComputeSeconds: time.Duration(w.lastCompute.Load()).Seconds()})
	if err := w.bus.Publish(subject, b); err != nil {
		w.log.Debug("publish", zap.String("subject", subject), zap.Error(err))
	}
}

func (w *Worker) leave() {
	w.hello(w.cfg.Subjects.Leave(w.cfg.Name))
	fctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = w.bus.Flush(fctx) // best effort: the coordinator also detects silence
}

// onJob loads a job's data and joins it. A job the worker already serves is
// joined again (the coordinator may have restarted).
func (w *Worker) onJob(ctx context.Context, spec *JobSpec) {
	if w.job != nil && w.job.spec.Job == spec.Job {
		w.hello(w.cfg.Subjects.Join())
		return
	}
	start := time.Now()
	job, err := w.load(ctx, spec)
	if err != nil {
		w.log.Error("cannot serve job", zap.String("job", spec.Job), zap.Error(err))
		b, _ := json.Marshal(Failure{Job: spec.Job, Worker: w.cfg.Name, Error: err.Error()})
		_ = w.bus.Publish(w.cfg.Subjects.Failure(w.cfg.Name), b)
		return
	}
	w.job = job
	if w.m != nil {
		w.m.RowsHeld.Set(float64(job.train.rowsHeld()))
	}
	w.theta, w.version, w.round = map[uint64][]float64{}, 0, 0
	w.aw, w.waiting = allreduce.NewWorker(spec.Job, allreduce.WorkerID(w.cfg.Name)), nil
	w.relayMu.Lock()
	w.relay = allreduce.NewRelay(spec.Job, allreduce.WorkerID(w.cfg.Name))
	w.relayMu.Unlock()
	w.current.Store(0)
	if w.m != nil {
		w.m.DataLoadDuration.Observe(time.Since(start).Seconds())
	}
	w.log.Info("joined job", zap.String("job", spec.Job), zap.Duration("load", time.Since(start)),
		zap.Int("params", job.prob.P), zap.String("data", job.train.mode()))
	w.hello(w.cfg.Subjects.Join())
}

func (w *Worker) load(ctx context.Context, spec *JobSpec) (*jobState, error) {
	prob, err := NewProblem(*spec)
	if err != nil {
		return nil, err
	}
	j := &jobState{spec: spec, prob: prob}
	if sh := w.cfg.Shared; sh != nil && sh.Job == spec.Job {
		return sharedJob(j, sh)
	}
	if j.train, _, err = openShardSet(ctx, spec.Train, spec, w.bus); err != nil {
		return nil, err
	}
	if spec.Test != nil {
		if j.test, _, err = openShardSet(ctx, *spec.Test, spec, w.bus); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// sharedJob gives j the coordinator's datasets sh.
func sharedJob(j *jobState, sh *SharedData) (*jobState, error) {
	spec := j.spec
	if sh.Train == nil || sh.Train.Rows() != spec.Train.Rows {
		return nil, fmt.Errorf("trainer: the shared training set does not have the job's %d rows", spec.Train.Rows)
	}
	j.train = wholeSet(sh.Train, spec.Train.Shards)
	j.train.shared = true
	if spec.Test != nil {
		if sh.Test == nil || sh.Test.Rows() != spec.Test.Rows {
			return nil, fmt.Errorf("trainer: the shared test set does not have the job's %d rows", spec.Test.Rows)
		}
		j.test = wholeSet(sh.Test, spec.Test.Shards)
		j.test.shared = true
	}
	return j, nil
}

func (s *shardSet) mode() string {
	switch {
	case s.shared:
		return "shared"
	case s.whole != nil:
		return "file"
	}
	return "object-store"
}

func (w *Worker) onParams(p *allreduce.Params) {
	if w.job == nil || p.Job != w.job.spec.Job || p.Version <= w.version {
		return
	}
	if len(p.Theta) != w.job.prob.P {
		w.log.Warn("parameters of the wrong size", zap.Int("len", len(p.Theta)), zap.Int("want", w.job.prob.P))
		return
	}
	var base []float64
	if p.Base != 0 {
		var ok bool
		if base, ok = w.theta[p.Base]; !ok {
			// The base was missed: the heartbeat shows the version behind,
			// and the coordinator re-sends the whole parameters.
			w.log.Debug("parameters patch against a version not held", zap.Uint64("version", p.Version), zap.Uint64("base", p.Base))
			return
		}
	}
	theta, err := p.Resolve(base)
	if err != nil {
		w.log.Warn("bad parameters patch", zap.Error(err))
		return
	}
	w.theta[p.Version] = theta
	for v := range w.theta { // deleting old versions; order does not matter
		if v+1 < p.Version {
			delete(w.theta, v)
		}
	}
	w.version = p.Version
	if w.m != nil {
		w.m.ParamsReceived.Inc()
	}
	// release blocks that waited for these parameters
	kept := w.waiting[:0]
	for _, t := range w.waiting {
		if th, ok := w.theta[t.plan.ParamsVersion]; ok {
			t.theta = th
			w.tasks <- t
		} else if t.plan.Round == w.round {
			kept = append(kept, t)
		}
	}
	w.waiting = kept
}

func (w *Worker) onPlan(ctx context.Context, p *allreduce.Plan) {
	if w.job == nil || p.Job != w.job.spec.Job {
		w.requestJob(ctx)
		return
	}
	if err := w.withRelay(func(g *allreduce.Relay) error { _, err := g.Apply(p); return err }); err != nil {
		w.log.Warn("plan refused by the relay", zap.Error(err))
	}
	if newer, err := w.aw.Apply(p); err != nil || !newer {
		return
	}
	if p.Round != w.round {
		w.round = p.Round
		w.current.Store(p.Round)
		w.waiting = nil
	}
	// Queue every block the plan gives this worker that it has not sent at
	// this revision (a re-issue to the same worker asks for it again).
	for {
		r, ok := w.aw.Next()
		if !ok {
			break
		}
		w.aw.Sent(p.Round, r)
		t := task{job: w.job, plan: p, block: r}
		if th, ok := w.theta[p.ParamsVersion]; ok {
			t.theta = th
			w.tasks <- t
		} else {
			w.waiting = append(w.waiting, t)
		}
	}
}

// onRelayed takes a contribution that a member of the worker's group sent
// it to add up (see allreduce.Relay). The sender is the subject's, which
// the server's permissions tie to its credentials; the contribution must
// carry the same name.
func (w *Worker) onRelayed(m natsbus.Message) {
	if w.job == nil {
		return
	}
	if w.m != nil {
		w.m.Transport.ReceivedBytes.WithLabelValues("relay").Add(float64(len(m.Data)))
		w.m.Transport.ReceivedMessages.WithLabelValues("relay").Inc()
	}
	var c allreduce.Contribution
	from, err := w.cfg.Subjects.RelaySender(w.cfg.Name, m.Subject)
	if err == nil {
		limit := max(w.job.prob.VecLen(allreduce.KindGrad), w.job.prob.VecLen(allreduce.KindEval))
		err = c.UnmarshalBinaryLimit(m.Data, limit)
	}
	if err == nil && string(c.Worker) != from {
		err = fmt.Errorf("%w: contribution of %q sent on %s", allreduce.ErrUnknownWorker, c.Worker, m.Subject)
	}
	if err == nil {
		err = w.withRelay(func(g *allreduce.Relay) error { return g.Add(c) })
	}
	if err != nil {
		reason := rejectReason(err)
		if w.m != nil {
			w.m.Transport.Rejected.WithLabelValues(reason).Inc()
		}
		w.log.Debug("relayed contribution rejected", zap.String("reason", reason), zap.Error(err))
	}
}

// withRelay runs f on the worker's relay, then publishes to the
// coordinator what the relay hands on, and returns f's error.
func (w *Worker) withRelay(f func(*allreduce.Relay) error) error {
	w.relayMu.Lock()
	err := f(w.relay)
	out := w.relay.Outbox()
	w.relayMu.Unlock()
	var buf []byte
	for _, c := range out {
		var encErr error
		if buf, encErr = c.AppendBinary(buf[:0]); encErr != nil {
			w.log.Error("encoding a relayed sum", zap.Error(encErr))
			continue
		}
		if pubErr := w.bus.Publish(w.cfg.Subjects.Contrib(w.cfg.Name), buf); pubErr != nil {
			w.log.Warn("publishing a relayed sum", zap.Error(pubErr))
		}
	}
	return err
}

// send sends contribution c where plan p routes it: to the coordinator, to
// the group leader, or into this worker's own relay.
func (w *Worker) send(p *allreduce.Plan, c allreduce.Contribution, enc []byte) ([]byte, error) {
	me := allreduce.WorkerID(w.cfg.Name)
	leader := p.Route(me, c.Range)
	if leader == me {
		c.Vec = slices.Clone(c.Vec) // the relay keeps it; the compute goroutine reuses its own
		err := w.withRelay(func(g *allreduce.Relay) error { return g.Add(c) })
		if errors.Is(err, allreduce.ErrStale) {
			err = nil // the round moved on while the block was computed
		}
		return enc, err
	}
	enc, err := c.AppendBinary(enc[:0])
	if err != nil {
		return enc, fmt.Errorf("encoding a contribution: %w", err)
	}
	subject := w.cfg.Subjects.Contrib(w.cfg.Name)
	if leader != "" {
		subject = w.cfg.Subjects.Relay(string(leader), w.cfg.Name)
	}
	if err := w.bus.Publish(subject, enc); err != nil {
		return enc, fmt.Errorf("publishing a contribution: %w", err)
	}
	return enc, nil
}

// computeLoop computes queued blocks and publishes their contributions.
func (w *Worker) computeLoop(ctx context.Context) {
	var (
		m    model.Model
		prob *Problem
		err  error
		sc   scratch
	)
	for {
		var t task
		select {
		case <-ctx.Done():
			return
		case t = <-w.tasks:
		}
		if t.plan.Round != w.current.Load() {
			continue // superseded
		}
		if t.job.prob != prob {
			prob = t.job.prob
			if m, err = prob.NewModel(); err != nil {
				w.log.Error("building the model", zap.Error(err))
				continue
			}
		}
		start := time.Now()
		vec, err := w.block(ctx, m, &sc, t)
		if err != nil {
			if !errors.Is(err, errSuperseded) && ctx.Err() == nil {
				w.log.Error("computing a block", zap.Error(err))
				b, _ := json.Marshal(Failure{Job: t.plan.Job, Worker: w.cfg.Name, Error: err.Error()})
				_ = w.bus.Publish(w.cfg.Subjects.Failure(w.cfg.Name), b)
			}
			continue
		}
		c := allreduce.Contribution{Job: t.plan.Job, Round: t.plan.Round, Worker: allreduce.WorkerID(w.cfg.Name), Range: t.block, Vec: vec}
		if sc.enc, err = w.send(t.plan, c, sc.enc); err != nil {
			w.log.Warn("sending a contribution", zap.Error(err))
			continue
		}
		took := time.Since(start)
		w.lastCompute.Store(int64(took))
		if w.m != nil {
			w.m.ComputeDuration.Observe(took.Seconds())
			w.m.ContributionsSent.Inc()
			w.m.Step.Set(float64(t.plan.Step))
		}
	}
}

var (
	errSuperseded = errors.New("trainer: round superseded")
	errBusClosed  = errors.New("trainer: the NATS connection was closed")
)

// scratch is a compute goroutine's reusable memory.
type scratch struct {
	summer  allreduce.Summer
	sums    *eval.Sums
	batches shard.BatchCache // the epoch's permutation of each micro-shard
	perm    []float64        // Unpermute's scratch
	// The worker's last contribution and its encoding, whose memory the
	// next block reuses: a contribution is published (copied) before the
	// next block starts.
	vec []float64
	enc []byte
}

func (w *Worker) block(ctx context.Context, m model.Model, sc *scratch, t task) ([]float64, error) {
	set := t.job.train
	if t.plan.Kind == allreduce.KindEval {
		set = t.job.test
	}
	if t.plan.VecLen != t.job.prob.VecLen(t.plan.Kind) {
		return nil, fmt.Errorf("trainer: plan wants vectors of %d values, the job gives %d", t.plan.VecLen, t.job.prob.VecLen(t.plan.Kind))
	}
	live := func() bool { return t.plan.Round == w.current.Load() }
	epoch := t.plan.Epoch
	if epoch == fullPass {
		epoch = -1
	}
	vec, err := computeBlock(ctx, t.job.prob, m, sc, set, t.plan.Kind, epoch, t.plan.Step, t.theta, t.block, live, sc.vec)
	if err == nil {
		sc.vec = vec
	}
	return vec, err
}

// computeBlock computes the contribution of an aligned block of
// micro-shards: each leaf's sums in row order, combined along the fixed
// reduction tree. live is polled between leaves; when it turns false the
// work is abandoned with errSuperseded. The sum goes into out when it has
// room (out's elements are all overwritten), else into a new vector.
func computeBlock(ctx context.Context, prob *Problem, m model.Model, sc *scratch, set *shardSet, kind allreduce.Kind, epoch int, step uint64,
	theta []float64, block allreduce.Range, live func() bool, out []float64) ([]float64, error) {
	if set == nil {
		return nil, fmt.Errorf("trainer: a round of kind %d for a dataset this job does not have", kind)
	}
	if block.Lo < 0 || block.Lo >= block.Hi || block.Hi > len(set.ranges) {
		return nil, fmt.Errorf("trainer: block %v outside the %d micro-shards of the dataset", block, len(set.ranges))
	}
	n := prob.VecLen(kind)
	// A mini-batch step reads its rows in the order of the epoch's
	// permutation. When one step covers the whole epoch (a batch at least
	// as large as the data) the permutation would only change the order of
	// the additions, so the rows are read in place, sequentially.
	var sched *shard.Schedule
	if kind == allreduce.KindGrad && epoch >= 0 && prob.Spec.BatchSize > 0 {
		sched = &shard.Schedule{Seed: prob.Spec.Seed, Shards: set.ranges, BatchSize: prob.Spec.BatchSize}
		if sched.StepsPerEpoch() == 1 {
			sched = nil
		}
	}
	var leafErr error
	dst := out[:0]
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	// A model that writes gradients cheaper in an order of its own does so
	// for every leaf of the block (the micro-shards of a dataset share its
	// storage); their sum is put back in θ's order once, before it leaves.
	gorder, _ := m.(model.GradOrder)
	if kind != allreduce.KindGrad {
		gorder = nil
	}
	var permuted, decided bool
	sc.summer.SumInto(dst, block, len(set.ranges), func(i int, v []float64) {
		if leafErr != nil {
			return
		}
		if live != nil && !live() {
			leafErr = errSuperseded
			return
		}
		var index []int32
		if sched != nil {
			index = sc.batches.Batch(*sched, epoch, int(step%uint64(sched.StepsPerEpoch())), i)
		}
		rows, err := set.rows(ctx, i, index)
		if err != nil {
			leafErr = err
			return
		}
		if sc.sums == nil || sc.sums.L.Len() != prob.E {
			sc.sums = prob.NewSums()
		}
		p := gorder != nil && gorder.Permutes(rows.D)
		if decided && p != permuted {
			leafErr = fmt.Errorf("trainer: micro-shard %d is not stored like the others of block %v", i, block)
			return
		}
		permuted, decided = p, true
		var perm model.GradOrder
		if p {
			perm = gorder
		}
		prob.leaf(v, kind, m, sc.sums, theta, rows, perm)
	})
	if leafErr != nil {
		return nil, leafErr
	}
	if permuted {
		if len(sc.perm) < prob.P {
			sc.perm = make([]float64, prob.P)
		}
		gorder.Unpermute(dst[:prob.P], sc.perm[:prob.P])
	}
	return dst, nil
}
