package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"

	"github.com/dptrain/dptrain/internal/cli"
	"github.com/dptrain/dptrain/internal/job"
	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/metrics"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/modelfile"
	"github.com/dptrain/dptrain/internal/natsbus"
	"github.com/dptrain/dptrain/internal/optim"
	"github.com/dptrain/dptrain/internal/shard"
	"github.com/dptrain/dptrain/internal/trainer"
)

// trainFlags are the flags of `coordinator train`.
type trainFlags struct {
	train, test, format, task, labelColumn, lossName, modelKind, hidden, activation       string
	optimizer, schedule, scale, out, report, metricsAddr, logLevel, logFormat, cpuProfile string
	natsListen, natsData, dataVia, authUser, authPassword, authToken                      string
	lr, l2, smoothing, tol, ftol, momentum                                                float64
	batchSize, epochs, microShards, localWorkers, workers, minWorkers, evalEvery          int
	labels, parallelism, holdOut, gcPercent, groupSize                                    int
	seed                                                                                  uint64
	joinTimeout, grace, heartbeatTimeout, metricsLinger                                   time.Duration
	nats                                                                                  cli.NATSFlags
	checkpointDir, missing, plot, classWeights                                            string
	checkpointEvery                                                                       int
	resume                                                                                bool
}

func (f *trainFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.train, "train", "", "training data file (required)")
	fs.StringVar(&f.test, "test", "", "test data file, evaluated after each epoch")
	fs.IntVar(&f.holdOut, "hold-out", 0, "without --test: hold out the rows whose 1-based number is divisible by N as the test set")
	fs.StringVar(&f.format, "format", "", "libsvm, csv, arff or idx (default: from the file name)")
	fs.StringVar(&f.task, "task", "", "binary, multiclass or multilabel (default: from the labels)")
	fs.StringVar(&f.labelColumn, "label-column", "", "CSV: the label column, by header name or 0-based index")
	fs.StringVar(&f.missing, "missing", "error", "CSV: a missing value (? or empty) is an error, zero, or the training column's mean")
	fs.IntVar(&f.labels, "labels", 0, "ARFF: the last N attributes are labels; LIBSVM multi-label: the label count")
	fs.StringVar(&f.lossName, "loss", "", "logistic, softmax, sigmoid or binary-softmax (default: from the task)")
	fs.StringVar(&f.modelKind, "model", "linear", "linear or mlp")
	fs.StringVar(&f.hidden, "hidden", "256", "MLP hidden layer sizes, comma separated")
	fs.StringVar(&f.activation, "activation", "relu", "MLP activation: relu or tanh")
	fs.StringVar(&f.optimizer, "optimizer", "lbfgs", "sgd, momentum, nesterov, adam, adagrad, gd or lbfgs")
	fs.Float64Var(&f.lr, "lr", 0.1, "learning rate (mini-batch optimizers)")
	fs.StringVar(&f.schedule, "lr-schedule", "constant", "constant, step (×0.1 each epoch) or cosine (to 0 over the run), or a spec such as cosine:total=1000,warmup=10,min=1e-5 or step:every=500,gamma=0.5")
	fs.Float64Var(&f.momentum, "momentum", 0.9, "momentum of momentum and nesterov")
	fs.IntVar(&f.batchSize, "batch-size", 0, "examples per step over all workers (0 = full batch)")
	fs.IntVar(&f.epochs, "epochs", 0, "epochs; full batch: the iteration cap (0: run to --tol, at most 10000); mini-batch: 0 means 10")
	f.l2 = 1e-4
	fs.Var((*ratioFlag)(&f.l2), "l2", "λ of the L2 penalty (λ/2)‖W‖², biases not penalised; a number or a ratio such as 1/32561")
	fs.Float64Var(&f.smoothing, "label-smoothing", 0, "label smoothing ε in [0,1)")
	fs.StringVar(&f.classWeights, "class-weights", "", "per-class loss weights, comma separated in class order (binary: negative,positive)")
	fs.Float64Var(&f.tol, "tol", 1e-9, "L-BFGS: stop when ‖∇J‖∞ ≤ tol")
	fs.Float64Var(&f.ftol, "ftol", 1e-13, "L-BFGS: stop when the relative decrease of J is ≤ ftol")
	fs.StringVar(&f.scale, "scale", "maxabs", "feature scaling fitted on the training set: none, maxabs or standard")
	fs.IntVar(&f.microShards, "micro-shards", 0, "micro-shards of the training set (default: from its size)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the initialisation and the mini-batch schedule")
	fs.IntVar(&f.evalEvery, "eval-every", 1, "evaluate the test set every N epochs")
	fs.IntVar(&f.localWorkers, "local-workers", 2, "workers started inside this process (they speak NATS like external ones)")
	fs.IntVar(&f.parallelism, "worker-threads", 1, "compute goroutines per local worker")
	fs.IntVar(&f.workers, "workers", 0, "external workers to wait for before the first step")
	fs.IntVar(&f.minWorkers, "min-workers", 1, "fewest live workers the job runs with")
	fs.IntVar(&f.groupSize, "group-size", 0, "group the workers of each step by this many under group leaders, which add their group's contributions before the coordinator does (-1: the square root of the workers; 0: no groups); the result is the same bits")
	fs.DurationVar(&f.joinTimeout, "join-timeout", 5*time.Minute, "how long to wait for --workers to join")
	fs.DurationVar(&f.grace, "grace", 30*time.Second, "how long the job waits below --min-workers before it stops")
	fs.DurationVar(&f.heartbeatTimeout, "heartbeat-timeout", trainer.DefaultCoordinatorConfig().HeartbeatTimeout, "silence after which a worker is declared dead")
	fs.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:4222", "address of the embedded NATS server (when --nats is not given)")
	fs.StringVar(&f.natsData, "nats-data", "", "JetStream directory of the embedded server (default: dptrain-nats-<listen address> under the temporary directory; it survives restarts)")
	fs.StringVar(&f.authUser, "nats-auth-user", "", "embedded server: require this user name from clients")
	fs.StringVar(&f.authPassword, "nats-auth-password", "", "embedded server: require this password (or set DPT_NATS_AUTH_PASSWORD)")
	fs.StringVar(&f.authToken, "nats-auth-token", "", "embedded server: require this token (or set DPT_NATS_AUTH_TOKEN)")
	fs.StringVar(&f.dataVia, "data-via", "auto", "how workers get data: path (they read --train), nats (object store) or auto (nats when --workers > 0)")
	fs.StringVar(&f.checkpointDir, "checkpoint-dir", "", "write checkpoints here (default: the NATS JetStream object store)")
	fs.IntVar(&f.checkpointEvery, "checkpoint-every", 50, "checkpoint every K optimizer steps (0: only at the end and on failure)")
	fs.BoolVar(&f.resume, "resume", false, "continue the job from its newest checkpoint (the same command, with --resume)")
	fs.StringVar(&f.out, "out", "", "write the model (safetensors) here")
	fs.StringVar(&f.report, "report", "", "write a JSON report here")
	fs.StringVar(&f.plot, "plot", "", "write the loss and accuracy curves per epoch to this PNG file")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve /metrics, /healthz and /readyz on this address")
	fs.DurationVar(&f.metricsLinger, "metrics-linger", 0, "keep serving /metrics this long after the job ends, so that Prometheus scrapes the final values")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "auto, json or console")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the whole run, local workers included, to this file")
	fs.IntVar(&f.gcPercent, "gc-percent", 20, "the Go GC's target heap growth (GOGC) in percent: the coordinator's heap is mostly the data set, so a small headroom keeps its memory near it, and spares the page faults of growing into the rest (the GOGC environment variable wins)")
	f.nats.Register(fs, "URL of an external NATS server (default: start an embedded one)")
}

