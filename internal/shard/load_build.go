package shard

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// builder accumulates rows in CSR form, whatever the input format, and turns
// them into a Dataset at the end. A row is opened with begin, filled with
// add (columns in any order; sortRow orders them), and either committed
// with its source line and label, or dropped with reject.
type builder struct {
	name string
	opt  *ReadOptions

	indptr  []int64
	indices []int32
	values  []float32
	lines   []int // source line of each committed row
	cols    int   // committed: 1 + largest column over committed rows

	// Raw label text of committed row i: labelText[labelEnd[i-1]:labelEnd[i]]
	// (labelEnd[-1] = 0). Unused by readers that build Y themselves.
	labelText []byte
	labelEnd  []int64

	// Y built by the reader itself (ARFF, with k columns per row).
	y []float32

	// missing cells of committed rows, to be filled per opt.Missing.
	missing []missingCell

	rowCols int // 1 + largest column of the open row
	stats   LoadStats

	// The dense sink (see sinkDense): committed rows leave the CSR arrays
	// for dense row-major storage of sinkCols columns, flushRows at a time,
	// so that a dense file never exists as CSR as a whole. Rows below
	// flushed are in dense; indptr then describes the rows from flushed on.
	sinkCols int
	dense    []float32
	flushed  int
	denseNNZ []int32 // stored entries of each row in dense

	// An automatic sink (sinkAuto) was chosen from the first rows' density
	// and may be undone (unsink): it records the stored entries of value +0,
	// which dense storage cannot tell from cells without an entry.
	autoSink bool
	zeros    []cellRef
}

// cellRef is a cell of the feature matrix.
type cellRef struct {
	row int
	col int32
}

// flushRows is the number of committed rows the dense sink moves at once.
const flushRows = 512

// sinkDense makes the builder store committed rows dense with cols columns
// as it goes, with room for rowsHint rows reserved up front (0: grow as
// needed). Readers enable it when the storage is known to be dense and the
// width fixed (ReadOptions.Storage, NumFeatures), and only for input
// without missing cells; every entry added must have a column < cols.
func (b *builder) sinkDense(cols, rowsHint int) {
	b.sinkCols = cols
	if rowsHint > 0 && int64(rowsHint)*int64(cols) <= maxDenseCells {
		b.dense = makeLarge[[]float32](0, rowsHint*cols)
	}
}

// flush moves the committed rows still in CSR form into dense.
func (b *builder) flush() {
	c := b.sinkCols
	n := b.rows() - b.flushed
	if c == 0 || n == 0 {
		return
	}
	lo := len(b.dense)
	b.dense = slices.Grow(b.dense, n*c)[:lo+n*c]
	clear(b.dense[lo:])
	for i := range n {
		row := b.dense[lo+i*c : lo+(i+1)*c]
		for p := b.indptr[i]; p < b.indptr[i+1]; p++ {
			row[b.indices[p]] = b.values[p]
			if b.autoSink && math.Float32bits(b.values[p]) == 0 {
				b.zeros = append(b.zeros, cellRef{row: b.flushed + i, col: b.indices[p]})
			}
		}
	}
	for i := range n {
		b.denseNNZ = append(b.denseNNZ, int32(b.indptr[i+1]-b.indptr[i]))
	}
	m := b.indptr[n]
	// What follows the committed rows (an open row's entries) moves down.
	rest := copy(b.indices, b.indices[m:])
	copy(b.values, b.values[m:])
	b.indices, b.values = b.indices[:rest], b.values[:rest]
	b.indptr = append(b.indptr[:0], 0)
	b.flushed += n
}

// sinkAutoRows is the number of committed rows whose density decides
// whether a LIBSVM file of unknown width goes dense as it is read
// (sinkAuto).
const sinkAutoRows = 1024

