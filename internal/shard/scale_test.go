package shard

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

// randomDataset returns a rows×cols dataset with about density non-zeros
// per cell, column j scaled by 10^(j mod 5 − 2) and shifted by j, plus an
// all-zero last column; stored as requested.
func randomDataset(rnd *rand.Rand, rows, cols int, density float64, storage Storage) *Dataset {
	b := newBuilder("rand", &ReadOptions{Storage: storage})
	for range rows {
		b.begin()
		for j := range cols - 1 {
			if rnd.Float64() < density {
				b.add(int32(j), float32((rnd.NormFloat64()+float64(j))*math.Pow(10, float64(j%5-2))))
			}
		}
		b.commit(1, []byte("1"))
	}
	m, err := b.matrix(cols)
	if err != nil {
		panic(err)
	}
	return &Dataset{Name: "rand", X: m, Task: Binary, K: 1, Y: make([]float32, rows), Classes: []string{"0", "1"}}
}

func TestMaxAbsScaler(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	dense := randomDataset(rnd, 50, 7, 0.6, StorageDense)
	sparse := randomDataset(rand.New(rand.NewPCG(1, 2)), 50, 7, 0.6, StorageSparse)
	orig := slices.Clone(dense.X.Dense)
	s, err := FitScaler(ScaleMaxAbs, dense)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dense.X.Dense, orig) {
		t.Fatal("FitScaler changed its input")
	}
	ss, err := FitScaler(ScaleMaxAbs, sparse)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Scale, ss.Scale) || s.Shift != nil || ss.Shift != nil {
		t.Fatalf("dense %v, sparse %v", s, ss)
	}
	if s.Scale[6] != 1 {
		t.Errorf("all-zero column scale %v, want 1", s.Scale[6])
	}
	nnz := len(sparse.X.Values)
	if err := s.Apply(dense); err != nil {
		t.Fatal(err)
	}
	if err := ss.Apply(sparse); err != nil {
		t.Fatal(err)
	}
	if len(sparse.X.Values) != nnz {
		t.Error("maxabs changed the sparsity")
	}
	for i := range dense.X.Rows {
		for j := range dense.X.Cols {
			x := orig[i*7+j]
			want := float32(float64(x) / s.Scale[j]) // REFERENCE.md: float64 division
			if got := dense.X.Dense[i*7+j]; got != want || math.Abs(float64(got)) > 1 {
				t.Fatalf("x[%d,%d] = %v, want %v", i, j, got, want)
			}
		}
	}
	if !slices.Equal(denseOf(sparse.X), dense.X.Dense) {
		t.Error("sparse and dense scaling differ")
	}
}