func runTrain(ctx context.Context, args []string) error {
	var f trainFlags
	fs := flag.NewFlagSet("coordinator train", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.train == "" {
		return fmt.Errorf("--train is required")
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(f.gcPercent)
	}
	log, err := cli.NewLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg, err := jobConfig(&f)
	if err != nil {
		return err
	}
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cm := metrics.NewCoordinator(reg, version)
	cfg.Version = version
	var gatherers syncGatherers
	gatherers.add(reg)
	cfg.WorkerRegistry = func(string) prometheus.Registerer {
		r := prometheus.NewRegistry()
		gatherers.add(r)
		return r
	}
	if f.metricsAddr != "" {
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		h := metrics.Handler(&gatherers, func() error { return nil })
		go func() {
			if err := metrics.Serve(mctx, f.metricsAddr, h, log.Named("metrics")); err != nil {
				log.Error("metrics endpoint", zap.Error(err))
			}
		}()
	}
	var (
		hist history
		bar  *progressbar.ProgressBar
	)
	cfg.OnStart = func(_ *trainer.JobSpec, steps int) {
		if f.batchSize == 0 && f.epochs == 0 {
			steps = -1 // L-BFGS to tolerance: a spinner
		}
		if f.logFormat != "json" {
			bar = newBar(steps)
		}
	}
	cfg.Train.OnEpoch, cfg.Train.OnStep = progress(log, &hist, func() *progressbar.ProgressBar { return bar })

	out, err := job.Run(ctx, cfg, log, cm)
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return err
	}
	if f.plot != "" {
		if err := writePlot(f.plot, &hist); err != nil {
			return err
		}
		log.Info("plot written", zap.String("path", f.plot))
	}
	if f.out != "" {
		if err := modelfile.Write(f.out, job.Meta(out.Spec, out.Prob), out.Result.Theta); err != nil {
			return err
		}
		log.Info("model written", zap.String("path", f.out))
	}
	if f.report != "" {
		if err := writeJSON(f.report, out.Report); err != nil {
			return err
		}
	}
	printSummary(out.Report)
	if f.metricsAddr != "" && f.metricsLinger > 0 {
		log.Info("job done; serving the final metrics", zap.Duration("for", f.metricsLinger))
		select {
		case <-ctx.Done():
		case <-time.After(f.metricsLinger):
		}
	}
	return nil
}