// sinkAuto starts a dense sink, right after row sinkAutoRows (or
// opt.sinkAutoRows) is committed, for input that will most likely be
// stored dense: a width is known (the columns so far, or NumFeatures) and
// the storage is forced dense, or automatic with the first rows filling at
// least half of their cells (twice the density the final rule asks). It is
// undone (unsink) if a later row is wider, and at the end if the file
// turns out sparse after all, so that the result is always the one of
// reading the whole file as CSR first, but a dense file never exists as
// CSR as a whole.
func (b *builder) sinkAuto() {
	probe := b.opt.sinkAutoRows
	if probe <= 0 {
		probe = sinkAutoRows
	}
	if b.rows() != probe || b.sinkCols > 0 || b.opt.Storage == StorageSparse || len(b.missing) > 0 {
		return
	}
	cols := max(b.cols, b.opt.NumFeatures)
	cells := int64(b.rows()) * int64(cols)
	if cols == 0 || (b.opt.Storage == StorageAuto && 2*int64(len(b.values)) < cells) {
		return
	}
	b.sinkCols, b.autoSink = cols, true
	b.flush()
}

// unsink ends an automatic sink: the rows stored dense go back to CSR
// form, ahead of the rows (and the open row) still in it, with exactly the
// entries they were read with: every cell that is not +0, and the +0
// entries recorded.
func (b *builder) unsink() {
	c, n := b.sinkCols, b.flushed
	nnz := b.denseEntries()
	total := nnz + int64(len(b.values))
	indices, values := makeLarge[[]int32](0, int(total)), makeLarge[[]float32](0, int(total))
	indptr := make([]int64, 1, b.rows()+1)
	z := b.zeros
	for i := range n {
		for j, v := range b.dense[i*c : (i+1)*c] {
			zero := len(z) > 0 && z[0].row == i && z[0].col == int32(j)
			if zero {
				z = z[1:]
			}
			if zero || math.Float32bits(v) != 0 {
				indices, values = append(indices, int32(j)), append(values, v)
			}
		}
		indptr = append(indptr, int64(len(values)))
	}
	for _, p := range b.indptr[1:] {
		indptr = append(indptr, nnz+p)
	}
	b.indices, b.values, b.indptr = append(indices, b.indices...), append(values, b.values...), indptr
	b.dense, b.denseNNZ, b.zeros = nil, nil, nil
	b.sinkCols, b.flushed, b.autoSink = 0, 0, false
}

// denseEntries is the number of stored entries of the rows in dense.
func (b *builder) denseEntries() int64 {
	var nnz int64
	for _, k := range b.denseNNZ {
		nnz += int64(k)
	}
	return nnz
}

// reserveRows is the number of committed rows after which a text reader
// with a size hint reserves room for the whole input (reserveInput).
const reserveRows = 1024

// reserveInput grows the row and entry arrays, once, right after row
// reserveRows is committed, to hold the whole input as extrapolated from
// its first rows: they and the lines around them took consumed of the
// opt.inputSize bytes. With a good hint the arrays are allocated twice in
// all instead of growing by repeated copies (each a fresh allocation the
// size of everything read so far, page faults included). Rows beyond the
// estimate still go in by append.
func (b *builder) reserveInput(consumed int64) {
	size := b.opt.inputSize
	if b.rows() != reserveRows || size <= consumed || consumed <= 0 {
		return
	}
	scale := func(n int) int {
		// n·size/consumed with 1/16 to spare, bounded by one entry or row
		// per two bytes of input.
		est := float64(n) * float64(size) / float64(consumed) * 17 / 16
		return int(min(est, float64(size/2)))
	}
	rows := scale(b.rows())
	b.lines = withCap(b.lines, rows)
	b.labelEnd = withCap(b.labelEnd, rows)
	b.labelText = withCap(b.labelText, scale(len(b.labelText)))
	if b.sinkCols > 0 {
		if int64(rows)*int64(b.sinkCols) <= maxDenseCells {
			b.dense = withCap(b.dense, rows*b.sinkCols)
			b.denseNNZ = withCap(b.denseNNZ, rows)
		}
		return
	}
	b.indptr = withCap(b.indptr, rows+1)
	b.indices = withCap(b.indices, scale(len(b.indices)))
	b.values = withCap(b.values, scale(len(b.values)))
}

