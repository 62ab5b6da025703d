package shard

import (
	"fmt"
	"math"
)

// Scaler kinds.
const (
	ScaleNone     = "none"
	ScaleMaxAbs   = "maxabs"
	ScaleStandard = "standard"
)

// Scaler is a per-column affine feature map fitted on the training set and
// applied to every set the model sees (train, test, predict); it is stored
// with the model, hence the JSON tags. Column j maps
//
//	x ← (x − Shift_j) / Scale_j
//
// evaluated in float64 from the float32 value and rounded to float32 (a
// nil Shift means 0; Kind "none" has nil Scale and maps x to itself). The
// kinds:
//
//   - "maxabs": Scale_j = m_j = maxᵢ |x_ij| over the training rows, Shift =
//     nil; a column with m_j = 0 keeps factor 1. Sparsity is kept. Test
//     values may exceed 1 in magnitude. This is REFERENCE.md's protocol.
//   - "standard": Shift_j = μ_j, Scale_j = σ_j, the mean and population
//     standard deviation (divisor n) of column j over the training rows,
//     implicit zeros of CSR rows included. A CSR training set is not
//     centred (Shift = nil, as scikit-learn's StandardScaler(with_mean=False))
//     so that sparsity is kept. A constant column (σ_j² ≤ n·ε·σ_j² +
//     (n·ε·|μ_j|)², scikit-learn's test, which absorbs rounding) keeps
//     Scale_j = 1.
//
// Statistics are unweighted and accumulated in float64 in row order.
type Scaler struct {
	Kind  string    `json:"kind"`
	Scale []float64 `json:"scale,omitempty"`
	Shift []float64 `json:"shift,omitempty"`
}

// FitScaler fits a scaler of the given kind ("" means "none") on d.
func FitScaler(kind string, d *Dataset) (Scaler, error) {
	m := &d.X
	switch kind {
	case "", ScaleNone:
		return Scaler{Kind: ScaleNone}, nil
	case ScaleMaxAbs:
		scale := make([]float64, m.Cols)
		forEachStored(m, func(j int, x float64) { scale[j] = math.Max(scale[j], math.Abs(x)) })
		for j, s := range scale {
			if s == 0 {
				scale[j] = 1
			}
		}
		return Scaler{Kind: ScaleMaxAbs, Scale: scale}, nil
	case ScaleStandard:
		n := float64(m.Rows)
		if m.Rows == 0 {
			return Scaler{}, fmt.Errorf("shard: fit %s scaler on %s: no rows", kind, d.Name)
		}
		mean := make([]float64, m.Cols)
		forEachStored(m, func(j int, x float64) { mean[j] += x })
		for j := range mean {
			mean[j] /= n
		}
		// Two passes: Σ(x − μ)² is accurate where Σx² − nμ² cancels.
		ss := make([]float64, m.Cols)
		stored := make([]int, m.Cols)
		forEachStored(m, func(j int, x float64) {
			dx := x - mean[j]
			ss[j] += dx * dx
			stored[j]++
		})
		scale := make([]float64, m.Cols)
		for j := range scale {
			// Implicit zeros of CSR rows each contribute (0 − μ)².
			ss[j] += float64(m.Rows-stored[j]) * mean[j] * mean[j]
			v := ss[j] / n
			eps := 0x1p-52
			if v <= n*eps*v+(n*eps*mean[j])*(n*eps*mean[j]) {
				scale[j] = 1
			} else {
				scale[j] = math.Sqrt(v)
			}
		}
		s := Scaler{Kind: ScaleStandard, Scale: scale}
		if !m.Sparse() {
			s.Shift = mean
		}
		return s, nil
	}
	return Scaler{}, fmt.Errorf("shard: unknown scaling %q: expected none, maxabs or standard", kind)
}

