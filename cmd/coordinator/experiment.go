package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dptrain/dptrain/internal/cli"
	"github.com/dptrain/dptrain/internal/experiment"
	"github.com/dptrain/dptrain/internal/model"
)

// runExperiment runs `coordinator experiment`: the comparisons of the
// losses' claims (MATH.md §5) through the distributed trainer.
func runExperiment(ctx context.Context, args []string) error {
	cfg := experiment.DefaultConfig()
	fs := flag.NewFlagSet("coordinator experiment", flag.ContinueOnError)
	claim := fs.String("claim", "all", "c1, c2, c3 or all")
	fs.StringVar(&cfg.DataRoot, "data-root", "", "the shared data folder (datasets in its sub-folders, as in its README.md) (required)")
	fs.StringVar(&cfg.Out, "out", "", "folder for results.json, results.md and the PNG plots (required)")
	datasets := fs.String("datasets", "", "comma-separated dataset names to restrict the claims to (default: all of each claim)")
	fs.IntVar(&cfg.Seeds, "seeds", cfg.Seeds, "seeds per comparison (mean ± std over them)")
	epochs := fs.Int("epochs", 0, "epochs of every claim (default: each claim's, see docs/experiments.md)")
	batch := fs.Int("batch-size", 0, "mini-batch size of every claim (default: each claim's)")
	lr := fs.Float64("lr", 0, "learning rate of every claim (default: each claim's)")
	optimizer := fs.String("optimizer", "", "mini-batch optimizer of every claim: sgd, momentum, nesterov, adam or adagrad (default: each claim's)")
	l2 := fs.Float64("l2", -1, "λ of the L2 penalty of every claim (default: each claim's)")
	smoothing := fs.Float64("label-smoothing", -1, "ε of C1's smoothed variants (default 0.1)")
	hidden := fs.String("hidden", "", "MLP hidden layer sizes, comma separated, for every claim (default: linear models)")
	fs.IntVar(&cfg.IdentitySteps, "identity-steps", cfg.IdentitySteps, "full-batch steps of C3's 1/k-targets vs k-copies identity check")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "local workers of every job (they speak NATS to the coordinator)")
	fs.IntVar(&cfg.MeasureThreads, "measure-threads", cfg.MeasureThreads, "goroutines of the per-epoch measurements")
	fs.DurationVar(&cfg.JoinTimeout, "join-timeout", cfg.JoinTimeout, "how long a job waits for its local workers")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (the experiment's progress)")
	jobLogLevel := fs.String("job-log-level", "off", "log level of each training job: off, debug, info or warn")
	logFormat := fs.String("log-format", "auto", "auto, json or console")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch *claim {
	case "all":
	case "c1", "c2", "c3":
		cfg.Claims = []string{*claim}
	default:
		return fmt.Errorf("--claim %q: expected c1, c2, c3 or all", *claim)
	}
	if cfg.DataRoot == "" || cfg.Out == "" {
		return fmt.Errorf("--data-root and --out are required")
	}
	for _, d := range strings.Split(*datasets, ",") {
		if d = strings.TrimSpace(d); d != "" {
			cfg.Datasets = append(cfg.Datasets, d)
		}
	}
	var mlp []int
	if *hidden != "" {
		var err error
		if mlp, err = parseHidden(*hidden); err != nil {
			return err
		}
	}
	for name, h := range cfg.Hyper {
		if mlp != nil {
			h.Model = model.Config{Kind: model.KindMLP, Hidden: mlp, Activation: model.ReLU}
		}
		if *epochs > 0 {
			h.Epochs = *epochs
		}
		if *batch > 0 {
			h.BatchSize = *batch
		}
		if *lr > 0 {
			h.LR = *lr
		}
		if *optimizer != "" {
			h.Optimizer = *optimizer
		}
		if *l2 >= 0 {
			h.L2 = *l2
		}
		if *smoothing >= 0 && h.Smoothing > 0 {
			h.Smoothing = *smoothing
		}
		cfg.Hyper[name] = h
	}
	log, err := cli.NewLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg.Log = log.Named("experiment")
	if *jobLogLevel != "off" {
		// Not "error": the job raises its NATS logger to warn, which a
		// stricter core rejects.
		jobLog, err := cli.NewLogger(*jobLogLevel, *logFormat)
		if err != nil {
			return err
		}
		defer func() { _ = jobLog.Sync() }()
		cfg.JobLog = jobLog.Named("job")
	}

	start := time.Now()
	res, files, err := experiment.Run(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("experiments done", zap.Int("runs", len(res.Runs)), zap.Duration("took", time.Since(start).Round(time.Second)))
	fmt.Printf("%d runs in %s; results in %s:\n", len(res.Runs), time.Since(start).Round(time.Second), cfg.Out)
	for _, f := range files {
		fmt.Println("  " + f)
	}
	return nil
}
