package trainer

import (
	"fmt"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/eval"
	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
)

// Problem is a JobSpec made executable: the model, the loss and the layout
// of the contribution vectors.
//
// A contribution vector for a gradient round (allreduce.KindGrad) is
//
//	[ Σ w_i ∂L_i/∂θ (P values) | Σ w_i L_i | Σ w_i ]
//
// and for an evaluation round (allreduce.KindEval on the test set,
// KindTrainEval on the training set)
//
//	[ Σ w_i L_i | Σ w_i | evaluation sums (E values) ]
//
// so a training step carries no evaluation work and no metric bytes. Every part is a sum over rows, so contributions of micro-shards
// add element-wise and the reduction of a round is one vector sum.
type Problem struct {
	Spec  JobSpec
	Task  shard.Task
	Model model.Model
	Loss  loss.Func
	Eval  eval.Layout
	// P is the number of parameters, E the length of the evaluation sums.
	P, E int
}

// NewProblem builds the model, loss and layouts a JobSpec describes.
func NewProblem(spec JobSpec) (*Problem, error) {
	task, err := ParseTask(spec.Task)
	if err != nil {
		return nil, err
	}
	kind, err := loss.ParseKind(spec.Loss)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	f, err := loss.New(kind, spec.K, spec.LossCfg)
	if err != nil {
		return nil, fmt.Errorf("trainer: loss: %w", err)
	}
	m, err := model.New(modelConfig(spec, f))
	if err != nil {
		return nil, fmt.Errorf("trainer: model: %w", err)
	}
	lay := eval.NewLayout(task, f, spec.K)
	return &Problem{Spec: spec, Task: task, Model: m, Loss: f, Eval: lay, P: m.NumParams(), E: lay.Len()}, nil
}

// VecLen is the length of a contribution vector of the given kind.
func (p *Problem) VecLen(kind allreduce.Kind) int {
	if kind == allreduce.KindGrad {
		return p.P + 2
	}
	return 2 + p.E
}

// Leaf writes into dst (len VecLen(kind)) the contribution of rows at
// parameters theta, computed in row order with m (a model of the same
// configuration) and sums (from p.NewSums), both owned by the caller's
// goroutine.
func (p *Problem) Leaf(dst []float64, kind allreduce.Kind, m model.Model, sums *eval.Sums, theta []float64, rows shard.Rows) {
	p.leaf(dst, kind, m, sums, theta, rows, nil)
}

// leaf is Leaf, with the gradient in the model's own order when perm is
// non-nil (model.GradOrder: it is m, and Permutes holds for rows).
func (p *Problem) leaf(dst []float64, kind allreduce.Kind, m model.Model, sums *eval.Sums, theta []float64, rows shard.Rows, perm model.GradOrder) {
	clear(dst)
	var grad []float64
	rest := dst
	if kind == allreduce.KindGrad {
		grad, rest = dst[:p.P], dst[p.P:]
	}
	var obs model.Observer
	if kind != allreduce.KindGrad {
		sums.V = rest[2:]
		obs = sums
	}
	var lossSum, weightSum float64
	if perm != nil && grad != nil {
		lossSum, weightSum = perm.AccumulatePermuted(grad, theta, rows, p.Loss, obs)
	} else {
		lossSum, weightSum = m.Accumulate(grad, theta, rows, p.Loss, obs)
	}
	rest[0], rest[1] = lossSum, weightSum
}

// Totals splits a reduced vector of the given kind into its parts; sums is
// nil for a gradient round.
func (p *Problem) Totals(vec []float64, kind allreduce.Kind) (grad []float64, lossSum, weightSum float64, sums []float64) {
	if kind == allreduce.KindGrad {
		return vec[:p.P], vec[p.P], vec[p.P+1], nil
	}
	return nil, vec[0], vec[1], vec[2:]
}

// NewModel returns a model of the job's configuration for a compute
// goroutine of its own (a model keeps scratch buffers). The error is
// always nil: the configuration was validated by NewProblem.
func (p *Problem) NewModel() (model.Model, error) { return p.Model.Clone(), nil }

// ModelConfig is the spec's model configuration with its input and output
// sizes filled in, as the model file records it.
func (p *Problem) ModelConfig() model.Config { return modelConfig(p.Spec, p.Loss) }

func modelConfig(spec JobSpec, f loss.Func) model.Config {
	mc := spec.Model
	mc.Inputs, mc.Outputs = spec.Features, f.Logits()
	return mc
}

// NewSums returns evaluation sums for a compute goroutine of its own.
func (p *Problem) NewSums() *eval.Sums { return eval.NewSums(p.Eval) }
