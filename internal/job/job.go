// Package job runs a whole training job: it reads the data, starts (or
// connects to) the NATS server, publishes micro-shards when workers need
// them, starts local workers, waits for the expected workers, trains, and
// returns the report. The coordinator binary, the experiments and the
// end-to-end tests all run jobs through it.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dptrain/dptrain/internal/eval"
	"github.com/dptrain/dptrain/internal/metrics"
	"github.com/dptrain/dptrain/internal/modelfile"
	"github.com/dptrain/dptrain/internal/natsbus"
	"github.com/dptrain/dptrain/internal/trainer"
)

// Config describes a job.
type Config struct {
	Data  trainer.DataConfig
	Job   trainer.JobConfig
	Train trainer.TrainConfig
	// Prepared, when set, is used instead of reading Data again.
	Prepared *trainer.Prepared

	Coordinator trainer.CoordinatorConfig
	// LocalWorkers run inside this process and speak NATS like external
	// ones; Workers is the number of external workers to wait for.
	LocalWorkers, Workers int
	WorkerThreads         int
	JoinTimeout           time.Duration
	// DataVia is "path" (workers read the files), "nats" (the object
	// store) or "auto" (nats when external workers are expected).
	DataVia string

	// CheckpointDir holds checkpoints; when empty they go to the JetStream
	// object store (bucket trainer.CheckpointBucket) if the server has
	// JetStream. CheckpointEvery is in optimizer steps (0: only at the end
	// and on failure). Resume continues the job from its newest checkpoint.
	CheckpointDir   string
	CheckpointEvery int
	Resume          bool

	// OnStart, when set, is called before the first step with the spec
	// and the number of steps planned (for progress displays).
	OnStart func(spec *trainer.JobSpec, plannedSteps int)

	// WorkerRegistry, when set, is called for each local worker and returns
	// the registry its metrics go to (one per worker: a worker's series
	// carry its name, and its transport counters would clash with the
	// coordinator's in one registry).
	WorkerRegistry func(name string) prometheus.Registerer
	Version        string

	// NATS: Conn.URL names an external server; when it is empty an
	// embedded server is started with Server (its Listen and DataDir).
	Conn   natsbus.ConnConfig
	Server natsbus.ServerConfig
}

// DefaultConfig returns a configuration with the defaults of the command
// line.
func DefaultConfig() Config {
	return Config{
		Coordinator:   trainer.DefaultCoordinatorConfig(),
		LocalWorkers:  2,
		WorkerThreads: 1,
		JoinTimeout:   5 * time.Minute,
		DataVia:       "auto",
		Conn:          natsbus.ConnConfig{ConnectTimeout: 30 * time.Second, ReconnectWait: 250 * time.Millisecond, MaxReconnects: -1},
		Server:        natsbus.ServerConfig{Listen: "127.0.0.1:4222", MaxMemory: 256 << 20, MaxStore: 8 << 30},
	}
}

// Report is the JSON a job writes with --report.
type Report struct {
	Job          string            `json:"job"`
	ParamsSHA256 string            `json:"params_sha256"`
	Steps        uint64            `json:"steps"`
	Epochs       int               `json:"epochs"`
	Workers      int               `json:"workers"`
	WallSeconds  float64           `json:"wall_seconds"`
	LoadSeconds  float64           `json:"load_seconds"`
	EpochSeconds []float64         `json:"epoch_seconds"`
	Status       string            `json:"status"`
	Params       int               `json:"params"`
	MicroShards  int               `json:"micro_shards"`
	Train        TrainMetrics      `json:"train"`
	Test         *eval.Metrics     `json:"test,omitempty"`
	Rejected     map[string]uint64 `json:"rejected,omitempty"`
	Reissued     uint64            `json:"reissued"`
	WorkersDead  uint64            `json:"workers_dead"`
	// Contributions counts the contributions the coordinator added, over
	// all rounds: blocks from workers, or node sums from group leaders.
	Contributions uint64 `json:"contributions"`
}

// TrainMetrics are the training-set figures at the final parameters: the
// objective J(θ) and the metrics of the task.
type TrainMetrics struct {
	Objective float64 `json:"objective"`
	eval.Metrics
}

// MarshalJSON writes the metrics' fields and "objective" in one object
// (eval.Metrics has a MarshalJSON of its own, which embedding would promote
// and so drop the objective).
func (t TrainMetrics) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(t.Metrics)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	if fields["objective"], err = json.Marshal(t.Objective); err != nil {
		return nil, err
	}
	return json.Marshal(fields)
}

// Outcome is what Run returns: the report, the parameters and the spec.
type Outcome struct {
	Report Report
	Result *trainer.Result
	Spec   *trainer.JobSpec
	Prob   *trainer.Problem
}