// forEachStored calls fn(column, value) for every stored entry of m, in
// row order (every cell of a dense matrix).
func forEachStored(m *Matrix, fn func(j int, x float64)) {
	if m.Sparse() {
		for p, j := range m.Indices {
			fn(int(j), float64(m.Values[p]))
		}
		return
	}
	for i := range m.Rows {
		for j, x := range m.Dense[i*m.Cols : (i+1)*m.Cols] {
			fn(j, float64(x))
		}
	}
}

// Validate checks a (possibly deserialised) scaler: a known kind, finite
// positive scales, finite shifts of the same length.
func (s Scaler) Validate() error {
	switch s.Kind {
	case "", ScaleNone:
		if s.Scale != nil || s.Shift != nil {
			return fmt.Errorf("shard: scaler %q: expected no scale or shift", s.Kind)
		}
		return nil
	case ScaleMaxAbs, ScaleStandard:
	default:
		return fmt.Errorf("shard: unknown scaling %q: expected none, maxabs or standard", s.Kind)
	}
	if s.Shift != nil && len(s.Shift) != len(s.Scale) {
		return fmt.Errorf("shard: scaler: %d shifts for %d scales", len(s.Shift), len(s.Scale))
	}
	for j, c := range s.Scale {
		if !(c > 0) || math.IsInf(c, 0) {
			return fmt.Errorf("shard: scaler: scale[%d] = %g: expected a finite positive number", j, c)
		}
	}
	for j, c := range s.Shift {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return fmt.Errorf("shard: scaler: shift[%d] = %g: expected a finite number", j, c)
		}
	}
	return nil
}

// identity reports whether the scaler maps every x to itself.
func (s Scaler) identity() bool { return s.Scale == nil && s.Shift == nil }

// centres reports whether some column has a non-zero shift.
func (s Scaler) centres() bool {
	for _, c := range s.Shift {
		if c != 0 {
			return true
		}
	}
	return false
}

// Apply scales d's features in place. d must have as many columns as the
// scaler (Align a test set first); a CSR matrix cannot be centred, so a
// scaler with a non-zero Shift needs a dense d.
func (s Scaler) Apply(d *Dataset) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.identity() {
		return nil
	}
	m := &d.X
	if m.Cols != len(s.Scale) {
		return fmt.Errorf("shard: scale %s: %d columns, the scaler has %d (align the datasets first)", d.Name, m.Cols, len(s.Scale))
	}
	if m.Sparse() {
		if s.centres() {
			return fmt.Errorf("shard: scale %s: cannot centre a sparse matrix (fit the scaler on sparse data, or store it dense)", d.Name)
		}
		s.ApplySparseRow(m.Indices, m.Values)
		return nil
	}
	for i := range m.Rows {
		s.ApplyRow(m.Dense[i*m.Cols : (i+1)*m.Cols])
	}
	return nil
}

// ApplyRow scales one dense row in place. It panics if len(x) differs from
// the number of columns of a fitted scaler.
func (s Scaler) ApplyRow(x []float32) {
	if s.identity() {
		return
	}
	if len(x) != len(s.Scale) {
		panic(fmt.Sprintf("shard: Scaler.ApplyRow: row of %d values, scaler of %d columns", len(x), len(s.Scale)))
	}
	for j, v := range x {
		x[j] = s.scale(j, v)
	}
}

// ApplySparseRow scales the stored entries (indices, values) of a row, or
// of a whole CSR matrix, in place. It panics if the lengths differ or an
// index is out of range. A non-zero Shift is not applied to implicit
// zeros; Apply refuses that case.
func (s Scaler) ApplySparseRow(indices []int32, values []float32) {
	if s.identity() {
		return
	}
	if len(indices) != len(values) {
		panic(fmt.Sprintf("shard: Scaler.ApplySparseRow: %d indices, %d values", len(indices), len(values)))
	}
	for p, j := range indices {
		values[p] = s.scale(int(j), values[p])
	}
}

func (s Scaler) scale(j int, v float32) float32 {
	x := float64(v)
	if s.Shift != nil {
		x -= s.Shift[j]
	}
	return float32(x / s.Scale[j])
}