// withCap returns s with room for n elements in all. make, unlike append,
// clears a large allocation in preemptible chunks, so that the garbage
// collector does not spin waiting for the clearing goroutine; a large one
// is advised onto huge pages (makeLarge).
func withCap[S ~[]E, E any](s S, n int) S {
	if n <= cap(s) {
		return s
	}
	t := makeLarge[S](len(s), n)
	copy(t, s)
	return t
}

// missingCell is a stored entry that was missing in the input.
type missingCell struct {
	row int   // committed row number
	off int32 // offset within the row's entries
}

func newBuilder(name string, opt *ReadOptions) *builder {
	return &builder{name: name, opt: opt, indptr: []int64{0}}
}

// begin opens a row.
func (b *builder) begin() { b.rowCols = 0 }

// add appends entry (col, v) to the open row.
func (b *builder) add(col int32, v float32) {
	b.indices = append(b.indices, col)
	b.values = append(b.values, v)
	if int(col) >= b.rowCols {
		b.rowCols = int(col) + 1
	}
}

// addMissing appends a placeholder for a missing value at col.
func (b *builder) addMissing(col int32) {
	start := b.indptr[len(b.indptr)-1]
	b.missing = append(b.missing, missingCell{row: len(b.lines), off: int32(int64(len(b.values)) - start)})
	b.add(col, 0)
}

// rowLen is the number of entries of the open row.
func (b *builder) rowLen() int { return len(b.values) - int(b.indptr[len(b.indptr)-1]) }

// commit closes the open row.
func (b *builder) commit(line int, label []byte) {
	b.indptr = append(b.indptr, int64(len(b.values)))
	b.lines = append(b.lines, line)
	b.labelText = append(b.labelText, label...)
	b.labelEnd = append(b.labelEnd, int64(len(b.labelText)))
	if b.rowCols > b.cols {
		b.cols = b.rowCols
	}
	if b.autoSink && b.cols > b.sinkCols {
		b.unsink()
	}
	if b.sinkCols > 0 && b.rows()-b.flushed >= flushRows {
		b.flush()
	}
}

// reject drops the open row. With SkipBad it records the row and returns
// nil; otherwise it returns perr.
func (b *builder) reject(perr *ParseError) error {
	start := b.indptr[len(b.indptr)-1]
	b.indices = b.indices[:start]
	b.values = b.values[:start]
	for len(b.missing) > 0 && b.missing[len(b.missing)-1].row == len(b.lines) {
		b.missing = b.missing[:len(b.missing)-1]
	}
	if !b.opt.SkipBad {
		return perr
	}
	b.noteSkip(perr)
	return nil
}

func (b *builder) noteSkip(perr *ParseError) {
	b.stats.SkippedRows++
	if len(b.stats.SkippedSamples) < maxSkippedSamples {
		b.stats.SkippedSamples = append(b.stats.SkippedSamples, perr.Error())
	}
}

// rows is the number of committed rows.
func (b *builder) rows() int { return len(b.lines) }

// label returns the raw label text of committed row i.
func (b *builder) label(i int) []byte {
	lo := int64(0)
	if i > 0 {
		lo = b.labelEnd[i-1]
	}
	return b.labelText[lo:b.labelEnd[i]]
}