// Run runs the job. m may be nil.
func Run(ctx context.Context, cfg Config, log *zap.Logger, m *metrics.Coordinator) (*Outcome, error) {
	wallStart := time.Now()
	prep := cfg.Prepared
	var loadSeconds float64
	if prep == nil {
		var err error
		loadStart := time.Now()
		if prep, err = trainer.Prepare(cfg.Data, cfg.Job); err != nil {
			return nil, err
		}
		loadSeconds = time.Since(loadStart).Seconds()
		if prep.Skipped.SkippedRows > 0 {
			log.Warn("skipped bad rows", zap.String("file", cfg.Data.Train), zap.Int("rows", prep.Skipped.SkippedRows),
				zap.Strings("first", prep.Skipped.SkippedSamples))
		}
	}
	spec, prob := prep.Spec, prep.Prob
	completeSchedule(&cfg.Train, spec)
	theta := make([]float64, prob.P)
	prob.Model.Init(theta, spec.Seed)
	log.Info("job", zap.String("job", spec.Job), zap.String("task", spec.Task), zap.String("loss", spec.Loss),
		zap.String("model", spec.Model.Kind), zap.Int("params", prob.P), zap.Int("rows", spec.Train.Rows),
		zap.Int("features", spec.Features), zap.Int("micro_shards", spec.Train.Shards), zap.Float64("load_seconds", loadSeconds))
	if m != nil {
		m.WorkersExpected.Set(float64(cfg.LocalWorkers + cfg.Workers))
		m.JobSteps.Set(float64(plannedSteps(cfg.Train, spec)))
		feedMetrics(&cfg.Train, m)
	}

	natsLog := log.Named("nats").WithOptions(zap.IncreaseLevel(zap.WarnLevel))
	url := cfg.Conn.URL
	if url == "" {
		sc := cfg.Server
		if sc.DataDir == "" {
			// A directory that survives this process, so that a
			// resumed coordinator finds its checkpoints.
			sc.DataDir = DefaultNATSDataDir(sc.Listen)
		}
		sc.Log = natsLog
		srv, err := natsbus.StartServer(sc)
		if err != nil {
			return nil, err
		}
		defer srv.Shutdown()
		url = srv.ClientURL()
		log.Info("embedded NATS server", zap.String("url", url), zap.String("workers_join_with", "worker --nats "+url))
	}
	connect := func(name string) (*natsbus.Bus, error) {
		cctx, cancel := context.WithTimeout(ctx, max(cfg.Conn.ConnectTimeout, time.Second))
		defer cancel()
		cc := cfg.Conn
		cc.URL, cc.Name = url, name
		if cc.MaxReassemblyBytes == 0 {
			// Room for eight of the job's largest vectors in flight, so a
			// hostile frame cannot make the process reserve a gigabyte.
			cc.MaxReassemblyBytes = max(64<<20, 64*int64(max(prob.P+2, 2+prob.E)))
		}
		var hooks natsbus.Hooks
		if m != nil && name == "coordinator" {
			hooks = natsbus.Hooks{
				Disconnected: func(error) { m.NATS.Disconnects.Inc() },
				Reconnected:  func(string) { m.NATS.Reconnects.Inc() },
				SlowConsumer: func(string) { m.NATS.SlowConsumers.Inc() },
			}
		}
		return natsbus.Connect(cctx, cc, natsLog.With(zap.String("client", name)), hooks)
	}
	bus, err := connect("coordinator")
	if err != nil {
		return nil, err
	}
	defer bus.Close()

	via := cfg.DataVia
	if via == "auto" || via == "" {
		via = "path"
		if cfg.Workers > 0 {
			via = "nats"
		}
	}
	switch via {
	case "path":
	case "nats":
		if !bus.HasJetStream(ctx) {
			return nil, fmt.Errorf("job: data via nats: the NATS server has no JetStream; give workers a shared path (data via path)")
		}
		start := time.Now()
		n, err := trainer.PublishShards(ctx, bus, prep)
		if err != nil {
			return nil, err
		}
		log.Info("micro-shards published to the object store", zap.String("bucket", spec.Train.Bucket), zap.Int("bytes", n),
			zap.Duration("took", time.Since(start)))
	default:
		return nil, fmt.Errorf("job: data via %q: expected path, nats or auto", cfg.DataVia)
	}

	if err := setupCheckpoints(ctx, &cfg, bus, spec, log, m); err != nil {
		return nil, err
	}

	coord, err := trainer.NewCoordinator(cfg.Coordinator, spec, prob, bus, log.Named("coordinator"), m)
	if err != nil {
		return nil, err
	}
	defer coord.Close()

	g, gctx := errgroup.WithContext(ctx)
	runCtx, cancelRun := context.WithCancel(gctx)
	defer cancelRun()
	for i := 0; i < cfg.LocalWorkers; i++ {
		name := fmt.Sprintf("local-%d", i)
		wb, err := connect(name)
		if err != nil {
			return nil, err
		}
		defer wb.Close()
		wc := trainer.DefaultWorkerConfig(name)
		wc.Subjects, wc.Parallelism = cfg.Coordinator.Subjects, max(1, cfg.WorkerThreads)
		if via == "path" {
			// In this process the workers read the coordinator's copy of
			// the data rather than parse the files again.
			wc.Shared = &trainer.SharedData{Job: spec.Job, Train: prep.Train, Test: prep.Test}
		}
		var wm *metrics.Worker
		if cfg.WorkerRegistry != nil {
			wm = metrics.NewWorker(cfg.WorkerRegistry(name), name, cfg.Version)
		}
		w, err := trainer.NewWorker(wc, wb, log.Named("worker"), wm)
		if err != nil {
			return nil, err
		}
		g.Go(func() error { return w.Run(runCtx) })
	}

	var res *trainer.Result
	g.Go(func() error {
		defer cancelRun()
		want := max(cfg.LocalWorkers+cfg.Workers, cfg.Coordinator.MinWorkers)
		log.Info("waiting for workers", zap.Int("workers", want), zap.Duration("timeout", cfg.JoinTimeout))
		if err := coord.WaitForWorkers(runCtx, want, cfg.JoinTimeout); err != nil {
			return err
		}
		if cfg.OnStart != nil {
			cfg.OnStart(spec, plannedSteps(cfg.Train, spec))
		}
		r, err := trainer.Train(runCtx, coord, prob, cfg.Train, theta)
		if err != nil {
			return err
		}
		res = r
		return nil
	})
	if err := g.Wait(); res == nil {
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}

	rep := Report{
		Job: spec.Job, ParamsSHA256: modelfile.ParamsSHA256(res.Theta), Steps: res.Steps, Epochs: res.Epochs,
		Workers: len(coord.Live()), WallSeconds: time.Since(wallStart).Seconds(), LoadSeconds: loadSeconds,
		EpochSeconds: res.EpochSeconds, Status: res.Status, Params: prob.P, MicroShards: spec.Train.Shards,
		Train: TrainMetrics{Objective: res.Objective, Metrics: res.Train}, Test: res.Test,
		Rejected: coord.Stats.Rejected, Reissued: coord.Stats.Reissued, WorkersDead: coord.Stats.Dead,
		Contributions: coord.Stats.Contributions,
	}
	if rep.EpochSeconds == nil {
		rep.EpochSeconds = []float64{}
	}
	fields := []zap.Field{zap.String("params_sha256", rep.ParamsSHA256), zap.Uint64("steps", rep.Steps),
		zap.Float64("train_objective", res.Objective), zap.Float64("train_loss", res.Train.Loss), zap.Float64("wall_seconds", rep.WallSeconds)}
	if res.Test != nil {
		fields = append(fields, zap.Any("test", res.Test))
	}
	log.Info("trained", fields...)
	return &Outcome{Report: rep, Result: res, Spec: spec, Prob: prob}, nil
}

