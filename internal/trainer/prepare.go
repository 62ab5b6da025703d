package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/natsbus"
	"github.com/dptrain/dptrain/internal/shard"
)

// DataConfig says how to read a job's data.
type DataConfig struct {
	Train, Test string
	// Read holds the reader options (format, task, label column, ...);
	// the test set is read with the training set's label mapping.
	Read  shard.ReadOptions
	Scale string // none, maxabs or standard
	// MicroShards is M for the training set; 0 chooses from its size.
	MicroShards int
	// HoldOut, when ≥ 2 and there is no Test file, holds out the rows of
	// the training file whose 1-based number is divisible by it as the
	// test set.
	HoldOut int
}

// JobConfig is the part of a job that is not data.
type JobConfig struct {
	Loss      string // "" chooses from the task
	LossCfg   loss.Config
	Model     model.Config // Inputs and Outputs are filled in
	Seed      uint64
	BatchSize int
	// Salt is mixed into the job id: the optimizer settings, so that two
	// different runs on the same data are different jobs.
	Salt string
}

// Prepared is a job ready to run: its data read, aligned and scaled, and
// the spec workers receive.
type Prepared struct {
	Spec        *JobSpec
	Prob        *Problem
	Train, Test *shard.Dataset
	Skipped     shard.LoadStats
}

// Prepare reads the data, fits the scaling on the training set, applies
// it to both sets and builds the job's spec.
func Prepare(dc DataConfig, jc JobConfig) (*Prepared, error) {
	trainPath, err := filepath.Abs(dc.Train)
	if err != nil {
		return nil, err
	}
	opt := dc.Read
	train, st, err := shard.Load(trainPath, opt)
	if err != nil {
		return nil, err
	}
	opt.Task, opt.Classes = train.Task, train.Classes
	if opt.Missing == shard.MissingMean {
		// the test set and the workers fill with the training means
		opt.ColumnMeans = st.ColumnMeans
	}
	if train.Task == shard.Multilabel {
		opt.NumLabels = train.K
	}
	p := &Prepared{Train: train, Skipped: st}
	var testPath string
	if dc.Test == "" && dc.HoldOut >= 2 {
		p.Train, p.Test = shard.HoldOut(train, dc.HoldOut)
		testPath = trainPath
	}
	if dc.Test != "" {
		if testPath, err = filepath.Abs(dc.Test); err != nil {
			return nil, err
		}
		if p.Test, _, err = shard.Load(testPath, opt); err != nil {
			return nil, err
		}
		if err := shard.Align(p.Train, p.Test); err != nil {
			return nil, err
		}
	}
	scale := dc.Scale
	if scale == "" {
		scale = "none"
	}
	scaler, err := shard.FitScaler(scale, p.Train)
	if err != nil {
		return nil, err
	}
	for _, d := range []*shard.Dataset{p.Train, p.Test} {
		if d != nil {
			if err := scaler.Apply(d); err != nil {
				return nil, err
			}
		}
	}
	lossName := jc.Loss
	if lossName == "" {
		lossName = DefaultLoss(train.Task)
	}
	m := dc.MicroShards
	if m <= 0 {
		m = shard.DefaultMicroShards(train.Rows())
	}
	spec := &JobSpec{
		Task: train.Task.String(), K: train.K, Features: p.Train.X.Cols, Classes: train.Classes,
		Loss: lossName, LossCfg: jc.LossCfg, Model: jc.Model, Scaler: scaler, Seed: jc.Seed, BatchSize: jc.BatchSize,
		Train: DataSource{Path: trainPath, Options: readerOptions(opt, p.Train, train.Rows()), Rows: p.Train.Rows(), Shards: m},
	}
	if dc.Test == "" && dc.HoldOut >= 2 {
		spec.Train.HoldOut, spec.Train.Part = dc.HoldOut, "train"
	}
	if spec.Train.SHA256, err = fileSHA256(trainPath); err != nil {
		return nil, err
	}
	if p.Test != nil {
		fileRows := p.Test.Rows()
		if dc.Test == "" {
			fileRows = train.Rows() // held out of the training file
		}
		spec.Test = &DataSource{Path: testPath, Options: readerOptions(opt, p.Test, fileRows), Rows: p.Test.Rows(), Shards: shard.DefaultMicroShards(p.Test.Rows()),
			HoldOut: spec.Train.HoldOut}
		if spec.Test.HoldOut >= 2 {
			spec.Test.Part = "test"
		}
		if spec.Test.SHA256, err = fileSHA256(testPath); err != nil {
			return nil, err
		}
	}
	spec.Job = JobID(spec, jc.Salt)
	if p.Prob, err = NewProblem(*spec); err != nil {
		return nil, err
	}
	p.Spec = spec
	return p, nil
}

// JobID names a job by its content: the same spec (with the same data
// checksums) and salt give the same id, which resuming relies on.
func JobID(spec *JobSpec, salt string) string {
	s := *spec
	s.Job = ""
	b, _ := json.Marshal(struct {
		S    JobSpec
		Salt string
	}{s, salt})
	h := sha256.Sum256(b)
	return "j" + hex.EncodeToString(h[:6])
}

// DefaultLoss is the loss of a task when none is named.
func DefaultLoss(t shard.Task) string {
	switch t {
	case shard.Binary:
		return "logistic"
	case shard.Multiclass:
		return "softmax"
	}
	return "sigmoid"
}

// Validate reports an inconsistent spec.
func (s *JobSpec) Validate() error {
	if s.Train.Rows <= 0 || s.Train.Shards <= 0 {
		return fmt.Errorf("trainer: job %s: %d training rows in %d micro-shards", s.Job, s.Train.Rows, s.Train.Shards)
	}
	return nil
}

// PublishShards puts every micro-shard of the job's datasets in the
// JetStream object store, for workers that cannot read the files, and
// records where in the spec. It returns the bytes written.
func PublishShards(ctx context.Context, bus *natsbus.Bus, p *Prepared) (int, error) {
	bucket := "dpt-" + p.Spec.Job
	obj, err := bus.ObjectStore(ctx, bucket)
	if err != nil {
		return 0, err
	}
	var total int
	put := func(src *DataSource, d *shard.Dataset, prefix string) error {
		for i, r := range shard.Split(d.Rows(), src.Shards) {
			b := shard.EncodeShard(d.View(r))
			total += len(b)
			if err := obj.Put(ctx, ObjectName(prefix, i), b); err != nil {
				return fmt.Errorf("trainer: publish micro-shard %d: %w", i, err)
			}
		}
		src.Bucket, src.Prefix = bucket, prefix
		return nil
	}
	if err := put(&p.Spec.Train, p.Train, "train"); err != nil {
		return total, err
	}
	if p.Spec.Test != nil {
		if err := put(p.Spec.Test, p.Test, "test"); err != nil {
			return total, err
		}
	}
	return total, nil
}

// readerOptions are the options with which a worker reads a file so that
// it gets exactly the matrix the coordinator holds: the same columns and
// the same storage (dense and CSR passes may add in different orders). The
// file holds fileRows rows (d's, or more when d is held out of it): a
// reader that can reserves them at once.
func readerOptions(opt shard.ReadOptions, d *shard.Dataset, fileRows int) shard.ReadOptions {
	opt.NumFeatures = d.X.Cols
	opt.RowsHint = fileRows
	opt.Storage = shard.StorageDense
	if d.X.Sparse() {
		opt.Storage = shard.StorageSparse
	}
	return opt
}
