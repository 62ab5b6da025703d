package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dptrain/dptrain/internal/cli"
	"github.com/dptrain/dptrain/internal/eval"
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
	train, test, format, task, labelColumn, lossName, modelKind, hidden, activation string
	optimizer, schedule, scale, out, report, metricsAddr, logLevel, logFormat       string
	natsListen, natsData, dataVia, authUser, authPassword, authToken                string
	lr, l2, smoothing, tol, ftol, momentum                                          float64
	batchSize, epochs, microShards, localWorkers, workers, minWorkers, evalEvery    int
	labels, parallelism, holdOut                                                    int
	seed                                                                            uint64
	joinTimeout, grace, heartbeatTimeout                                            time.Duration
	nats                                                                            cli.NATSFlags
}

func (f *trainFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.train, "train", "", "training data file (required)")
	fs.StringVar(&f.test, "test", "", "test data file, evaluated after each epoch")
	fs.IntVar(&f.holdOut, "hold-out", 0, "without --test: hold out the rows whose 1-based number is divisible by N as the test set")
	fs.StringVar(&f.format, "format", "", "libsvm, csv, arff or idx (default: from the file name)")
	fs.StringVar(&f.task, "task", "", "binary, multiclass or multilabel (default: from the labels)")
	fs.StringVar(&f.labelColumn, "label-column", "", "CSV: the label column, by header name or 0-based index")
	fs.IntVar(&f.labels, "labels", 0, "ARFF: the last N attributes are labels; LIBSVM multi-label: the label count")
	fs.StringVar(&f.lossName, "loss", "", "logistic, softmax, sigmoid or binary-softmax (default: from the task)")
	fs.StringVar(&f.modelKind, "model", "linear", "linear or mlp")
	fs.StringVar(&f.hidden, "hidden", "256", "MLP hidden layer sizes, comma separated")
	fs.StringVar(&f.activation, "activation", "relu", "MLP activation: relu or tanh")
	fs.StringVar(&f.optimizer, "optimizer", "lbfgs", "sgd, momentum, nesterov, adam, adagrad, gd or lbfgs")
	fs.Float64Var(&f.lr, "lr", 0.1, "learning rate (mini-batch optimizers)")
	fs.StringVar(&f.schedule, "lr-schedule", "constant", "constant, step or cosine")
	fs.Float64Var(&f.momentum, "momentum", 0.9, "momentum of momentum and nesterov")
	fs.IntVar(&f.batchSize, "batch-size", 0, "examples per step over all workers (0 = full batch)")
	fs.IntVar(&f.epochs, "epochs", 100, "epochs (full batch: the iteration cap)")
	fs.Float64Var(&f.l2, "l2", 1e-4, "λ of the L2 penalty (λ/2)‖W‖², biases not penalised")
	fs.Float64Var(&f.smoothing, "label-smoothing", 0, "label smoothing ε in [0,1)")
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
	fs.DurationVar(&f.joinTimeout, "join-timeout", 5*time.Minute, "how long to wait for --workers to join")
	fs.DurationVar(&f.grace, "grace", 30*time.Second, "how long the job waits below --min-workers before it stops")
	fs.DurationVar(&f.heartbeatTimeout, "heartbeat-timeout", 1500*time.Millisecond, "silence after which a worker is declared dead")
	fs.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:4222", "address of the embedded NATS server (when --nats is not given)")
	fs.StringVar(&f.natsData, "nats-data", "", "JetStream directory of the embedded server (default: a temporary directory)")
	fs.StringVar(&f.authUser, "nats-auth-user", "", "embedded server: require this user name from clients")
	fs.StringVar(&f.authPassword, "nats-auth-password", "", "embedded server: require this password (or set DPT_NATS_AUTH_PASSWORD)")
	fs.StringVar(&f.authToken, "nats-auth-token", "", "embedded server: require this token (or set DPT_NATS_AUTH_TOKEN)")
	fs.StringVar(&f.dataVia, "data-via", "auto", "how workers get data: path (they read --train), nats (object store) or auto (nats when --workers > 0)")
	fs.StringVar(&f.out, "out", "", "write the model (safetensors) here")
	fs.StringVar(&f.report, "report", "", "write a JSON report here")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve /metrics, /healthz and /readyz on this address")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "auto, json or console")
	f.nats.Register(fs, "URL of an external NATS server (default: start an embedded one)")
}