// Meta returns the model-file metadata of a job.
func Meta(spec *trainer.JobSpec, prob *trainer.Problem) modelfile.Meta {
	return modelfile.Meta{Task: spec.Task, Loss: spec.Loss, LossCfg: spec.LossCfg, Model: prob.ModelConfig(), Features: spec.Features,
		K: spec.K, Classes: spec.Classes, Scaler: spec.Scaler}
}

// completeSchedule fills the parts of a bare "cosine" or "step" schedule
// that depend on the number of steps per epoch.
func completeSchedule(tc *trainer.TrainConfig, spec *trainer.JobSpec) {
	perEpoch := 1
	if spec.BatchSize > 0 {
		perEpoch = (spec.Train.Rows + spec.BatchSize - 1) / spec.BatchSize
	}
	s := &tc.Schedule
	switch {
	case s.Kind == "cosine" && s.Total == 0:
		s.Total = max(1, tc.Epochs*perEpoch)
	case s.Kind == "step" && s.StepEvery == 0:
		s.StepEvery = perEpoch
		if s.Gamma == 0 {
			s.Gamma = 0.1
		}
	case s.Kind == "":
		s.Kind = "constant"
	}
}

// DefaultNATSDataDir is where the embedded server keeps JetStream data when
// no directory is given: under the temporary directory, named after the
// listen address, so that it survives a restart of the coordinator.
func DefaultNATSDataDir(listen string) string {
	b := []byte(listen)
	for i, c := range b {
		if c == ':' || c == '/' || c == '\\' {
			b[i] = '_'
		}
	}
	return filepath.Join(os.TempDir(), "dptrain-nats-"+string(b))
}

