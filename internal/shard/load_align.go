package shard

import (
	"fmt"
	"slices"
)

// Align makes a training and a test set fit one model, in place:
//
//   - both get Cols = the larger of the two (REFERENCE.md: d is the largest
//     feature index occurring in train or test); dense matrices are laid
//     out again, CSR ones only change Cols;
//   - the test set takes the storage (dense or CSR) of the training set, so
//     one kernel serves both;
//   - Multilabel sets both get the larger K (label ids are positions, so
//     the shorter label list must be a prefix of the longer one);
//     Binary and Multiclass sets must have the same classes (compared as in
//     ReadOptions.Classes): read the test file with Classes set to the
//     training Classes to guarantee it.
//
// On error neither dataset is changed.
func Align(train, test *Dataset) error {
	if train.Task != test.Task {
		return fmt.Errorf("shard: align %s with %s: tasks differ (%v, %v)", train.Name, test.Name, train.Task, test.Task)
	}
	k := train.K
	if train.Task == Multilabel {
		short, long := train.Classes, test.Classes
		if len(short) > len(long) {
			short, long = long, short
		}
		if !slices.Equal(short, long[:len(short)]) {
			return fmt.Errorf("shard: align %s with %s: label names differ", train.Name, test.Name)
		}
		k = max(train.K, test.K)
	} else if !sameClasses(train.Classes, test.Classes) || train.K != test.K {
		return fmt.Errorf("shard: align %s with %s: classes differ (%s, %s): read the test set with the training Classes",
			train.Name, test.Name, abbreviate(train.Classes), abbreviate(test.Classes))
	}
	cols := max(train.X.Cols, test.X.Cols)
	if !train.X.Sparse() && int64(test.X.Rows)*int64(cols) > maxDenseCells {
		return fmt.Errorf("shard: align %s: %d×%d is too large to store dense", test.Name, test.X.Rows, cols)
	}
	if train.Task == Multilabel {
		long := train.Classes
		if len(test.Classes) > len(long) {
			long = test.Classes
		}
		for _, d := range []*Dataset{train, test} {
			if d.K < k {
				d.Y = widenRows(d.Y, d.Rows(), d.K, k)
				d.K = k
			}
			d.Classes = slices.Clone(long)
		}
	}
	for _, d := range []*Dataset{train, test} {
		if d.X.Cols < cols {
			if !d.X.Sparse() {
				d.X.Dense = widenRows(d.X.Dense, d.X.Rows, d.X.Cols, cols)
			}
			d.X.Cols = cols
		}
	}
	switch {
	case train.X.Sparse() && !test.X.Sparse():
		toCSR(&test.X)
	case !train.X.Sparse() && test.X.Sparse():
		toDense(&test.X)
	}
	return nil
}

// sameClasses compares class lists by value where both parse as numbers.
func sameClasses(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !newClassKey(a[i]).same(newClassKey(b[i])) {
			return false
		}
	}
	return true
}

// widenRows copies a rows×from row-major matrix into a rows×to one (to ≥
// from), zero-filling the new columns.
func widenRows(src []float32, rows, from, to int) []float32 {
	dst := makeLarge[[]float32](rows*to, rows*to)
	for i := range rows {
		copy(dst[i*to:i*to+from], src[i*from:(i+1)*from])
	}
	return dst
}

// toDense converts a CSR matrix to dense in place.
func toDense(m *Matrix) {
	dense := makeLarge[[]float32](m.Rows*m.Cols, m.Rows*m.Cols)
	for i := range m.Rows {
		row := dense[i*m.Cols : (i+1)*m.Cols]
		for p := m.Indptr[i]; p < m.Indptr[i+1]; p++ {
			row[m.Indices[p]] = m.Values[p]
		}
	}
	*m = Matrix{Rows: m.Rows, Cols: m.Cols, Dense: dense}
}

// toCSR converts a dense matrix to CSR in place, storing its non-zeros.
func toCSR(m *Matrix) {
	indptr := make([]int64, 1, m.Rows+1)
	var indices []int32
	var values []float32
	for i := range m.Rows {
		for j, v := range m.Dense[i*m.Cols : (i+1)*m.Cols] {
			if v != 0 {
				indices = append(indices, int32(j))
				values = append(values, v)
			}
		}
		indptr = append(indptr, int64(len(values)))
	}
	*m = Matrix{Rows: m.Rows, Cols: m.Cols, Indptr: indptr, Indices: indices, Values: values}
}