// Report is the JSON written by --report.
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
}

// TrainMetrics are the training-set figures at the final parameters.
type TrainMetrics struct {
	Objective float64 `json:"objective"`
	eval.Metrics
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
	log, err := cli.NewLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	wallStart := time.Now()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cm := metrics.NewCoordinator(reg, version)

	// Data: read, align, fit scaling on the training set, apply to both.
	loadStart := time.Now()
	ds, err := prepare(&f)
	if err != nil {
		return err
	}
	loadSeconds := time.Since(loadStart).Seconds()
	if ds.Skipped.SkippedRows > 0 {
		log.Warn("skipped bad rows", zap.String("file", f.train), zap.Int("rows", ds.Skipped.SkippedRows), zap.Strings("first", ds.Skipped.SkippedSamples))
	}
	spec, prob := ds.Spec, ds.Prob
	theta := make([]float64, prob.P)
	prob.Model.Init(theta, f.seed)
	log.Info("job", zap.String("job", spec.Job), zap.String("task", spec.Task), zap.String("loss", spec.Loss),
		zap.String("model", spec.Model.Kind), zap.Int("params", prob.P), zap.Int("rows", spec.Train.Rows),
		zap.Int("features", spec.Features), zap.Int("micro_shards", spec.Train.Shards), zap.Float64("load_seconds", loadSeconds))

	g, gctx := errgroup.WithContext(ctx)
	runCtx, cancelRun := context.WithCancel(gctx)
	defer cancelRun()

	// NATS: external, or embedded with JetStream.
	url := f.nats.URL
	var srv *natsbus.Server
	if url == "" {
		dataDir := f.natsData
		if dataDir == "" {
			if dataDir, err = os.MkdirTemp("", "dpt-nats-"); err != nil {
				return err
			}
			defer os.RemoveAll(dataDir)
		}
		sc := natsbus.ServerConfig{Listen: f.natsListen, DataDir: dataDir, MaxMemory: 256 << 20, MaxStore: 8 << 30, Log: log.Named("nats").WithOptions(zap.IncreaseLevel(zap.WarnLevel))}
		sc.User, sc.Password, sc.Token = f.authUser, envOr(f.authPassword, "DPT_NATS_AUTH_PASSWORD"), envOr(f.authToken, "DPT_NATS_AUTH_TOKEN")
		if srv, err = natsbus.StartServer(sc); err != nil {
			return err
		}
		defer srv.Shutdown()
		url = srv.ClientURL()
		log.Info("embedded NATS server", zap.String("url", url), zap.String("workers_join_with", "worker --nats "+url))
	}
	connect := func(name string) (*natsbus.Bus, error) {
		cctx, cancel := context.WithTimeout(ctx, f.nats.ConnectTimeout)
		defer cancel()
		cc := f.nats.Conn(url, name, os.Getenv)
		if srv != nil && cc.User == "" && cc.Token == "" {
			cc.User, cc.Password, cc.Token = f.authUser, envOr(f.authPassword, "DPT_NATS_AUTH_PASSWORD"), envOr(f.authToken, "DPT_NATS_AUTH_TOKEN")
		}
		return natsbus.Connect(cctx, cc, log.Named("nats").With(zap.String("client", name)).WithOptions(zap.IncreaseLevel(zap.WarnLevel)), natsbus.Hooks{})
	}
	bus, err := connect("coordinator")
	if err != nil {
		return err
	}
	defer bus.Close()
	subjects := natsbus.Subjects{Prefix: f.nats.Prefix}

	if err := publishShards(ctx, &f, bus, spec, ds, log); err != nil {
		return err
	}

	cc := trainer.DefaultCoordinatorConfig()
	cc.Subjects = subjects
	cc.MinWorkers, cc.Grace, cc.HeartbeatTimeout = f.minWorkers, f.grace, f.heartbeatTimeout
	coord, err := trainer.NewCoordinator(cc, spec, prob, bus, log.Named("coordinator"), cm)
	if err != nil {
		return err
	}
	defer coord.Close()

	for i := 0; i < f.localWorkers; i++ {
		name := fmt.Sprintf("local-%d", i)
		wb, err := connect(name)
		if err != nil {
			return err
		}
		defer wb.Close()
		wc := trainer.DefaultWorkerConfig(name)
		wc.Subjects, wc.Parallelism = subjects, f.parallelism
		w, err := trainer.NewWorker(wc, wb, log.Named("worker"), nil)
		if err != nil {
			return err
		}
		g.Go(func() error { return w.Run(runCtx) })
	}
	if f.metricsAddr != "" {
		h := metrics.Handler(reg, func() error { return nil })
		g.Go(func() error { return metrics.Serve(runCtx, f.metricsAddr, h, log.Named("metrics")) })
	}

	var res *trainer.Result
	g.Go(func() error {
		defer cancelRun()
		want := f.localWorkers + f.workers
		if want < f.minWorkers {
			want = f.minWorkers
		}
		log.Info("waiting for workers", zap.Int("workers", want), zap.Duration("timeout", f.joinTimeout))
		if err := coord.WaitForWorkers(runCtx, want, f.joinTimeout); err != nil {
			return err
		}
		tc := trainConfig(&f, spec, log, cm)
		r, err := trainer.Train(runCtx, coord, prob, tc, theta)
		if err != nil {
			return err
		}
		res = r
		return nil
	})
	if err := g.Wait(); err != nil && res == nil {
		return err
	}

	rep := Report{
		Job: spec.Job, ParamsSHA256: modelfile.ParamsSHA256(res.Theta), Steps: res.Steps, Epochs: res.Epochs,
		Workers: len(coord.Live()), WallSeconds: time.Since(wallStart).Seconds(), LoadSeconds: loadSeconds,
		EpochSeconds: res.EpochSeconds, Status: res.Status, Params: prob.P, MicroShards: spec.Train.Shards,
		Train: TrainMetrics{Objective: res.Objective, Metrics: res.Train}, Test: res.Test,
		Rejected: coord.Stats.Rejected, Reissued: coord.Stats.Reissued,
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
	if f.out != "" {
		if err := modelfile.Write(f.out, metaOf(spec), res.Theta); err != nil {
			return err
		}
		log.Info("model written", zap.String("path", f.out))
	}
	if f.report != "" {
		if err := writeJSON(f.report, rep); err != nil {
			return err
		}
	}
	printSummary(rep)
	return nil
}

func envOr(v, key string) string {
	if v != "" {
		return v
	}
	return os.Getenv(key)
}

func prepare(f *trainFlags) (*trainer.Prepared, error) {
	opt := shard.ReadOptions{LabelColumn: f.labelColumn, Labels: f.labels, NumLabels: f.labels}
	if f.format != "" {
		ft, err := shard.ParseFormat(f.format)
		if err != nil {
			return nil, err
		}
		opt.Format = ft
	}
	if f.task != "" {
		t, err := trainer.ParseTask(f.task)
		if err != nil {
			return nil, err
		}
		opt.Task = t
	}
	mc := model.Config{Kind: f.modelKind, Activation: f.activation}
	if f.modelKind == "mlp" {
		h, err := parseHidden(f.hidden)
		if err != nil {
			return nil, err
		}
		mc.Hidden = h
	}
	return trainer.Prepare(
		trainer.DataConfig{Train: f.train, Test: f.test, Read: opt, Scale: f.scale, MicroShards: f.microShards, HoldOut: f.holdOut},
		trainer.JobConfig{Loss: f.lossName, LossCfg: loss.Config{Smoothing: f.smoothing}, Model: mc, Seed: f.seed, BatchSize: f.batchSize,
			Salt: fmt.Sprint(f.optimizer, f.lr, f.l2, f.epochs, f.tol, f.ftol, f.momentum, f.schedule)})
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

// publishShards puts every micro-shard in the object store when workers
// cannot be expected to read the files.
func publishShards(ctx context.Context, f *trainFlags, bus *natsbus.Bus, spec *trainer.JobSpec, ds *trainer.Prepared, log *zap.Logger) error {
	via := f.dataVia
	if via == "auto" {
		via = "path"
		if f.workers > 0 {
			via = "nats"
		}
	}
	switch via {
	case "path":
		return nil
	case "nats":
	default:
		return fmt.Errorf("--data-via %q: expected path, nats or auto", f.dataVia)
	}
	if !bus.HasJetStream(ctx) {
		return fmt.Errorf("--data-via nats: the NATS server has no JetStream; give workers a shared path with --data-via path")
	}
	start := time.Now()
	n, err := trainer.PublishShards(ctx, bus, ds)
	if err != nil {
		return err
	}
	log.Info("micro-shards published to the object store", zap.String("bucket", spec.Train.Bucket), zap.Int("bytes", n),
		zap.Duration("took", time.Since(start)))
	return nil
}

func trainConfig(f *trainFlags, spec *trainer.JobSpec, log *zap.Logger, cm *metrics.Coordinator) trainer.TrainConfig {
	lc := optim.DefaultLBFGSConfig()
	lc.GradTol, lc.FTol = f.tol, f.ftol
	oc := optim.Config{Momentum: f.momentum}
	return trainer.TrainConfig{
		Optimizer: f.optimizer,
		Schedule:  optim.Schedule{Kind: f.schedule, Base: f.lr, Total: f.epochs * max(1, stepsPerEpoch(spec)), StepEvery: max(1, stepsPerEpoch(spec)*max(1, f.epochs/3)), Gamma: 0.1},
		Epochs:    f.epochs, L2: f.l2, LBFGS: lc, Optim: oc, EvalEvery: f.evalEvery, HasTest: spec.Test != nil,
		OnEpoch: func(r trainer.EpochReport) {
			fields := []zap.Field{zap.Int("epoch", r.Epoch+1), zap.Uint64("steps", r.Steps), zap.Float64("objective", r.Objective),
				zap.Float64("grad_norm", r.GradNorm), zap.Float64("seconds", r.Seconds)}
			if r.Test != nil {
				fields = append(fields, zap.Float64("test_loss", r.Test.Loss), zap.Float64("test_accuracy", r.Test.Accuracy))
			}
			log.Info("epoch", fields...)
			if cm != nil {
				cm.Epoch.Set(float64(r.Epoch + 1))
				if r.Test != nil {
					cm.TestLoss.Set(r.Test.Loss)
					cm.TestAccuracy.Set(r.Test.Accuracy)
				}
			}
		},
		OnStep: func(r trainer.StepReport) {
			log.Debug("step", zap.Uint64("step", r.Step), zap.Float64("objective", r.Objective), zap.Float64("grad_norm", r.GradNorm))
			if cm != nil {
				cm.Step.Set(float64(r.Step))
				cm.StepsCompleted.Inc()
				cm.GradientNorm.Set(r.GradNorm)
				cm.TrainObjective.Set(r.Objective)
				cm.LearningRate.Set(r.LR)
			}
		},
	}
}

func stepsPerEpoch(spec *trainer.JobSpec) int {
	if spec.BatchSize <= 0 {
		return 1
	}
	return (spec.Train.Rows + spec.BatchSize - 1) / spec.BatchSize
}

func metaOf(spec *trainer.JobSpec) modelfile.Meta {
	mc := spec.Model
	mc.Inputs = spec.Features
	f, _ := trainer.NewProblem(*spec)
	mc.Outputs = f.Loss.Logits()
	return modelfile.Meta{Task: spec.Task, Loss: spec.Loss, LossCfg: spec.LossCfg, Model: mc, Features: spec.Features,
		K: spec.K, Classes: spec.Classes, Scaler: spec.Scaler}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printSummary(r Report) {
	fmt.Printf("job %s: %d steps, %d epochs, %d workers, %.2fs (load %.2fs)\n", r.Job, r.Steps, r.Epochs, r.Workers, r.WallSeconds, r.LoadSeconds)
	fmt.Printf("train: objective %.10g loss %.6g accuracy %.4f\n", r.Train.Objective, r.Train.Loss, r.Train.Accuracy)
	if r.Test != nil {
		b, _ := json.Marshal(r.Test)
		fmt.Printf("test: %s\n", b)
	}
	fmt.Printf("params_sha256 %s\n", r.ParamsSHA256)
}