func TestStandardScaler(t *testing.T) {
	// After scaling, each column has mean 0 and population variance 1 up to
	// float32 rounding of the stored values: |δx| ≤ 2⁻²⁴·|x'| with |x'| of
	// order a few units, so means and variances are off by ≲ 1e-6.
	const tol = 1e-5
	rnd := rand.New(rand.NewPCG(3, 4))
	d := randomDataset(rnd, 200, 6, 1, StorageDense)
	s, err := FitScaler(ScaleStandard, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(d); err != nil {
		t.Fatal(err)
	}
	for j := range 5 {
		var sum, ss float64
		for i := range 200 {
			sum += float64(d.X.Dense[i*6+j])
		}
		mean := sum / 200
		for i := range 200 {
			dx := float64(d.X.Dense[i*6+j]) - mean
			ss += dx * dx
		}
		if !scalar.EqualWithinAbs(mean, 0, tol) || !scalar.EqualWithinAbs(ss/200, 1, tol) {
			t.Errorf("column %d: mean %g, variance %g", j, mean, ss/200)
		}
	}
	if s.Scale[5] != 1 {
		t.Errorf("zero column scale %v", s.Scale[5])
	}
}

func TestStandardScalerSparseDoesNotCentre(t *testing.T) {
	// Same cells stored both ways: the CSR scale is the dense σ (implicit
	// zeros counted) and there is no shift.
	const tol = 1e-12 // same sums, different order of the zero terms only
	dense := randomDataset(rand.New(rand.NewPCG(5, 6)), 100, 6, 0.3, StorageDense)
	sparse := randomDataset(rand.New(rand.NewPCG(5, 6)), 100, 6, 0.3, StorageSparse)
	sd, err := FitScaler(ScaleStandard, dense)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := FitScaler(ScaleStandard, sparse)
	if err != nil {
		t.Fatal(err)
	}
	if ss.Shift != nil {
		t.Fatalf("sparse shift %v", ss.Shift)
	}
	for j := range sd.Scale {
		if !scalar.EqualWithinRel(sd.Scale[j], ss.Scale[j], tol) {
			t.Errorf("column %d: dense σ %v, sparse σ %v", j, sd.Scale[j], ss.Scale[j])
		}
	}
	if err := sd.Apply(sparse); err == nil {
		t.Error("a centring scaler applied to CSR data")
	}
}

func TestStandardScalerConstantColumn(t *testing.T) {
	// 0.1 is not representable: a naive σ would be a tiny non-zero number
	// and blow the column up.
	b := newBuilder("c", &ReadOptions{})
	for range 1000 {
		b.begin()
		b.add(0, 0.1)
		b.add(1, 3)
		b.commit(1, nil)
	}
	m, _ := b.matrix(2)
	s, err := FitScaler(ScaleStandard, &Dataset{X: m})
	if err != nil {
		t.Fatal(err)
	}
	if s.Scale[0] != 1 || s.Scale[1] != 1 {
		t.Errorf("constant columns scale %v, want 1", s.Scale)
	}
}

func TestScalerJSONAndValidate(t *testing.T) {
	s := Scaler{Kind: ScaleStandard, Scale: []float64{2, 0.5}, Shift: []float64{1, -1}}
	buf, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Scaler
	if err := json.Unmarshal(buf, &back); err != nil {
		t.Fatal(err)
	}
	if back.Kind != s.Kind || !slices.Equal(back.Scale, s.Scale) || !slices.Equal(back.Shift, s.Shift) {
		t.Errorf("round trip %s → %+v", buf, back)
	}
	x := []float32{5, 1}
	back.ApplyRow(x)
	if !slices.Equal(x, []float32{2, 4}) {
		t.Errorf("ApplyRow → %v, want [2 4]", x)
	}
	for _, bad := range []Scaler{
		{Kind: "minmax"},
		{Kind: ScaleMaxAbs, Scale: []float64{0}},
		{Kind: ScaleMaxAbs, Scale: []float64{math.Inf(1)}},
		{Kind: ScaleStandard, Scale: []float64{1}, Shift: []float64{math.NaN()}},
		{Kind: ScaleStandard, Scale: []float64{1}, Shift: []float64{1, 2}},
		{Kind: ScaleNone, Scale: []float64{1}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if _, err := FitScaler("minmax", &Dataset{}); err == nil {
		t.Error("unknown kind: no error")
	}
}

func TestScalerApplyChecksShape(t *testing.T) {
	d := mustLIBSVM(t, "1 1:1 2:2\n0 1:2\n", ReadOptions{})
	s := Scaler{Kind: ScaleMaxAbs, Scale: []float64{1, 2, 3}}
	if err := s.Apply(d); err == nil {
		t.Error("3-column scaler applied to 2 columns")
	}
	none, err := FitScaler("", d)
	if err != nil || none.Kind != ScaleNone {
		t.Fatal(none, err)
	}
	before := slices.Clone(d.X.Dense)
	if err := none.Apply(d); err != nil || !slices.Equal(before, d.X.Dense) {
		t.Error("none changed the data")
	}
	defer func() {
		if recover() == nil {
			t.Error("ApplyRow with a short row did not panic")
		}
	}()
	s.ApplyRow(make([]float32, 2))
}