// sortRow orders the open row's entries by column and rejects a repeated
// column, returning the repeated column (≥ 0) or −1. Rows nearly always
// arrive sorted, so the check is a single pass; otherwise insertion sort,
// which is fast on the short, nearly sorted rows seen in practice, and
// bounded by O(n²) on adversarial ones.
func (b *builder) sortRow() int32 {
	start := int(b.indptr[len(b.indptr)-1])
	idx, val := b.indices[start:], b.values[start:]
	sorted := true
	for i := 1; i < len(idx); i++ {
		if idx[i] <= idx[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		return -1
	}
	if len(idx) > 64 {
		sortPairs(idx, val)
	} else {
		for i := 1; i < len(idx); i++ {
			c, v := idx[i], val[i]
			j := i
			for ; j > 0 && idx[j-1] > c; j-- {
				idx[j], val[j] = idx[j-1], val[j-1]
			}
			idx[j], val[j] = c, v
		}
	}
	for i := 1; i < len(idx); i++ {
		if idx[i] == idx[i-1] {
			return idx[i]
		}
	}
	return -1
}

// dropRows removes the committed rows with bad[i] set, keeping order.
func (b *builder) dropRows(bad []bool) {
	if b.autoSink {
		// The width of what is left may shrink, as it does in CSR form.
		b.unsink()
	}
	if b.sinkCols > 0 {
		b.dropDenseRows(bad)
		return
	}
	newRow := make([]int, len(bad))
	w := 0
	var wv int64
	indptr := b.indptr[:1]
	for i := range bad {
		lo, hi := b.indptr[i], b.indptr[i+1]
		if bad[i] {
			newRow[i] = -1
			continue
		}
		newRow[i] = w
		copy(b.indices[wv:], b.indices[lo:hi])
		copy(b.values[wv:], b.values[lo:hi])
		wv += hi - lo
		indptr = append(indptr, wv)
		b.lines[w] = b.lines[i]
		w++
	}
	b.indptr = indptr
	b.indices, b.values, b.lines = b.indices[:wv], b.values[:wv], b.lines[:w]
	cols := 0
	for _, c := range b.indices {
		if int(c) >= cols {
			cols = int(c) + 1
		}
	}
	b.cols = cols
	keep := b.missing[:0]
	for _, m := range b.missing {
		if r := newRow[m.row]; r >= 0 {
			keep = append(keep, missingCell{row: r, off: m.off})
		}
	}
	b.missing = keep
}

// dropDenseRows is dropRows for the dense sink, after the last commit. The
// column count b.cols is left as it was: with the sink the width is fixed.
func (b *builder) dropDenseRows(bad []bool) {
	b.flush()
	c := b.sinkCols
	w := 0
	for i := range bad {
		if bad[i] {
			continue
		}
		copy(b.dense[w*c:(w+1)*c], b.dense[i*c:(i+1)*c])
		b.lines[w], b.denseNNZ[w] = b.lines[i], b.denseNNZ[i]
		w++
	}
	b.dense, b.lines, b.denseNNZ = b.dense[:w*c], b.lines[:w], b.denseNNZ[:w]
	b.flushed = w
}

// fillMissing applies opt.Missing to the recorded missing cells of a
// matrix with cols columns.
func (b *builder) fillMissing(cols int) error {
	if len(b.missing) == 0 {
		return nil
	}
	switch b.opt.Missing {
	case MissingZero:
		// Placeholders already hold 0.
	case MissingMean:
		means := b.opt.ColumnMeans
		if means == nil {
			means = b.columnMeans(cols)
		} else if len(means) < cols {
			return fmt.Errorf("shard: %s: %d column means given for %d columns", b.name, len(means), cols)
		}
		for _, m := range b.missing {
			p := b.indptr[m.row] + int64(m.off)
			b.values[p] = float32(means[b.indices[p]])
		}
		b.stats.ColumnMeans = append([]float64(nil), means...)
	default:
		// Readers reject missing values under MissingError; reaching here
		// is a reader bug.
		panic("shard: missing cells recorded under MissingError")
	}
	b.stats.MissingFilled = len(b.missing)
	return nil
}

// columnMeans returns, per column, the mean of the stored entries that
// were present in the input, summed in float64 in row order; a column with
// no present value gets 0. Implicit zeros of CSR rows are not counted:
// readers that allow missing values store every cell of a dense row.
func (b *builder) columnMeans(cols int) []float64 {
	isMissing := make([]bool, len(b.values))
	for _, m := range b.missing {
		isMissing[b.indptr[m.row]+int64(m.off)] = true
	}
	sum := make([]float64, cols)
	n := make([]int, cols)
	for p, c := range b.indices {
		if !isMissing[p] {
			sum[c] += float64(b.values[p])
			n[c]++
		}
	}
	for j := range sum {
		if n[j] > 0 {
			sum[j] /= float64(n[j])
		}
	}
	return sum
}

// matrix builds the feature matrix with cols columns per opt.Storage.
func (b *builder) matrix(cols int) (Matrix, error) {
	rows := b.rows()
	if b.autoSink {
		nnz := b.denseEntries() + int64(len(b.values))
		if cells := int64(rows) * int64(cols); cols != b.sinkCols || (b.opt.Storage == StorageAuto && 4*nnz < cells) {
			b.unsink()
		}
	}
	if b.sinkCols > 0 {
		b.flush()
		if cols != b.sinkCols {
			return Matrix{}, fmt.Errorf("shard: %s: %d columns, stored dense with %d", b.name, cols, b.sinkCols)
		}
		b.stats.Rows = rows
		b.stats.NNZ = b.denseEntries()
		return Matrix{Rows: rows, Cols: cols, Dense: b.dense[: rows*cols : rows*cols]}, nil
	}
	nnz := int64(len(b.values))
	b.stats.Rows = rows
	b.stats.NNZ = nnz
	cells := int64(rows) * int64(cols)
	dense := false
	switch b.opt.Storage {
	case StorageDense:
		if cells > maxDenseCells {
			return Matrix{}, fmt.Errorf("shard: %s: %d×%d is too large to store dense", b.name, rows, cols)
		}
		dense = true
	case StorageAuto:
		dense = cells > 0 && 4*nnz >= cells
	}
	if !dense {
		b.stats.Sparse = true
		return Matrix{Rows: rows, Cols: cols, Indptr: b.indptr, Indices: b.indices, Values: b.values}, nil
	}
	m := Matrix{Rows: rows, Cols: cols, Dense: makeLarge[[]float32](int(cells), int(cells))}
	for i := range rows {
		row := m.Dense[i*cols : (i+1)*cols]
		for p := b.indptr[i]; p < b.indptr[i+1]; p++ {
			row[b.indices[p]] = b.values[p]
		}
	}
	return m, nil
}

// finish fills missing values and stores the matrix. cols is the number
// of columns (≥ b.cols, readers check it).
func (b *builder) finish(cols int, lab labels) (*Dataset, LoadStats, error) {
	if err := b.fillMissing(cols); err != nil {
		return nil, b.stats, err
	}
	m, err := b.matrix(cols)
	if err != nil {
		return nil, b.stats, err
	}
	return &Dataset{Name: b.name, X: m, Task: lab.task, K: lab.k, Y: lab.y, Classes: lab.classes}, b.stats, nil
}

// checkValue returns a ParseError when v (parsed from tok) is not a finite
// float32.
func (b *builder) checkValue(v float64, line, column int, tok []byte) *ParseError {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > math.MaxFloat32 {
		return &ParseError{File: b.name, Line: line, Column: column, Field: "value", Token: string(tok),
			Expected: "a finite number within float32 range"}
	}
	return nil
}

// pairs sorts parallel index and value slices by index.
type pairs struct {
	idx []int32
	val []float32
}

func (p pairs) Len() int           { return len(p.idx) }
func (p pairs) Less(i, j int) bool { return p.idx[i] < p.idx[j] }
func (p pairs) Swap(i, j int) {
	p.idx[i], p.idx[j] = p.idx[j], p.idx[i]
	p.val[i], p.val[j] = p.val[j], p.val[i]
}

func sortPairs(idx []int32, val []float32) { sort.Stable(pairs{idx, val}) }
