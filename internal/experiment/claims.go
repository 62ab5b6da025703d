package experiment

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
	"github.com/dptrain/dptrain/internal/trainer"
)

// Results is everything the experiments measured; it is written as
// results.json.
type Results struct {
	Seeds         int              `json:"seeds"`
	Workers       int              `json:"workers"`
	Hyper         map[string]Hyper `json:"hyper"`
	IdentitySteps int              `json:"identity_steps"`
	Datasets      []DatasetInfo    `json:"datasets"`
	Summaries     []Summary        `json:"summaries"`
	// Control is C1's check that the two-logit model is logistic
	// regression at twice the learning rate.
	Control []ParamCheck `json:"c1_control,omitempty"`
	// Identity is C3's check that the 1/k targets and the k copies give
	// the same parameters.
	Identity    []ParamCheck `json:"c3_identity,omitempty"`
	Runs        []*Trial     `json:"runs"`
	WallSeconds float64      `json:"wall_seconds"`
}

// DatasetInfo describes a dataset as the experiments read it.
type DatasetInfo struct {
	Claim    string `json:"claim"`
	Name     string `json:"name"`
	Task     string `json:"task"`
	Train    string `json:"train"`
	Test     string `json:"test,omitempty"`
	HoldOut  int    `json:"hold_out,omitempty"`
	Scale    string `json:"scale"`
	Source   string `json:"source"`
	Rows     int    `json:"train_rows"`
	TestRows int    `json:"test_rows"`
	Features int    `json:"features"`
	// K is the number of classes or labels (1 for binary).
	K int `json:"k"`
	// Cardinality is the mean number of labels of a training row
	// (multi-label), CopiesRows the rows of its k-copies form.
	Cardinality float64 `json:"label_cardinality,omitempty"`
	CopiesRows  int     `json:"copies_rows,omitempty"`
	// Seeds, Epochs and BatchSize are what this dataset ran with.
	Seeds     int `json:"seeds"`
	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`
}

// ParamCheck compares the final parameters of two runs that theory says
// are equal up to rounding.
type ParamCheck struct {
	Dataset string `json:"dataset"`
	Seed    uint64 `json:"seed"`
	// What is compared, in words.
	What string `json:"what"`
	// Steps is the number of optimizer steps of each run.
	Steps uint64 `json:"steps"`
	// MaxAbsDiff is max_i |θ_i − θ'_i|, MaxAbsTheta max_i |θ_i|.
	MaxAbsDiff  F `json:"max_abs_diff"`
	MaxAbsTheta F `json:"max_abs_theta"`
	// TrainLoss of each run at its final parameters.
	LossA F `json:"train_loss_a"`
	LossB F `json:"train_loss_b"`
}

type runner struct {
	cfg Config
	log *zap.Logger
	res *Results
}

// Run runs the configured claims through the distributed trainer and
// writes the results (results.json, results.md and the plots) into
// cfg.Out after each claim, so an interrupted run leaves what it
// finished. It returns the results and the files written.
func Run(ctx context.Context, cfg Config) (*Results, []string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, nil, fmt.Errorf("experiment: %w", err)
	}
	start := time.Now()
	r := &runner{cfg: cfg, log: cfg.Log, res: &Results{Seeds: cfg.Seeds, Workers: cfg.Workers, Hyper: map[string]Hyper{},
		IdentitySteps: cfg.IdentitySteps}}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	catalog := cfg.Catalog
	if catalog == nil {
		catalog = Catalog()
	}
	var files []string
	for _, claim := range cfg.Claims {
		h := cfg.Hyper[claim]
		r.res.Hyper[claim] = h
		list, err := selectDatasets(catalog[claim], cfg.Datasets, catalog)
		if err != nil {
			return nil, nil, err
		}
		for _, ds := range list {
			ds = ds.Resolve(cfg.DataRoot)
			hd, seeds := h, cfg.Seeds
			if ds.Epochs > 0 {
				hd.Epochs = ds.Epochs
			}
			if ds.BatchSize > 0 {
				hd.BatchSize = ds.BatchSize
			}
			if ds.Seeds > 0 {
				seeds = min(seeds, ds.Seeds)
			}
			r.log.Info("dataset", zap.String("claim", claim), zap.String("dataset", ds.Name), zap.Int("seeds", seeds),
				zap.Int("epochs", hd.Epochs), zap.Int("batch_size", hd.BatchSize))
			var err error
			switch claim {
			case "c1":
				err = r.c1(ctx, ds, hd, seeds)
			case "c2":
				err = r.c2(ctx, ds, hd, seeds)
			case "c3":
				err = r.c3(ctx, ds, hd, seeds)
			}
			if err != nil {
				return nil, nil, err
			}
		}
		r.res.WallSeconds = time.Since(start).Seconds()
		if files, err = Write(r.res, cfg.Out); err != nil {
			return nil, nil, err
		}
	}
	return r.res, files, nil
}

// prepare reads a dataset once; the runs derive their jobs from it with
// Variant.
func (r *runner) prepare(claim string, ds Dataset, h Hyper, seeds int) (*trainer.Prepared, *DatasetInfo, error) {
	base, err := trainer.Prepare(ds.Data, trainer.JobConfig{Model: h.Model, Seed: 1, BatchSize: h.BatchSize})
	if err != nil {
		return nil, nil, fmt.Errorf("experiment: %s: %w", ds.Name, err)
	}
	if base.Train.Task != ds.Task {
		return nil, nil, fmt.Errorf("experiment: %s was read as %v, the claim needs %v", ds.Name, base.Train.Task, ds.Task)
	}
	if base.Test == nil {
		return nil, nil, fmt.Errorf("experiment: %s has no test set", ds.Name)
	}
	info := DatasetInfo{Claim: claim, Name: ds.Name, Task: ds.Task.String(), Train: ds.Data.Train, Test: ds.Data.Test,
		HoldOut: ds.Data.HoldOut, Scale: ds.Data.Scale, Source: filepath.Join(ds.Source, "SOURCE.md"), Rows: base.Train.Rows(),
		TestRows: base.Test.Rows(), Features: base.Spec.Features, K: base.Spec.K, Seeds: seeds, Epochs: h.Epochs, BatchSize: h.BatchSize}
	if ds.Task == shard.Multilabel {
		var labels float64
		for _, v := range base.Train.Y {
			labels += float64(v)
		}
		info.Cardinality = labels / float64(base.Train.Rows())
	}
	return base, &info, nil
}

// salt names the optimizer settings in the job id.
func salt(h Hyper) string {
	return fmt.Sprint(h.Optimizer, h.LR, h.BatchSize, h.Epochs, h.L2)
}

func jobConfig(lossName string, eps float64, h Hyper, seed uint64, batch int) trainer.JobConfig {
	return trainer.JobConfig{Loss: lossName, LossCfg: loss.Config{Smoothing: eps}, Model: h.Model, Seed: seed, BatchSize: batch, Salt: salt(h)}
}

// c1 compares, on binary data, logistic regression (one logit) with the
// two-logit softmax, with and without label smoothing, and runs the
// control that explains their difference.
func (r *runner) c1(ctx context.Context, ds Dataset, h Hyper, seeds int) error {
	base, info, err := r.prepare("c1", ds, h, seeds)
	if err != nil {
		return err
	}
	r.res.Datasets = append(r.res.Datasets, *info)
	type variant struct {
		name, loss string
		eps        float64
		lrMul      float64 // the control runs at 2η with λ/2
	}
	vs := []variant{{"logistic", "logistic", 0, 1}, {"binary-softmax", "binary-softmax", 0, 1}}
	control := h.Model.Kind == model.KindLinear && h.Optimizer == "sgd"
	if control {
		vs = append(vs, variant{"logistic-2lr", "logistic", 0, 2})
	}
	if h.Smoothing > 0 {
		vs = append(vs, variant{"logistic+ls", "logistic", h.Smoothing, 1}, variant{"binary-softmax+ls", "binary-softmax", h.Smoothing, 1})
	}
	var runs []*Trial
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		byName := map[string]*Trial{}
		for _, v := range vs {
			hv := h
			hv.LR *= v.lrMul
			hv.L2 /= v.lrMul
			prep, err := Variant(base, jobConfig(v.loss, v.eps, hv, seed, hv.BatchSize))
			if err != nil {
				return err
			}
			run, err := r.runJob(ctx, jobSpec{claim: "c1", dataset: ds.Name, variant: v.name, prep: prep, hyper: hv, dataVia: "path",
				measureTrain: base.Train})
			if err != nil {
				return err
			}
			runs, byName[v.name] = append(runs, run), run
		}
		if control {
			a, b := byName["logistic-2lr"], byName["binary-softmax"]
			u := scoreWeights(b.theta, info.Features)
			r.res.Control = append(r.res.Control, compare(ds.Name, seed,
				"logistic at 2η, λ/2 vs the two-logit model's W1 − W0, b1 − b0", a, b, a.theta, u))
		}
	}
	r.finish("c1", ds.Name, runs, variantNames(vs, func(v variant) string { return v.name }))
	return nil
}

// scoreWeights maps the parameters of a linear two-logit model,
// [W (d × 2, row-major) | b0 b1], to those of the score s = z1 − z0:
// [W_j1 − W_j0 (d) | b1 − b0].
func scoreWeights(theta []float64, d int) []float64 {
	u := make([]float64, d+1)
	for j := range d {
		u[j] = theta[2*j+1] - theta[2*j]
	}
	u[d] = theta[2*d+1] - theta[2*d]
	return u
}

func compare(dataset string, seed uint64, what string, a, b *Trial, x, y []float64) ParamCheck {
	var diff, size float64
	for i := range x {
		diff = max(diff, math.Abs(x[i]-y[i]))
		size = max(size, math.Abs(x[i]))
	}
	return ParamCheck{Dataset: dataset, Seed: seed, What: what, Steps: a.Steps, MaxAbsDiff: F(diff), MaxAbsTheta: F(size),
		LossA: a.Final().Train.Loss, LossB: b.Final().Train.Loss}
}

// c2 compares, on single-label multi-class data, softmax cross-entropy
// with the sum of log loss (K sigmoids on the one-hot targets).
func (r *runner) c2(ctx context.Context, ds Dataset, h Hyper, seeds int) error {
	base, info, err := r.prepare("c2", ds, h, seeds)
	if err != nil {
		return err
	}
	r.res.Datasets = append(r.res.Datasets, *info)
	vs := []string{"softmax", "sigmoid"}
	var runs []*Trial
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		for _, v := range vs {
			prep, err := Variant(base, jobConfig(v, 0, h, seed, h.BatchSize))
			if err != nil {
				return err
			}
			run, err := r.runJob(ctx, jobSpec{claim: "c2", dataset: ds.Name, variant: v, prep: prep, hyper: h, dataVia: "path",
				measureTrain: base.Train})
			if err != nil {
				return err
			}
			runs = append(runs, run)
		}
	}
	r.finish("c2", ds.Name, runs, vs)
	return nil
}

// c3 compares, on multi-label data, the sum of log loss with softmax
// cross-entropy on 1/k targets and on k one-hot copies of each row, and
// checks with full-batch runs that the last two give the same parameters.
//
// With mini-batches the two softmax forms differ: a batch of the copies
// holds single copies, not whole rows. Its batch size is scaled by the
// ratio of rows so both take the same number of steps per epoch, and its
// rows are measured on the original training set.
func (r *runner) c3(ctx context.Context, ds Dataset, h Hyper, seeds int) error {
	base, info, err := r.prepare("c3", ds, h, seeds)
	if err != nil {
		return err
	}
	copies, err := Copies(base.Train)
	if err != nil {
		return err
	}
	info.CopiesRows = copies.Rows()
	r.res.Datasets = append(r.res.Datasets, *info)
	copiesBatch := max(1, int(math.Round(float64(h.BatchSize)*float64(copies.Rows())/float64(base.Train.Rows()))))

	inMemory := func(h Hyper, seed uint64, batch int) (*trainer.Prepared, error) {
		p, err := Variant(base, jobConfig("softmax", 0, h, seed, batch))
		if err != nil {
			return nil, err
		}
		return InMemory(p, copies, "copies "+salt(h))
	}
	vs := []string{"sigmoid", "softmax-1/k", "softmax-copies"}
	var runs []*Trial
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		for _, v := range vs {
			js := jobSpec{claim: "c3", dataset: ds.Name, variant: v, hyper: h, dataVia: "path", measureTrain: base.Train}
			switch v {
			case "sigmoid":
				js.prep, err = Variant(base, jobConfig("sigmoid", 0, h, seed, h.BatchSize))
			case "softmax-1/k":
				js.prep, err = Variant(base, jobConfig("softmax", 0, h, seed, h.BatchSize))
			default:
				js.prep, err = inMemory(h, seed, copiesBatch)
				js.dataVia = "nats"
			}
			if err != nil {
				return err
			}
			run, err := r.runJob(ctx, js)
			if err != nil {
				return err
			}
			runs = append(runs, run)
		}
	}
	r.finish("c3", ds.Name, runs, vs)

	// The identity: full batch (one step per epoch over every row), so
	// both runs follow the same gradients up to rounding.
	hf := h
	hf.Epochs, hf.BatchSize = r.cfg.IdentitySteps, copies.Rows()
	pa, err := Variant(base, jobConfig("softmax", 0, hf, 1, hf.BatchSize))
	if err != nil {
		return err
	}
	pb, err := inMemory(hf, 1, hf.BatchSize)
	if err != nil {
		return err
	}
	a, err := r.runJob(ctx, jobSpec{claim: "c3", dataset: ds.Name, variant: "identity-1/k", prep: pa, hyper: hf, dataVia: "path", measureTrain: base.Train})
	if err != nil {
		return err
	}
	b, err := r.runJob(ctx, jobSpec{claim: "c3", dataset: ds.Name, variant: "identity-copies", prep: pb, hyper: hf, dataVia: "nats", measureTrain: base.Train})
	if err != nil {
		return err
	}
	chk := compare(ds.Name, 1, "softmax on 1/k targets vs on k one-hot copies of weight 1/k, full batch", a, b, a.theta, b.theta)
	r.res.Identity = append(r.res.Identity, chk)
	r.log.Info("identity", zap.String("dataset", ds.Name), zap.Float64("max_abs_diff", float64(chk.MaxAbsDiff)),
		zap.Float64("max_abs_theta", float64(chk.MaxAbsTheta)))
	return nil
}

// finish records a dataset's runs and their summaries.
func (r *runner) finish(claim, dataset string, runs []*Trial, variants []string) {
	for _, run := range runs {
		run.theta = nil // the checks that need them are done
	}
	r.res.Runs = append(r.res.Runs, runs...)
	r.res.Summaries = append(r.res.Summaries, summarize(claim, dataset, runs, variants)...)
}

func variantNames[V any](vs []V, name func(V) string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = name(v)
	}
	return out
}
