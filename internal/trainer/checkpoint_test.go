package trainer

import (
	"context"
	"errors"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/modelfile"
	"github.com/dptrain/dptrain/internal/optim"
)

// crashAfter is a Rounder that fails once n rounds have run: a coordinator
// dying mid-job.
type crashAfter struct {
	r Rounder
	n int
}

var errCrash = errors.New("coordinator killed")

func (c *crashAfter) Round(ctx context.Context, kind allreduce.Kind, theta []float64, epoch int, step uint64) ([]float64, error) {
	if c.n == 0 {
		return nil, errCrash
	}
	c.n--
	return c.r.Round(ctx, kind, theta, epoch, step)
}

// TestCheckpointResume: a job killed mid-run and resumed from its newest
// checkpoint ends with the same bits as a job that never failed, for the
// mini-batch optimizers (mid-epoch) and for L-BFGS.
func TestCheckpointResume(t *testing.T) {
	for _, tc := range []struct {
		name  string
		jc    JobConfig
		train TrainConfig
		crash []int // rounds after which successive runs die
	}{
		{"adam", JobConfig{Seed: 2, BatchSize: 100, Model: model.Config{Kind: "linear"}},
			TrainConfig{Optimizer: "adam", Epochs: 3, L2: 1e-4, Schedule: optim.Schedule{Kind: "constant", Base: 0.02}, CheckpointEvery: 4, EvalEvery: 1, HasTest: true},
			[]int{9, 23}},
		{"lbfgs", JobConfig{Seed: 2, Model: model.Config{Kind: "linear"}},
			TrainConfig{Optimizer: "lbfgs", Epochs: 30, L2: 1e-3, LBFGS: optim.DefaultLBFGSConfig(), CheckpointEvery: 2, HasTest: true},
			[]int{7, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prep := prepareSynthetic(t, 3, tc.jc, 5)
			local, err := NewLocal(prep.Prob, prep.Train, prep.Test)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Train(context.Background(), local, prep.Prob, tc.train, initTheta(t, prep))
			if err != nil {
				t.Fatal(err)
			}
			store := DirStore{Dir: t.TempDir()}
			ctx := context.Background()
			cfg := tc.train
			cfg.Checkpoint = func(c *Checkpoint) error { _, err := store.Save(ctx, c); return err }
			for _, n := range tc.crash {
				if ck, err := store.Load(ctx, prep.Spec.Job); err == nil {
					cfg.Resume = ck
				}
				if _, err := Train(ctx, &crashAfter{r: local, n: n}, prep.Prob, cfg, initTheta(t, prep)); !errors.Is(err, errCrash) {
					t.Fatalf("crash after %d rounds: err = %v", n, err)
				}
			}
			ck, err := store.Load(ctx, prep.Spec.Job)
			if err != nil {
				t.Fatal(err)
			}
			if ck.Steps == 0 {
				t.Fatalf("the checkpoint after the crashes is at step 0")
			}
			cfg.Resume = ck
			got, err := Train(ctx, local, prep.Prob, cfg, initTheta(t, prep))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := modelfile.ParamsSHA256(got.Theta), modelfile.ParamsSHA256(want.Theta); g != w || got.Steps != want.Steps {
				t.Errorf("resumed from step %d: %s after %d steps, uninterrupted %s after %d", ck.Steps, g, got.Steps, w, want.Steps)
			}
			final, err := store.Load(ctx, prep.Spec.Job)
			if err != nil || !final.Done || final.Steps != want.Steps {
				t.Errorf("final checkpoint: %+v, %v", final, err)
			}
		})
	}
}

func TestCheckpointCorruptionDetected(t *testing.T) {
	b, err := EncodeCheckpoint(&Checkpoint{Job: "j", Steps: 3, Theta: []float64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if _, err := DecodeCheckpoint(b, "x"); err == nil {
		t.Fatal("a corrupt checkpoint decoded")
	}
	if _, err := DecodeCheckpoint(b[:10], "x"); err == nil {
		t.Fatal("a truncated checkpoint decoded")
	}
}
