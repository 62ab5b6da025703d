package trainer

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/modelfile"
	"github.com/dptrain/dptrain/internal/optim"
)

// TestTenMillionParameters trains a 10,000,010-parameter softmax model (a
// million hashed-style sparse features × 10 classes) over NATS with the
// server's default 1 MB max_payload: parameters and contributions of 80 MB
// travel in chunks, and the result is the single-process bits.
func TestTenMillionParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("moves several 80 MB vectors")
	}
	const features, classes, rows = 1_000_000, 10, 1200
	path := filepath.Join(t.TempDir(), "wide.svm")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 13))
	bw := bufio.NewWriter(fh)
	for i := 0; i < rows; i++ {
		fmt.Fprint(bw, rng.IntN(classes))
		j := 0
		for q := 0; q < 15; q++ {
			j += 1 + rng.IntN(features/16)
			fmt.Fprintf(bw, " %d:%.3f", j, rng.Float64())
		}
		fmt.Fprintln(bw)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	// Declaring the width through a last row that uses the last feature.
	if err := appendLine(path, fmt.Sprintf("0 %d:1", features)); err != nil {
		t.Fatal(err)
	}
	prep, err := Prepare(DataConfig{Train: path, Scale: "none", MicroShards: 3},
		JobConfig{Seed: 1, BatchSize: 600, Model: model.Config{Kind: "linear"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := prep.Prob.P; p < 10_000_000 {
		t.Fatalf("%d parameters, want ≥ 10 million", p)
	}
	tc := TrainConfig{Optimizer: "sgd", Epochs: 1, L2: 1e-6, Schedule: optim.Schedule{Kind: "constant", Base: 0.5}}
	want := modelfile.ParamsSHA256(trainLocal(t, prep, tc).Theta)
	got := trainDistributed(t, prep, tc, 2)
	if h := modelfile.ParamsSHA256(got.Theta); h != want {
		t.Errorf("params_sha256 %s over NATS, %s in one process", h, want)
	}
	if got.Steps != 3 {
		t.Errorf("%d steps, want 3", got.Steps)
	}
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
