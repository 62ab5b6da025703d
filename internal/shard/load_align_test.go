package shard

import (
	"slices"
	"strings"
	"testing"
)

func mustLIBSVM(t *testing.T, in string, opt ReadOptions) *Dataset {
	t.Helper()
	d, _, err := ReadLIBSVM(strings.NewReader(in), "t", opt)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAlignWidensAndAdoptsTrainingStorage(t *testing.T) {
	// Train: dense, 3 columns. Test: index 5 (beyond train), CSR.
	train := mustLIBSVM(t, "1 1:1 2:2 3:3\n0 1:4\n", ReadOptions{})
	test := mustLIBSVM(t, "1 5:7\n0\n0\n0\n", ReadOptions{Task: Binary, Classes: train.Classes})
	if train.X.Sparse() || !test.X.Sparse() {
		t.Fatal("fixture storage")
	}
	if err := Align(train, test); err != nil {
		t.Fatal(err)
	}
	if train.X.Cols != 5 || test.X.Cols != 5 || test.X.Sparse() {
		t.Fatalf("cols %d/%d, test sparse %v", train.X.Cols, test.X.Cols, test.X.Sparse())
	}
	if want := []float32{1, 2, 3, 0, 0, 4, 0, 0, 0, 0}; !slices.Equal(train.X.Dense, want) {
		t.Errorf("train re-laid out as %v, want %v", train.X.Dense, want)
	}
	if test.X.Dense[4] != 7 || len(test.X.Dense) != 20 {
		t.Errorf("test %v", test.X.Dense)
	}
	for _, d := range []*Dataset{train, test} {
		if err := checkInvariants(d); err != nil {
			t.Error(err)
		}
	}
}

func TestAlignSparseTrainingSet(t *testing.T) {
	train := mustLIBSVM(t, "1 9:1\n0 1:1\n0\n", ReadOptions{})
	test := mustLIBSVM(t, "1 1:1 2:1\n", ReadOptions{Task: Binary, Classes: train.Classes})
	if err := Align(train, test); err != nil {
		t.Fatal(err)
	}
	if !test.X.Sparse() || test.X.Cols != 9 || !slices.Equal(test.X.Indices, []int32{0, 1}) {
		t.Errorf("test sparse %v cols %d indices %v", test.X.Sparse(), test.X.Cols, test.X.Indices)
	}
}

func TestAlignMultilabelWidensK(t *testing.T) {
	train := mustLIBSVM(t, "0,1 1:1\n", ReadOptions{})
	test := mustLIBSVM(t, "3 1:1\n 1:1\n", ReadOptions{Task: Multilabel})
	if err := Align(train, test); err != nil {
		t.Fatal(err)
	}
	if train.K != 4 || test.K != 4 || !slices.Equal(train.Y, []float32{1, 1, 0, 0}) || len(train.Classes) != 4 {
		t.Errorf("train K %d Y %v classes %q", train.K, train.Y, train.Classes)
	}
}

func TestAlignRejectsMismatchedClasses(t *testing.T) {
	train := mustLIBSVM(t, "1 1:1\n2 1:1\n3 1:1\n", ReadOptions{})
	test := mustLIBSVM(t, "1 1:1\n2 1:1\n4 2:1\n", ReadOptions{})
	if err := Align(train, test); err == nil || !strings.Contains(err.Error(), "classes differ") {
		t.Errorf("error %v", err)
	}
	if train.X.Cols != 1 {
		t.Error("failed Align changed the training set")
	}
	bin := mustLIBSVM(t, "1 1:1\n-1 1:1\n", ReadOptions{})
	if err := Align(train, bin); err == nil {
		t.Error("binary test set aligned with a multiclass training set")
	}
	// Equal by value: "1" and "1.0".
	a := mustLIBSVM(t, "1 1:1\n-1 1:1\n", ReadOptions{})
	b := mustLIBSVM(t, "1.0 1:1\n-1.0 1:1\n", ReadOptions{})
	if err := Align(a, b); err != nil {
		t.Error(err)
	}
}
