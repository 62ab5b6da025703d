package shard

import (
	"fmt"
	"math"
)

// checkInvariants verifies the structural contract of a Dataset: one
// storage form of the right size, CSR rows strictly ascending within
// range, finite values, Y of Rows·K targets in [0, 1] (one-hot for
// Multiclass), and class names matching the task.
func checkInvariants(d *Dataset) error {
	m := &d.X
	if m.Rows < 0 || m.Cols < 0 {
		return fmt.Errorf("shape %d×%d", m.Rows, m.Cols)
	}
	if m.Sparse() {
		if m.Dense != nil {
			return fmt.Errorf("both dense and CSR")
		}
		if len(m.Indptr) != m.Rows+1 || m.Indptr[0] != 0 || m.Indptr[m.Rows] != int64(len(m.Indices)) || len(m.Indices) != len(m.Values) {
			return fmt.Errorf("CSR sizes: indptr %d (last %d), indices %d, values %d for %d rows",
				len(m.Indptr), m.Indptr[len(m.Indptr)-1], len(m.Indices), len(m.Values), m.Rows)
		}
		for i := range m.Rows {
			if m.Indptr[i+1] < m.Indptr[i] {
				return fmt.Errorf("indptr decreases at row %d", i)
			}
			for p := m.Indptr[i]; p < m.Indptr[i+1]; p++ {
				j := m.Indices[p]
				if j < 0 || int(j) >= m.Cols {
					return fmt.Errorf("row %d: column %d out of 0..%d", i, j, m.Cols-1)
				}
				if p > m.Indptr[i] && j <= m.Indices[p-1] {
					return fmt.Errorf("row %d: columns not strictly ascending", i)
				}
			}
		}
	} else if m.Dense == nil || len(m.Dense) != m.Rows*m.Cols {
		return fmt.Errorf("dense: %d values for %d×%d (nil %v)", len(m.Dense), m.Rows, m.Cols, m.Dense == nil)
	}
	for _, v := range append(m.Dense[:len(m.Dense):len(m.Dense)], m.Values...) {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("non-finite feature %v", v)
		}
	}
	if d.K < 1 || len(d.Y) != m.Rows*d.K {
		return fmt.Errorf("%d targets for %d rows × K %d", len(d.Y), m.Rows, d.K)
	}
	for i := range m.Rows {
		sum := float32(0)
		for _, y := range d.Y[i*d.K : (i+1)*d.K] {
			if !(y >= 0 && y <= 1) {
				return fmt.Errorf("row %d: target %v outside [0, 1]", i, y)
			}
			sum += y
		}
		if d.Task == Multiclass && sum != 1 {
			return fmt.Errorf("row %d: multiclass targets sum to %v", i, sum)
		}
	}
	switch d.Task {
	case Binary:
		if d.K != 1 || len(d.Classes) != 2 {
			return fmt.Errorf("binary with K %d and %d classes", d.K, len(d.Classes))
		}
	case Multiclass, Multilabel:
		if len(d.Classes) != d.K {
			return fmt.Errorf("%v with K %d and %d classes", d.Task, d.K, len(d.Classes))
		}
	default:
		return fmt.Errorf("task %v", d.Task)
	}
	return nil
}
