package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/eval"
	"github.com/dptrain/dptrain/internal/optim"
	"github.com/dptrain/dptrain/internal/shard"
)

// Rounder runs one round: the sum, over every micro-shard of the training
// set (kinds KindGrad and KindTrainEval) or of the test set (KindEval), of the contributions at
// parameters theta. epoch < 0 asks for every row of each micro-shard (full
// batch); otherwise the rows of step of the mini-batch schedule.
// The result is the root of the fixed reduction tree, so it is the same
// bits however the micro-shards were spread over workers.
type Rounder interface {
	Round(ctx context.Context, kind allreduce.Kind, theta []float64, epoch int, step uint64) ([]float64, error)
}

// TrainConfig configures the optimisation.
type TrainConfig struct {
	// Optimizer is sgd, momentum, nesterov, adam, adagrad (mini-batch or
	// full batch with a fixed rate), lbfgs or gd (full batch).
	Optimizer string
	Schedule  optim.Schedule
	// Epochs caps the passes; in full-batch mode one iteration is one
	// epoch.
	Epochs int
	// L2 is λ in J(θ) = Σ w_i L_i / Σ w_i + (λ/2)‖W‖².
	L2 float64
	// LBFGS configures lbfgs and gd.
	LBFGS optim.LBFGSConfig
	// Optim configures the mini-batch optimizers.
	Optim optim.Config
	// EvalEvery evaluates the test set every that many epochs (0: only at
	// the end).
	EvalEvery int
	// HasTest tells whether the job has a test set.
	HasTest bool
	// OnEpoch, when set, is called after every epoch.
	OnEpoch func(EpochReport)
	// OnStep, when set, is called after every optimizer step.
	OnStep func(StepReport)

	// Resume continues from a checkpoint of the same job.
	Resume *Checkpoint
	// Checkpoint, when set, is called with the state every CheckpointEvery
	// steps (0: never during the run), when training ends, and when it
	// fails (with the last consistent state).
	Checkpoint      func(*Checkpoint) error
	CheckpointEvery int
}

// StepReport describes one optimizer step.
type StepReport struct {
	Step      uint64
	Epoch     int
	Objective float64 // of the step's batch
	GradNorm  float64
	LR        float64
	// Loss is the batch's mean loss Σ w·L / Σ w.
	Loss float64
	// Examples is Σ w over the step's batch; Update the optimizer's time.
	Examples float64
	Update   time.Duration
}

// EpochReport describes one epoch.
type EpochReport struct {
	// Theta is the parameters at the end of the epoch: a view, valid
	// during the callback only.
	Theta     []float64
	Epoch     int
	Steps     uint64
	Objective float64 // on the last batch (mini-batch) or the training set
	GradNorm  float64
	Seconds   float64
	Test      *eval.Metrics
}

// Result is what a training run produced.
type Result struct {
	Theta        []float64
	Steps        uint64
	Epochs       int
	EpochSeconds []float64
	Status       string
	Objective    float64
	Train        eval.Metrics
	Test         *eval.Metrics
}