// jobConfig turns the flags into a job configuration.
func jobConfig(f *trainFlags) (job.Config, error) {
	cfg := job.DefaultConfig()
	opt := shard.ReadOptions{LabelColumn: f.labelColumn, Labels: f.labels, NumLabels: f.labels}
	mp, err := shard.ParseMissingPolicy(f.missing)
	if err != nil {
		return cfg, err
	}
	opt.Missing = mp
	if f.format != "" {
		ft, err := shard.ParseFormat(f.format)
		if err != nil {
			return cfg, err
		}
		opt.Format = ft
	}
	if f.task != "" {
		t, err := trainer.ParseTask(f.task)
		if err != nil {
			return cfg, err
		}
		opt.Task = t
	}
	mc := model.Config{Kind: f.modelKind, Activation: f.activation}
	if f.modelKind == "mlp" {
		h, err := parseHidden(f.hidden)
		if err != nil {
			return cfg, err
		}
		mc.Hidden = h
	}
	cfg.Data = trainer.DataConfig{Train: f.train, Test: f.test, Read: opt, Scale: f.scale, MicroShards: f.microShards, HoldOut: f.holdOut}
	cw, err := parseFloats(f.classWeights)
	if err != nil {
		return cfg, fmt.Errorf("--class-weights: %w", err)
	}
	cfg.Job = trainer.JobConfig{Loss: f.lossName, LossCfg: loss.Config{Smoothing: f.smoothing, ClassWeights: cw}, Model: mc, Seed: f.seed, BatchSize: f.batchSize,
		Salt: fmt.Sprint(f.optimizer, f.lr, f.l2, f.epochs, f.tol, f.ftol, f.momentum, f.schedule)}
	lc := optim.DefaultLBFGSConfig()
	lc.GradTol, lc.FTol = f.tol, f.ftol
	// A bare "cosine" or "step" is completed by the job from the number of
	// steps per epoch, which the data decides.
	sched := optim.Schedule{Kind: f.schedule, Base: f.lr}
	if f.schedule != "cosine" && f.schedule != "step" {
		var err error
		if sched, err = optim.ParseSchedule(f.schedule, f.lr); err != nil {
			return cfg, err
		}
	}
	if f.epochs == 0 && f.batchSize > 0 {
		f.epochs = 10
	}
	cfg.Train = trainer.TrainConfig{Optimizer: f.optimizer, Schedule: sched, Epochs: f.epochs, L2: f.l2, LBFGS: lc,
		Optim: optim.Config{Momentum: f.momentum}, EvalEvery: f.evalEvery, HasTest: f.test != "" || f.holdOut >= 2}
	cfg.Coordinator.Subjects = natsbus.Subjects{Prefix: f.nats.Prefix}
	cfg.Coordinator.MinWorkers, cfg.Coordinator.Grace, cfg.Coordinator.HeartbeatTimeout = f.minWorkers, f.grace, f.heartbeatTimeout
	cfg.Coordinator.GroupSize = f.groupSize
	cfg.LocalWorkers, cfg.Workers, cfg.WorkerThreads, cfg.JoinTimeout, cfg.DataVia = f.localWorkers, f.workers, f.parallelism, f.joinTimeout, f.dataVia
	cfg.Conn = f.nats.Conn(f.nats.URL, "coordinator", os.Getenv)
	if f.nats.URL == "" && cfg.Conn.User == "" && cfg.Conn.Token == "" {
		// local clients of the embedded server use its credentials
		cfg.Conn.User, cfg.Conn.Password, cfg.Conn.Token = f.authUser, envOr(f.authPassword, "DPT_NATS_AUTH_PASSWORD"), envOr(f.authToken, "DPT_NATS_AUTH_TOKEN")
	}
	cfg.Server.Listen, cfg.Server.DataDir = f.natsListen, f.natsData
	cfg.CheckpointDir, cfg.CheckpointEvery, cfg.Resume = f.checkpointDir, f.checkpointEvery, f.resume
	cfg.Server.User, cfg.Server.Password, cfg.Server.Token = f.authUser, envOr(f.authPassword, "DPT_NATS_AUTH_PASSWORD"), envOr(f.authToken, "DPT_NATS_AUTH_TOKEN")
	return cfg, nil
}