// setupCheckpoints chooses the checkpoint store, loads the checkpoint to
// resume from, and hooks saving into the training configuration.
func setupCheckpoints(ctx context.Context, cfg *Config, bus *natsbus.Bus, spec *trainer.JobSpec, log *zap.Logger, m *metrics.Coordinator) error {
	var store trainer.CheckpointStore
	where := cfg.CheckpointDir
	switch {
	case cfg.CheckpointDir != "":
		store = trainer.DirStore{Dir: cfg.CheckpointDir}
	case bus.HasJetStream(ctx):
		obj, err := bus.ObjectStore(ctx, trainer.CheckpointBucket)
		if err != nil {
			return fmt.Errorf("job: checkpoint store: %w", err)
		}
		store, where = trainer.ObjectStore{Objects: obj}, "object store "+trainer.CheckpointBucket
	default:
		if cfg.Resume || cfg.CheckpointEvery > 0 {
			return fmt.Errorf("job: checkpoints need --checkpoint-dir or a NATS server with JetStream")
		}
		log.Warn("no checkpoint store: the server has no JetStream and no checkpoint directory was given")
		return nil
	}
	if cfg.Resume {
		ck, err := store.Load(ctx, spec.Job)
		switch {
		case errors.Is(err, trainer.ErrNoCheckpoint):
			log.Warn("--resume: no checkpoint of this job; starting from the beginning", zap.String("job", spec.Job), zap.String("store", where))
		case err != nil:
			return err
		default:
			cfg.Train.Resume = ck
			log.Info("resuming", zap.String("job", spec.Job), zap.Uint64("step", ck.Steps), zap.Int("epochs", ck.Epochs),
				zap.Bool("finished", ck.Done), zap.String("store", where))
		}
	}
	cfg.Train.CheckpointEvery = cfg.CheckpointEvery
	cfg.Train.Checkpoint = func(c *trainer.Checkpoint) error {
		start := time.Now()
		n, err := store.Save(ctx, c)
		if err != nil {
			if m != nil {
				m.CheckpointFailures.Inc()
			}
			return err
		}
		if m != nil {
			m.ObservePhase(metrics.PhaseCheckpoint, time.Since(start))
			m.CheckpointDuration.Observe(time.Since(start).Seconds())
			m.CheckpointSize.Set(float64(n))
		}
		log.Debug("checkpoint", zap.Uint64("step", c.Steps), zap.Int("bytes", n), zap.Duration("took", time.Since(start)))
		return nil
	}
	return nil
}

// plannedSteps is the number of optimizer steps the job runs at most.
func plannedSteps(tc trainer.TrainConfig, spec *trainer.JobSpec) int {
	if spec.BatchSize <= 0 {
		if tc.Epochs > 0 {
			return tc.Epochs
		}
		return tc.LBFGS.MaxIter
	}
	return tc.Epochs * ((spec.Train.Rows + spec.BatchSize - 1) / spec.BatchSize)
}

// feedMetrics wraps the training callbacks so that every step and epoch
// also updates the coordinator's metrics; the callbacks tc had are still
// called.
func feedMetrics(tc *trainer.TrainConfig, m *metrics.Coordinator) {
	onEpoch, onStep := tc.OnEpoch, tc.OnStep
	tc.OnEpoch = func(r trainer.EpochReport) {
		m.Epoch.Set(float64(r.Epoch + 1))
		if r.Test != nil {
			m.TestLoss.Set(r.Test.Loss)
			m.TestAccuracy.Set(r.Test.Accuracy)
		}
		if onEpoch != nil {
			onEpoch(r)
		}
	}
	var lastStep time.Time
	tc.OnStep = func(r trainer.StepReport) {
		if !lastStep.IsZero() {
			m.StepDuration.Observe(time.Since(lastStep).Seconds())
		}
		lastStep = time.Now()
		if r.Loss != 0 { // full-batch steps report the objective only
			m.TrainLoss.Set(r.Loss)
		}
		m.Step.Set(float64(r.Step))
		m.StepsCompleted.Inc()
		m.GradientNorm.Set(r.GradNorm)
		m.TrainObjective.Set(r.Objective)
		m.LearningRate.Set(r.LR)
		m.Examples.Add(r.Examples)
		m.ObservePhase(metrics.PhaseUpdate, r.Update)
		if onStep != nil {
			onStep(r)
		}
	}
}
