// Package shard reads datasets (LIBSVM/SVMlight, CSV, MULAN ARFF, MNIST IDX),
// stores them dense or CSR in float32 (arithmetic accumulates in float64),
// fits feature scaling, and splits them into micro-shards: the unit of work
// and of reduction. The number of micro-shards is a function of the data and
// the configuration, never of the number of workers.
//
// A job reads its training file with Load, its test file with the training
// set's Task and Classes (so labels map to the same indices), calls Align so
// both have the same columns and storage, fits a Scaler on the training set
// and applies it to both. Workers that read the files themselves pass the
// resulting width and storage (ReadOptions.NumFeatures, Storage) so that
// they hold the very same matrix, bit for bit.
package shard

// Task is the kind of supervised problem a dataset poses.
type Task int

const (
	// Binary has one target per row, y ∈ [0, 1].
	Binary Task = iota + 1
	// Multiclass has one class per row (or a distribution over K classes).
	Multiclass
	// Multilabel has any subset of K labels per row (or soft targets in [0, 1]).
	Multilabel
)

// String returns the name used on the command line.
func (t Task) String() string {
	switch t {
	case Binary:
		return "binary"
	case Multiclass:
		return "multiclass"
	case Multilabel:
		return "multilabel"
	}
	return "unknown"
}

// Matrix holds Rows × Cols features, dense row-major or CSR.
// Exactly one of Dense or (Indptr, Indices, Values) is set.
type Matrix struct {
	Rows, Cols int
	// Dense is row-major, len Rows*Cols, when the matrix is dense.
	Dense []float32
	// Indptr (len Rows+1), Indices (0-based, ascending within a row) and
	// Values hold the matrix in CSR form when it is sparse.
	Indptr  []int64
	Indices []int32
	Values  []float32
}

// NewDense returns a rows × cols dense matrix of zeros, its storage
// allocated as the readers allocate theirs (on huge pages where the
// system offers them), for code that builds a data set itself.
func NewDense(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Dense: makeLarge[[]float32](rows*cols, rows*cols)}
}

// Sparse reports whether m is stored in CSR form.
func (m *Matrix) Sparse() bool { return m.Dense == nil && m.Indptr != nil }

// Dataset is a labelled design matrix.
type Dataset struct {
	// Name is the file the data came from, for messages.
	Name string
	X    Matrix
	Task Task
	// K is the number of target columns: 1 for Binary, the number of classes
	// for Multiclass, the number of labels for Multilabel.
	K int
	// Y holds the targets row-major, Rows × K: Binary y ∈ [0,1]; Multiclass
	// one-hot (or any distribution); Multilabel 0/1 (or soft values in [0,1]).
	Y []float32
	// Weights are per-example weights; nil means every weight is 1.
	Weights []float64
	// Classes names target column k (Multiclass, Multilabel) or, for Binary,
	// Classes[0] is the negative and Classes[1] the positive label text.
	Classes []string
}

// Rows returns the number of examples.
func (d *Dataset) Rows() int { return d.X.Rows }

// Rows is a view of some rows of a dataset, in visiting order: rows Lo..Hi-1
// when Index is nil, otherwise rows Index[0], Index[1], ... (Lo and Hi unused).
type Rows struct {
	D      *Dataset
	Lo, Hi int
	Index  []int32
}

// Len returns the number of rows in the view.
func (r Rows) Len() int {
	if r.Index != nil {
		return len(r.Index)
	}
	return r.Hi - r.Lo
}

// Row returns the dataset row number of the i-th row of the view.
func (r Rows) Row(i int) int {
	if r.Index != nil {
		return int(r.Index[i])
	}
	return r.Lo + i
}