// startCPUProfile starts a CPU profile into path and returns the function
// that stops it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	fh, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(fh); err != nil {
		_ = fh.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = fh.Close()
	}, nil
}

func envOr(v, key string) string {
	if v != "" {
		return v
	}
	return os.Getenv(key)
}

func parseHidden(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--hidden %q: expected positive layer sizes such as 256,128", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printSummary(r job.Report) {
	fmt.Printf("job %s: %d steps, %d epochs, %d workers, %.2fs (load %.2fs)\n", r.Job, r.Steps, r.Epochs, r.Workers, r.WallSeconds, r.LoadSeconds)
	fmt.Printf("train: objective %.10g loss %.6g accuracy %.4f\n", r.Train.Objective, r.Train.Loss, r.Train.Accuracy)
	if r.Test != nil {
		b, _ := json.Marshal(r.Test)
		fmt.Printf("test: %s\n", b)
	}
	fmt.Printf("params_sha256 %s\n", r.ParamsSHA256)
}

// syncGatherers gathers the coordinator's registry and those of its local
// workers, which are added while the job starts.
type syncGatherers struct {
	mu sync.Mutex
	gs prometheus.Gatherers
}

func (s *syncGatherers) add(g prometheus.Gatherer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gs = append(s.gs, g)
}

// Gather implements prometheus.Gatherer.
func (s *syncGatherers) Gather() ([]*dto.MetricFamily, error) {
	s.mu.Lock()
	gs := append(prometheus.Gatherers(nil), s.gs...)
	s.mu.Unlock()
	return gs.Gather()
}

// parseFloats parses a comma-separated list of numbers ("" is nil).
func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", p)
		}
		out = append(out, v)
	}
	return out, nil
}

// ratioFlag is a float flag that also accepts a ratio "a/b".
type ratioFlag float64

func (r *ratioFlag) String() string { return strconv.FormatFloat(float64(*r), 'g', -1, 64) }

func (r *ratioFlag) Set(s string) error {
	num, den, isRatio := strings.Cut(s, "/")
	a, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return fmt.Errorf("%q: expected a number or a ratio a/b", s)
	}
	if isRatio {
		b, err := strconv.ParseFloat(strings.TrimSpace(den), 64)
		if err != nil || b == 0 {
			return fmt.Errorf("%q: expected a number or a ratio a/b with b ≠ 0", s)
		}
		a /= b
	}
	if a < 0 || math.IsNaN(a) || math.IsInf(a, 0) {
		return fmt.Errorf("%q: expected a finite λ ≥ 0", s)
	}
	*r = ratioFlag(a)
	return nil
}