// Train minimises J(θ) from theta (which it updates in place) with rounds
// run by r.
func Train(ctx context.Context, r Rounder, prob *Problem, cfg TrainConfig, theta []float64) (_ *Result, err error) {
	res := &Result{Theta: theta}
	// last returns the newest consistent state, for checkpoints.
	var last func() *Checkpoint
	save := func(c *Checkpoint) error {
		if cfg.Checkpoint == nil || c == nil {
			return nil
		}
		c.Job = prob.Spec.Job
		return cfg.Checkpoint(c)
	}
	defer func() {
		if err != nil && last != nil {
			if cerr := save(last()); cerr != nil {
				err = fmt.Errorf("%w (and the checkpoint failed: %v)", err, cerr)
			}
		}
	}()
	if ck := cfg.Resume; ck != nil {
		if ck.Job != prob.Spec.Job || len(ck.Theta) != len(theta) {
			return nil, fmt.Errorf("trainer: checkpoint of job %s with %d parameters does not fit job %s with %d", ck.Job, len(ck.Theta), prob.Spec.Job, len(theta))
		}
		copy(theta, ck.Theta)
		res.Steps, res.Epochs = ck.Steps, ck.Epochs
		res.EpochSeconds = append([]float64(nil), ck.EpochSeconds...)
	}
	objective := func(vec, g []float64) (f float64, err error) {
		grad, lossSum, weightSum, _ := prob.Totals(vec, allreduce.KindGrad)
		if weightSum <= 0 {
			return 0, errors.New("trainer: the step's examples have zero total weight")
		}
		if g != nil {
			for i, v := range grad {
				g[i] = v / weightSum
			}
		}
		f = lossSum/weightSum + cfg.L2*prob.Model.Penalty(g, theta, cfg.L2)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return f, fmt.Errorf("trainer: objective is %v", f)
		}
		return f, nil
	}
	testEval := func(epoch int) (*eval.Metrics, error) {
		if !cfg.HasTest {
			return nil, nil
		}
		vec, err := r.Round(ctx, allreduce.KindEval, theta, epoch, 0)
		if err != nil {
			return nil, err
		}
		_, lossSum, weightSum, sums := prob.Totals(vec, allreduce.KindEval)
		m := prob.Eval.Metrics(sums, lossSum, weightSum)
		return &m, nil
	}
	epochStart := time.Now()
	endEpoch := func(epoch int, f, gnorm float64) error {
		rep := EpochReport{Theta: theta, Epoch: epoch, Steps: res.Steps, Objective: f, GradNorm: gnorm}
		res.Epochs = epoch + 1
		if cfg.EvalEvery > 0 && (epoch+1)%cfg.EvalEvery == 0 {
			t, err := testEval(epoch)
			if err != nil {
				return err
			}
			rep.Test = t
		}
		rep.Seconds = time.Since(epochStart).Seconds()
		res.EpochSeconds = append(res.EpochSeconds, rep.Seconds)
		if cfg.OnEpoch != nil {
			cfg.OnEpoch(rep)
		}
		epochStart = time.Now()
		return nil
	}

	switch cfg.Optimizer {
	case "lbfgs", "gd":
		var step uint64
		evalAt := func(x, g []float64) (float64, error) {
			copy(theta, x)
			vec, err := r.Round(ctx, allreduce.KindGrad, theta, -1, step)
			if err != nil {
				return 0, err
			}
			step++
			return objective(vec, g)
		}
		lc := cfg.LBFGS
		if cfg.Epochs > 0 {
			lc.MaxIter = cfg.Epochs
		}
		var resume *optim.LBFGSState
		if cfg.Resume != nil {
			if cfg.Resume.LBFGS == nil {
				return nil, fmt.Errorf("trainer: the checkpoint of job %s holds no %s state", prob.Spec.Job, cfg.Optimizer)
			}
			resume = cfg.Resume.LBFGS
		}
		onIter := func(st *optim.LBFGSState) error {
			res.Steps = uint64(st.Iter)
			if cfg.OnStep != nil {
				cfg.OnStep(StepReport{Step: res.Steps, Epoch: st.Iter - 1, Objective: st.F, GradNorm: norm2(st.G)})
			}
			copy(theta, st.X)
			if err := endEpoch(st.Iter-1, st.F, norm2(st.G)); err != nil {
				return err
			}
			snap := st.Clone()
			last = func() *Checkpoint {
				return &Checkpoint{Steps: uint64(snap.Iter), Epochs: res.Epochs, Theta: append([]float64(nil), snap.X...), LBFGS: snap,
					EpochSeconds: append([]float64(nil), res.EpochSeconds...)}
			}
			if cfg.CheckpointEvery > 0 && st.Iter%cfg.CheckpointEvery == 0 {
				return save(last())
			}
			return nil
		}
		var out optim.LBFGSResult
		var err error
		if cfg.Optimizer == "lbfgs" {
			out, err = optim.Minimize(evalAt, append([]float64(nil), theta...), lc, resume, onIter)
		} else {
			out, err = optim.GradientDescent(evalAt, append([]float64(nil), theta...), lc, resume, onIter)
		}
		if err != nil {
			return nil, err
		}
		copy(theta, out.X)
		res.Status = out.Status.String()
	default:
		opt, err := optim.New(withName(cfg.Optim, cfg.Optimizer), len(theta))
		if err != nil {
			return nil, err
		}
		if cfg.Resume != nil {
			if cfg.Resume.Optim == nil {
				return nil, fmt.Errorf("trainer: the checkpoint of job %s holds no %s state", prob.Spec.Job, cfg.Optimizer)
			}
			if err := opt.Restore(*cfg.Resume.Optim); err != nil {
				return nil, err
			}
		}
		if prob.Spec.BatchSize <= 0 {
			return nil, fmt.Errorf("trainer: optimizer %s needs --batch-size > 0 (or use lbfgs or gd for full batch)", cfg.Optimizer)
		}
		sched := shard.Schedule{Seed: prob.Spec.Seed, Shards: shard.Split(prob.Spec.Train.Rows, prob.Spec.Train.Shards), BatchSize: prob.Spec.BatchSize}
		T := sched.StepsPerEpoch()
		g := make([]float64, len(theta))
		last = func() *Checkpoint {
			st := opt.State().Clone()
			return &Checkpoint{Steps: res.Steps, Epochs: res.Epochs, Theta: append([]float64(nil), theta...), Optim: &st,
				EpochSeconds: append([]float64(nil), res.EpochSeconds...)}
		}
		for epoch := int(res.Steps) / T; epoch < cfg.Epochs; epoch++ {
			var f, gn float64
			for s := int(res.Steps) % T; s < T; s++ {
				vec, err := r.Round(ctx, allreduce.KindGrad, theta, epoch, res.Steps)
				if err != nil {
					return nil, err
				}
				if f, err = objective(vec, g); err != nil {
					return nil, fmt.Errorf("trainer: step %d: %w", res.Steps, err)
				}
				lr := cfg.Schedule.LR(int(res.Steps))
				upd := time.Now()
				opt.Update(theta, g, lr)
				took := time.Since(upd)
				gn = norm2(g)
				if cfg.OnStep != nil {
					_, lossSum, weightSum, _ := prob.Totals(vec, allreduce.KindGrad)
					cfg.OnStep(StepReport{Step: res.Steps + 1, Epoch: epoch, Objective: f, GradNorm: gn, LR: lr,
						Loss: lossSum / weightSum, Examples: weightSum, Update: took})
				}
				res.Steps++
				if cfg.CheckpointEvery > 0 && res.Steps%uint64(cfg.CheckpointEvery) == 0 {
					if err := save(last()); err != nil {
						return nil, err
					}
				}
			}
			if err := endEpoch(epoch, f, gn); err != nil {
				return nil, err
			}
		}
		res.Status = "epochs"
	}

	// Final metrics at the final parameters, on the whole training set.
	vec, err := r.Round(ctx, allreduce.KindTrainEval, theta, -1, res.Steps)
	if err != nil {
		return nil, err
	}
	_, lossSum, weightSum, sums := prob.Totals(vec, allreduce.KindTrainEval)
	if weightSum <= 0 {
		return nil, errors.New("trainer: the training set has zero total weight")
	}
	res.Objective = lossSum/weightSum + cfg.L2*prob.Model.Penalty(nil, theta, cfg.L2)
	res.Train = prob.Eval.Metrics(sums, lossSum, weightSum)
	if res.Test, err = testEval(res.Epochs); err != nil {
		return nil, err
	}
	if last != nil {
		final := last()
		final.Done = true
		if err := save(final); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func withName(c optim.Config, name string) optim.Config {
	c.Name = name
	return c
}

func norm2(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}
