package experiment

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/dptrain/dptrain/internal/job"
	"github.com/dptrain/dptrain/internal/optim"
	"github.com/dptrain/dptrain/internal/shard"
	"github.com/dptrain/dptrain/internal/trainer"
)

// Point is the state of a run after Epoch epochs (0: the initial θ).
type Point struct {
	Epoch int `json:"epoch"`
	// Objective is the trainer's objective on the epoch's last batch
	// (absent at epoch 0).
	Objective F       `json:"objective"`
	Train     Measure `json:"train"`
	Test      Measure `json:"test"`
}

// Trial is one training job of a comparison.
type Trial struct {
	Claim   string `json:"claim"`
	Dataset string `json:"dataset"`
	// Variant names the model compared (see each claim).
	Variant   string  `json:"variant"`
	Loss      string  `json:"loss"`
	Smoothing float64 `json:"label_smoothing"`
	Seed      uint64  `json:"seed"`
	Hyper     Hyper   `json:"hyper"`
	// TrainRows is the number of rows the job trained on (the k copies
	// for the copies variant), Steps its optimizer steps.
	TrainRows int    `json:"train_rows"`
	Steps     uint64 `json:"steps"`
	Job       string `json:"job"`
	// ParamsSHA256 is the trainer's hash of the final θ.
	ParamsSHA256 string `json:"params_sha256"`
	// Workers is the number of workers the job ended with, DataVia how
	// they got the training rows.
	Workers int    `json:"workers"`
	DataVia string `json:"data_via"`
	// WallSeconds is job.Run's wall time, measurements included;
	// MeasureSeconds the part spent measuring.
	WallSeconds    float64 `json:"wall_seconds"`
	MeasureSeconds float64 `json:"measure_seconds"`
	// CrossCheck is the largest difference between the trainer's own
	// final test metrics (computed by the workers) and this package's at
	// the same θ: accuracy, and the loss when there is no smoothing.
	CrossCheck F `json:"cross_check"`
	// Curve has one point per epoch, from epoch 0.
	Curve []Point `json:"curve"`

	theta []float64 // final parameters, kept for the identity checks
}

// Final returns the run's last point.
func (r *Trial) Final() Point { return r.Curve[len(r.Curve)-1] }

// job describes a run to start.
type jobSpec struct {
	claim, dataset, variant string
	prep                    *trainer.Prepared
	hyper                   Hyper
	// dataVia is "path" for data the workers can read, "nats" for
	// in-memory training sets.
	dataVia string
	// measureTrain is the training set measured each epoch (the original
	// rows for the k copies); the test set is prep.Test.
	measureTrain *shard.Dataset
}

// runJob trains js through the distributed trainer — job.Run with local
// workers on an embedded NATS server listening on a free port — and
// measures θ after every epoch.
func (r *runner) runJob(ctx context.Context, js jobSpec) (*Trial, error) {
	prep, probe := withProbe(js.prep)
	spec := prep.Spec
	m, err := newMeter(prep.Prob, r.cfg.MeasureThreads)
	if err != nil {
		return nil, err
	}
	run := &Trial{Claim: js.claim, Dataset: js.dataset, Variant: js.variant, Loss: spec.Loss, Smoothing: spec.LossCfg.Smoothing,
		Seed: spec.Seed, Hyper: js.hyper, TrainRows: spec.Train.Rows, Job: spec.Job, DataVia: js.dataVia}

	var measureSeconds float64
	measure := func(epoch int, objective float64, theta []float64) {
		start := time.Now()
		run.Curve = append(run.Curve, Point{Epoch: epoch, Objective: F(objective),
			Train: m.measure(theta, js.measureTrain), Test: m.measure(theta, prep.Test)})
		measureSeconds += time.Since(start).Seconds()
	}
	theta0 := make([]float64, prep.Prob.P)
	probe.Model.Init(theta0, spec.Seed)
	measure(0, math.NaN(), theta0)

	var probeErr error
	tc := trainer.TrainConfig{
		Optimizer: js.hyper.Optimizer, Schedule: optim.Schedule{Kind: "constant", Base: js.hyper.LR},
		Epochs: js.hyper.Epochs, L2: js.hyper.L2, LBFGS: optim.DefaultLBFGSConfig(), Optim: optim.Config{Momentum: 0.9},
		HasTest: prep.Test != nil,
		OnEpoch: func(er trainer.EpochReport) {
			if probe.theta == nil {
				probeErr = fmt.Errorf("experiment: job %s: the trainer's θ was not initialised by the job's model", spec.Job)
				return
			}
			measure(er.Epoch+1, er.Objective, probe.theta)
		},
	}
	dir, err := os.MkdirTemp("", "dpt-experiment-nats-")
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	defer os.RemoveAll(dir)
	jc := job.DefaultConfig()
	jc.Prepared, jc.Train = prep, tc
	jc.LocalWorkers, jc.WorkerThreads, jc.JoinTimeout, jc.DataVia = r.cfg.Workers, 1, r.cfg.JoinTimeout, js.dataVia
	jc.Server.Listen, jc.Server.DataDir = "127.0.0.1:-1", dir
	jobLog := r.cfg.JobLog
	if jobLog == nil {
		jobLog = zap.NewNop()
	}
	out, err := job.Run(ctx, jc, jobLog, nil)
	if err != nil {
		return nil, fmt.Errorf("experiment: %s %s %s seed %d: %w", js.claim, js.dataset, js.variant, spec.Seed, err)
	}
	if probeErr != nil {
		return nil, probeErr
	}
	res := out.Result
	if len(res.Theta) == 0 || len(probe.theta) != len(res.Theta) || &probe.theta[0] != &res.Theta[0] {
		return nil, fmt.Errorf("experiment: job %s: the measured θ is not the trained one", spec.Job)
	}
	run.theta = res.Theta
	run.Steps, run.ParamsSHA256, run.Workers = res.Steps, out.Report.ParamsSHA256, out.Report.Workers
	run.WallSeconds, run.MeasureSeconds = out.Report.WallSeconds, measureSeconds
	if res.Test != nil {
		final := run.Final().Test
		d := math.Abs(res.Test.Accuracy - float64(final.Accuracy))
		if spec.LossCfg.Smoothing == 0 {
			d = max(d, math.Abs(res.Test.Loss-float64(final.Loss))/max(1, math.Abs(res.Test.Loss)))
		}
		run.CrossCheck = F(d)
		if d > crossCheckTol {
			r.log.Warn("the trainer's test metrics differ from the experiment's", zap.String("job", spec.Job), zap.Float64("difference", d))
		}
	}
	r.log.Info("run", zap.String("claim", js.claim), zap.String("dataset", js.dataset), zap.String("variant", js.variant),
		zap.Uint64("seed", spec.Seed), zap.Uint64("steps", run.Steps), zap.Float64("wall_seconds", run.WallSeconds),
		zap.Float64("test_loss", float64(run.Final().Test.Loss)), zap.Float64("test_accuracy", float64(run.Final().Test.Accuracy)))
	return run, nil
}

// crossCheckTol bounds the difference between the trainer's test metrics
// and the experiment's at the same θ. Both sum the same per-row values in
// different orders (the reduction tree vs two contiguous halves), so the
// loss may differ by a few ulps of the sum, ≈ rows·ε·mean loss ≪ 1e-9
// relative for these sizes; accuracies are sums of identical 0/1 weights.
const crossCheckTol = 1e-9
