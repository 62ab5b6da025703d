package trainer

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/optim"
	"github.com/dptrain/dptrain/internal/shard"
)

// sharedData locates ../shared/data, or skips.
func sharedData(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DPT_SHARED_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data")
	}
	if _, err := os.Stat(filepath.Join(dir, "REFERENCE.md")); err != nil {
		t.Skipf("shared datasets not found at %s (set DPT_SHARED_DATA): %v", dir, err)
	}
	return dir
}

// reference is one row of ../shared/data/REFERENCE.md.
type reference struct {
	name        string
	train, test string
	holdOut     int
	labels      int // multi-label: the documented label count
	lambda      float64
	jStar       float64
	// the test metric the optimum reaches, and how close ours must be
	metric string
	want   float64
	// heavy sets run only when DPT_REFERENCE=all
	heavy bool
}

var references = []reference{
	{name: "a9a_lambda_1_over_n", train: "a9a/a9a", test: "a9a/a9a.t", lambda: 1.0 / 32561, jStar: 0.323349173261, metric: "accuracy", want: 0.8498},
	{name: "a9a", train: "a9a/a9a", test: "a9a/a9a.t", lambda: 1e-4, jStar: 0.324413044112, metric: "accuracy", want: 0.8498},
	{name: "mushrooms", train: "mushrooms/agaricus.txt.train", test: "mushrooms/agaricus.txt.test", lambda: 1e-4, jStar: 0.0114490695332, metric: "accuracy", want: 1},
	{name: "w8a", train: "w8a/w8a", holdOut: 5, lambda: 1e-4, jStar: 0.0607007031347, metric: "accuracy", want: 0.9820},
	{name: "ijcnn1", train: "ijcnn1/ijcnn1.trn.bz2", test: "ijcnn1/ijcnn1.tst.bz2", lambda: 1e-4, jStar: 0.198996095392, metric: "accuracy", want: 0.9166, heavy: true},
	{name: "pendigits", train: "pendigits/pendigits", test: "pendigits/pendigits.t", lambda: 1e-4, jStar: 0.271335072931, metric: "accuracy", want: 0.9011},
	{name: "sector", train: "sector/sector.scale.bz2", test: "sector/sector.t.scale.bz2", lambda: 1e-4, jStar: 0.412708924603, metric: "accuracy", want: 0.8968, heavy: true},
	{name: "mnist", train: "mnist/train-images-idx3-ubyte.gz", test: "mnist/t10k-images-idx3-ubyte.gz", lambda: 1e-4, jStar: 0.259248295008, metric: "accuracy", want: 0.9263, heavy: true},
	{name: "scene", train: "scene/derived-libsvm/scene-train.svm", test: "scene/derived-libsvm/scene-test.svm", labels: 6, lambda: 1e-4, jStar: 0.794457754359, metric: "micro_f1", want: 0.6599},
	{name: "emotions", train: "emotions/derived-libsvm/emotions-train.svm", test: "emotions/derived-libsvm/emotions-test.svm", labels: 6, lambda: 1e-4, jStar: 1.98467082607, metric: "micro_f1", want: 0.6451},
	{name: "bibtex", train: "bibtex/derived-libsvm/bibtex-train.svm", test: "bibtex/derived-libsvm/bibtex-test.svm", labels: 159, lambda: 1e-4, jStar: 1.40031099487, metric: "micro_f1", want: 0.4234, heavy: true},
	{name: "enron", train: "enron/derived-libsvm/enron-train.svm", test: "enron/derived-libsvm/enron-test.svm", labels: 53, lambda: 1e-4, jStar: 1.08906038191, metric: "micro_f1", want: 0.5363, heavy: true},
	{name: "medical", train: "medical/derived-libsvm/medical-train.svm", test: "medical/derived-libsvm/medical-test.svm", labels: 45, lambda: 1e-4, jStar: 0.17746392299, metric: "micro_f1", want: 0.7490, heavy: true},
	{name: "tmc2007-500", train: "tmc2007-500/derived-libsvm/tmc2007-500-train.svm", test: "tmc2007-500/derived-libsvm/tmc2007-500-test.svm", labels: 22, lambda: 1e-4, jStar: 2.95186175697, metric: "micro_f1", want: 0.6282, heavy: true},
	{name: "delicious", train: "delicious/derived-libsvm/delicious-train.svm", test: "delicious/derived-libsvm/delicious-test.svm", labels: 983, lambda: 1e-4, jStar: 53.6393595072, metric: "micro_f1", want: 0.2588, heavy: true},
}

// TestReferenceOptima trains each shared set under the protocol of
// REFERENCE.md with full-batch L-BFGS in one process and checks that the
// objective is within 1e-6 relative of J* and that the test metric of the
// optimum is reached. The distributed runs are bit-identical to this one
// (TestDistributedMatchesLocal), so this is also their accuracy.
//
// Sets marked heavy run with DPT_REFERENCE=all:
//
//	DPT_REFERENCE=all go test -run TestReferenceOptima -timeout 60m ./internal/trainer
func TestReferenceOptima(t *testing.T) {
	dir := sharedData(t)
	all := os.Getenv("DPT_REFERENCE") == "all"
	for _, ref := range references {
		t.Run(ref.name, func(t *testing.T) {
			if ref.heavy && !all {
				t.Skip("heavy: set DPT_REFERENCE=all")
			}
			if testing.Short() && ref.name != "a9a_lambda_1_over_n" {
				t.Skip("short")
			}
			res, prep := fitReference(t, dir, ref)
			rel := (res.Objective - ref.jStar) / ref.jStar
			t.Logf("%s: J = %.12g, J* = %.12g, relative %.2e, %d iterations (%s); test %+v", ref.name, res.Objective, ref.jStar, rel, res.Steps, res.Status, *res.Test)
			if math.Abs(rel) > 1e-6 {
				t.Errorf("J = %.12g, J* = %.12g: relative gap %.3g > 1e-6", res.Objective, ref.jStar, rel)
			}
			got := res.Test.Accuracy
			if ref.metric == "micro_f1" {
				got = res.Test.MicroF1
			}
			if got < ref.want-2e-3 {
				t.Errorf("test %s = %.4f, the optimum reaches %.4f", ref.metric, got, ref.want)
			}
			_ = prep
		})
	}
}

func fitReference(t *testing.T, dir string, ref reference) (*Result, *Prepared) {
	t.Helper()
	dc := DataConfig{Train: filepath.Join(dir, ref.train), HoldOut: ref.holdOut, Scale: "maxabs"}
	if ref.test != "" {
		dc.Test = filepath.Join(dir, ref.test)
	}
	if strings.Contains(ref.train, "idx3") {
		dc.Scale = "none" // the IDX reader gives pixels/255, the protocol for mnist
	}
	if ref.labels > 0 {
		dc.Read = shard.ReadOptions{Task: shard.Multilabel, NumLabels: ref.labels}
	}
	prep, err := Prepare(dc, JobConfig{Model: model.Config{Kind: "linear"}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(prep.Prob, prep.Train, prep.Test)
	if err != nil {
		t.Fatal(err)
	}
	lc := optim.DefaultLBFGSConfig()
	lc.GradTol, lc.FTol = 1e-9, 1e-13
	tc := TrainConfig{Optimizer: "lbfgs", Epochs: 5000, L2: ref.lambda, LBFGS: lc, HasTest: true}
	res, err := Train(context.Background(), l, prep.Prob, tc, initTheta(t, prep))
	if err != nil {
		t.Fatal(err)
	}
	return res, prep
}
