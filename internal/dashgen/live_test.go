package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/dptrain/dptrain/internal/job"
	"github.com/dptrain/dptrain/internal/metrics"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/optim"
	"github.com/dptrain/dptrain/internal/shard"
	"github.com/dptrain/dptrain/internal/trainer"
)

// TestDashboardMetricsExposedByLiveRun runs a real training job (embedded
// NATS, two local workers, mini-batch epochs with a test set and
// checkpoints), gathers what its registry exposes, and checks that every
// metric the dashboard queries is among the series of that live run — so a
// panel never charts a metric the trainer forgot to feed.
func TestDashboardMetricsExposedByLiveRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a training job")
	}
	reg := prometheus.NewRegistry()
	if err := metrics.RegisterRuntime(reg); err != nil {
		t.Fatal(err)
	}
	cm := metrics.NewCoordinator(reg, "test")
	cfg := job.DefaultConfig()
	digits := filepath.Join("..", "..", "examples", "digits")
	cfg.Data = trainer.DataConfig{Train: filepath.Join(digits, "digits-train.csv.gz"), Test: filepath.Join(digits, "digits-test.csv.gz"),
		Read: shard.ReadOptions{LabelColumn: "64"}, Scale: "maxabs", MicroShards: 6}
	cfg.Job = trainer.JobConfig{Model: model.Config{Kind: "linear"}, Seed: 1, BatchSize: 256}
	cfg.Train = trainer.TrainConfig{Optimizer: "adam", Epochs: 2, L2: 1e-4, Schedule: optim.Schedule{Kind: "constant", Base: 0.01}, EvalEvery: 1, HasTest: true}
	cfg.Server.Listen, cfg.Server.DataDir = "127.0.0.1:-1", t.TempDir()
	cfg.CheckpointDir, cfg.CheckpointEvery = t.TempDir(), 3
	gatherers := prometheus.Gatherers{reg}
	cfg.WorkerRegistry = func(string) prometheus.Registerer {
		r := prometheus.NewRegistry()
		gatherers = append(gatherers, r)
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := job.Run(ctx, cfg, zap.NewNop(), cm); err != nil {
		t.Fatal(err)
	}

	mfs, err := gatherers.Gather()
	if err != nil {
		t.Fatal(err)
	}
	live := catalog{}
	add := func(name string, lbls []string) {
		if live[name] == nil {
			live[name] = map[string]bool{}
		}
		for _, l := range append(lbls, targetLabels...) {
			live[name][l] = true
		}
	}
	for _, mf := range mfs {
		var lbls []string
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				lbls = append(lbls, lp.GetName())
			}
		}
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			add(mf.GetName()+"_bucket", append(lbls, "le"))
			add(mf.GetName()+"_sum", lbls)
			add(mf.GetName()+"_count", lbls)
		default:
			add(mf.GetName(), lbls)
		}
	}
	add("up", nil)

	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			expr, err := grafanaVars(tg.Expr, vars)
			if err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
				continue
			}
			_, problems := checkExpr("panel "+p.Title, expr, live, nil)
			for _, pr := range problems {
				t.Errorf("not exposed by a live run: %s", pr)
			}
		}
	}
}
