package experiment

import (
	"fmt"

	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
	"github.com/dptrain/dptrain/internal/trainer"
)

// Variant returns the job that base's data make with the job
// configuration jc: the same datasets (shared, read-only), a spec whose
// loss, loss options, model, seed, batch size and job id are jc's, and a
// fresh Problem. It is what trainer.Prepare(dc, jc) returns for the data
// config dc that made base, without reading the files again; a test pins
// that equality.
func Variant(base *trainer.Prepared, jc trainer.JobConfig) (*trainer.Prepared, error) {
	spec := cloneSpec(base.Spec)
	spec.Loss = jc.Loss
	if spec.Loss == "" {
		task, err := trainer.ParseTask(spec.Task)
		if err != nil {
			return nil, err
		}
		spec.Loss = trainer.DefaultLoss(task)
	}
	spec.LossCfg, spec.Model, spec.Seed, spec.BatchSize = jc.LossCfg, jc.Model, jc.Seed, jc.BatchSize
	spec.Job = trainer.JobID(spec, jc.Salt)
	prob, err := trainer.NewProblem(*spec)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	return &trainer.Prepared{Spec: spec, Prob: prob, Train: base.Train, Test: base.Test, Skipped: base.Skipped}, nil
}

// cloneSpec copies a spec deeply enough that publishing micro-shards (which
// records the bucket in Train and Test) does not touch the original.
func cloneSpec(s *trainer.JobSpec) *trainer.JobSpec {
	c := *s
	if s.Test != nil {
		t := *s.Test
		c.Test = &t
	}
	return &c
}

// Copies returns the k-copies form of a multi-label dataset (MATH.md §4.3):
// each row i with k_i ≥ 1 labels becomes k_i rows with the same features,
// each with one of its labels one-hot, in label order, and example weight
// w_i/k_i (w_i the row's weight, 1 when the dataset has none); a row with
// no label is kept as it is. The copies of row i precede those of row i+1.
//
// With softmax cross-entropy, which is linear in the target,
//
//	Σ_c (w_i/k_i)·L(z_i, e_c) = w_i·L(z_i, (1/k_i)·Σ_c e_c)
//
// and each row's copies weigh w_i in all, so every sum the trainer forms
// over a whole dataset — Σ w·L, Σ w·∇L and Σ w — is the same for the copies
// as for the 1/k targets, up to the order of floating-point additions. (A
// row without a label gets the uniform target 1/K from loss.Softmax in
// both forms.) Labels must be hard, 0 or 1; Copies returns an error
// otherwise or if d is not multi-label.
func Copies(d *shard.Dataset) (*shard.Dataset, error) {
	if d.Task != shard.Multilabel {
		return nil, fmt.Errorf("experiment: k copies of a %v dataset: need multilabel", d.Task)
	}
	k := d.K
	out := &shard.Dataset{Name: d.Name + " (k copies)", Task: d.Task, K: k, Classes: d.Classes}
	out.X.Cols = d.X.Cols
	sparse := d.X.Sparse()
	if sparse {
		out.X.Indptr = []int64{0}
	} else {
		out.X.Dense = []float32{}
	}
	appendRow := func(i int, y []float32, w float64) {
		if sparse {
			lo, hi := d.X.Indptr[i], d.X.Indptr[i+1]
			out.X.Indices = append(out.X.Indices, d.X.Indices[lo:hi]...)
			out.X.Values = append(out.X.Values, d.X.Values[lo:hi]...)
			out.X.Indptr = append(out.X.Indptr, int64(len(out.X.Indices)))
		} else {
			c := d.X.Cols
			out.X.Dense = append(out.X.Dense, d.X.Dense[i*c:(i+1)*c]...)
		}
		out.Y = append(out.Y, y...)
		out.Weights = append(out.Weights, w)
		out.X.Rows++
	}
	oneHot := make([]float32, k)
	for i := 0; i < d.Rows(); i++ {
		y := d.Y[i*k : (i+1)*k]
		w := 1.0
		if d.Weights != nil {
			w = d.Weights[i]
		}
		var labels int
		for j, v := range y {
			switch v {
			case 0:
			case 1:
				labels++
			default:
				return nil, fmt.Errorf("experiment: k copies: row %d has soft target %v for label %d; need 0 or 1", i, v, j)
			}
		}
		if labels == 0 {
			appendRow(i, y, w)
			continue
		}
		for j, v := range y {
			if v == 1 {
				clear(oneHot)
				oneHot[j] = 1
				appendRow(i, oneHot, w/float64(labels))
			}
		}
	}
	return out, nil
}

// InMemory returns the job of p with the training set replaced by train,
// which exists only in this process: the spec's training source has no
// path, so workers fetch its micro-shards from the object store (run it
// with DataVia "nats"), and its rows and micro-shard count are train's.
func InMemory(p *trainer.Prepared, train *shard.Dataset, salt string) (*trainer.Prepared, error) {
	spec := cloneSpec(p.Spec)
	spec.Train = trainer.DataSource{Options: spec.Train.Options, Rows: train.Rows(), Shards: shard.DefaultMicroShards(train.Rows())}
	spec.Job = trainer.JobID(spec, salt)
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	prob, err := trainer.NewProblem(*spec)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	return &trainer.Prepared{Spec: spec, Prob: prob, Train: train, Test: p.Test}, nil
}

// thetaProbe is the job's model with one addition: it remembers the
// parameter vector it initialised. job.Run initialises the θ it then hands
// to trainer.Train, which updates it in place, so the probe sees the live
// parameters between steps, for the per-epoch measurements (EpochReport
// carries none). The runner checks after every job that the probe's
// vector is the trained one, so a change of that contract fails loudly
// instead of measuring the wrong parameters.
type thetaProbe struct {
	model.Model
	theta []float64
}

// Init implements model.Model.
func (p *thetaProbe) Init(theta []float64, seed uint64) {
	p.Model.Init(theta, seed)
	p.theta = theta
}

// withProbe returns a shallow copy of p whose Problem's model is a probe.
func withProbe(p *trainer.Prepared) (*trainer.Prepared, *thetaProbe) {
	prob := *p.Prob
	probe := &thetaProbe{Model: prob.Model}
	prob.Model = probe
	q := *p
	q.Prob = &prob
	return &q, probe
}
