package trainer

import (
	"context"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
)

// Local runs rounds in the calling goroutine, without a network: the
// reference the distributed runs are compared with, bit for bit, and the
// engine of single-process commands.
type Local struct {
	prob        *Problem
	m           model.Model
	train, test *shardSet
	sc          scratch
}

// NewLocal returns a Rounder over in-memory datasets (test may be nil),
// already aligned and scaled as the job describes.
func NewLocal(prob *Problem, train, test *shard.Dataset) (*Local, error) {
	m, err := prob.NewModel()
	if err != nil {
		return nil, err
	}
	l := &Local{prob: prob, m: m, train: wholeSet(train, prob.Spec.Train.Shards)}
	if test != nil && prob.Spec.Test != nil {
		l.test = wholeSet(test, prob.Spec.Test.Shards)
	}
	return l, nil
}

func wholeSet(d *shard.Dataset, m int) *shardSet {
	return &shardSet{ranges: shard.Split(d.Rows(), m), whole: d}
}

// Round implements Rounder.
func (l *Local) Round(ctx context.Context, kind allreduce.Kind, theta []float64, epoch int, step uint64) ([]float64, error) {
	set := l.train
	if kind == allreduce.KindEval {
		set = l.test
	}
	var n int
	if set != nil {
		n = len(set.ranges)
	}
	return computeBlock(ctx, l.prob, l.m, &l.sc, set, kind, epoch, step, theta, allreduce.Range{Lo: 0, Hi: n}, nil, nil)
}
