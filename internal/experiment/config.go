package experiment

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/dptrain/dptrain/internal/model"
)

// Hyper are the hyper-parameters of a claim, the same for every model it
// compares (a dataset may cap the seeds or replace the epochs and batch
// size, for all its models alike; see Dataset).
type Hyper struct {
	// Optimizer is a mini-batch optimizer of the trainer (sgd, momentum,
	// nesterov, adam, adagrad) with a constant learning rate LR.
	Optimizer string  `json:"optimizer"`
	LR        float64 `json:"lr"`
	BatchSize int     `json:"batch_size"`
	Epochs    int     `json:"epochs"`
	// L2 is λ of the penalty (λ/2)‖W‖², biases not penalised.
	L2 float64 `json:"l2"`
	// Smoothing is the label smoothing ε of the smoothed variants (C1).
	Smoothing float64 `json:"label_smoothing,omitempty"`
	// Model is the model; a linear model starts from θ = 0, an MLP from
	// the seeded initialisation of model.MLP.
	Model model.Config `json:"model"`
}

// Validate reports hyper-parameters the trainer would reject.
func (h Hyper) Validate() error {
	switch h.Optimizer {
	case "sgd", "momentum", "nesterov", "adam", "adagrad":
	default:
		return fmt.Errorf("experiment: optimizer %q: want a mini-batch optimizer (sgd, momentum, nesterov, adam, adagrad)", h.Optimizer)
	}
	if !(h.LR > 0) || h.BatchSize < 1 || h.Epochs < 1 || h.L2 < 0 || !(h.Smoothing >= 0 && h.Smoothing < 1) {
		return fmt.Errorf("experiment: need lr > 0, batch size ≥ 1, epochs ≥ 1, l2 ≥ 0 and smoothing in [0,1); got %+v", h)
	}
	return nil
}

// Config configures the experiments.
type Config struct {
	// Claims to run, in order: "c1", "c2", "c3".
	Claims []string
	// DataRoot is the shared data folder (see Catalog); Out receives the
	// results.
	DataRoot, Out string
	// Datasets, when non-empty, restricts every claim to these names.
	Datasets []string
	// Catalog lists each claim's datasets, paths relative to DataRoot
	// (nil: the shared data folder's, see Catalog).
	Catalog map[string][]Dataset
	// Seeds is the number of seeds 1..Seeds of every comparison (a
	// dataset may cap it).
	Seeds int
	// Hyper holds each claim's hyper-parameters, by claim.
	Hyper map[string]Hyper
	// IdentitySteps is the number of full-batch steps of the C3 check that
	// the 1/k-target and k-copies runs end with the same parameters.
	IdentitySteps int
	// Workers is the number of local workers of every job; they talk to
	// the coordinator through an embedded NATS server on a free port.
	Workers int
	// MeasureThreads splits the per-epoch measurements over goroutines.
	MeasureThreads int
	// JoinTimeout bounds the wait for the local workers of a job.
	JoinTimeout time.Duration
	// Log receives the progress of the experiments, JobLog that of each
	// job (nil: nothing).
	Log, JobLog *zap.Logger
}

// DefaultConfig returns the configuration of docs/experiments.md.
//
// C1 uses plain SGD so that its control is exact: from θ = 0, with SGD,
// the two-logit model keeps W0 = −W1 and is logistic regression on
// u = W1 − W0 at twice the learning rate and half the penalty (see the
// package documentation). λ = 0 in C1 so that label smoothing is the only
// regulariser under study. C2 and C3 use Adam, the usual choice in
// practice, which also makes the comparison independent of the scale of
// each loss's gradient (the sum of log loss has K terms). The multi-label
// sets are small (a few hundred to a thousand rows), so C3 runs 100 epochs
// of batches of 64: about 600 to 1,800 steps, enough for the per-label
// biases of the sum of log loss to reach the rare labels' base rates.
func DefaultConfig() Config {
	linear := model.Config{Kind: model.KindLinear}
	return Config{
		Claims: []string{"c1", "c2", "c3"},
		Seeds:  3,
		Hyper: map[string]Hyper{
			"c1": {Optimizer: "sgd", LR: 0.5, BatchSize: 128, Epochs: 10, L2: 0, Smoothing: 0.1, Model: linear},
			"c2": {Optimizer: "adam", LR: 0.01, BatchSize: 128, Epochs: 10, L2: 0, Model: linear},
			"c3": {Optimizer: "adam", LR: 0.01, BatchSize: 64, Epochs: 100, L2: 0, Model: linear},
		},
		IdentitySteps:  30,
		Workers:        2,
		MeasureThreads: 2,
		JoinTimeout:    time.Minute,
	}
}

// Validate reports an unusable configuration.
func (c *Config) Validate() error {
	if len(c.Claims) == 0 {
		return errors.New("experiment: no claim to run")
	}
	for _, cl := range c.Claims {
		h, ok := c.Hyper[cl]
		if !ok {
			return fmt.Errorf("experiment: claim %q: want c1, c2 or c3", cl)
		}
		if err := h.Validate(); err != nil {
			return fmt.Errorf("%w (claim %s)", err, cl)
		}
	}
	if c.DataRoot == "" || c.Out == "" {
		return errors.New("experiment: need a data root and an output folder")
	}
	if c.Seeds < 1 || c.Workers < 1 || c.IdentitySteps < 1 {
		return fmt.Errorf("experiment: need seeds, workers and identity steps ≥ 1; got %d, %d, %d", c.Seeds, c.Workers, c.IdentitySteps)
	}
	return nil
}
