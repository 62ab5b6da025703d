package shard

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"
)

// checkFuzzResult asserts the contract of any reader on arbitrary input:
// an error is reported as such (never a panic), and a dataset satisfies
// the structural invariants with stats that agree with it.
func checkFuzzResult(t *testing.T, d *Dataset, st LoadStats, err error) {
	t.Helper()
	if err != nil {
		if d != nil {
			t.Fatalf("dataset returned with error %v", err)
		}
		var pe *ParseError
		if errors.As(err, &pe) && pe.File == "" {
			t.Fatalf("ParseError without a file name: %v", err)
		}
		return
	}
	if err := checkInvariants(d); err != nil {
		t.Fatalf("invariant: %v", err)
	}
	if st.Rows != d.Rows() || st.Sparse != d.X.Sparse() || st.SkippedRows < len(st.SkippedSamples) {
		t.Fatalf("stats %+v for %d rows (sparse %v)", st, d.Rows(), d.X.Sparse())
	}
}

func FuzzLIBSVM(f *testing.F) {
	for _, s := range []string{
		"+1 3:1 10:1 \n-1 \n-1 2:1\n\n",    // a9a/w8a trailing spaces, blank lines, empty rows
		"-1.0 1:0.5 13:0.0\n1.0 2:-0.25\n", // ijcnn1 float labels, explicit zero
		"1 1:1\n0 2:1\n",                   // mushrooms 0/1
		"105 55197:0.01\n1 1:0.2\n3 7:1\n", // sector class ids
		"1,3 1:1\n 2:1\n4:1 5:2\n",         // delicious empty label lists
		"# c\r\n+1 qid:3 5:2\t2:1 # t\r\n-1\t1:3\r\n",
		"+1 0:1\n-1 1:nan\n+1 1:1e39\n",
		"+1 3:1 1:1 3:2\n",
	} {
		f.Add([]byte(s), false, uint8(0))
		f.Add([]byte(s), true, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, skipBad bool, numLabels uint8) {
		opt := ReadOptions{SkipBad: skipBad, NumLabels: int(numLabels % 8)}
		d, st, err := ReadLIBSVM(bytes.NewReader(data), "fuzz", opt)
		checkFuzzResult(t, d, st, err)
	})
}

// denseCells returns the cells of m row-major, whatever its storage.
func denseCells(m Matrix) []float32 {
	if !m.Sparse() {
		return m.Dense
	}
	out := make([]float32, m.Rows*m.Cols)
	for i := range m.Rows {
		for p := m.Indptr[i]; p < m.Indptr[i+1]; p++ {
			out[i*m.Cols+int(m.Indices[p])] = m.Values[p]
		}
	}
	return out
}

// readTwice reads data as LIBSVM with the options a and b and asserts what
// two storages of the same file share: the same error, or the same targets
// and stats (rows, entries, skipped rows). It returns the two datasets, nil
// after an error.
func readTwice(t *testing.T, data []byte, a, b ReadOptions, what string) (da, db *Dataset) {
	t.Helper()
	da, sa, errA := ReadLIBSVM(bytes.NewReader(data), "fuzz", a)
	db, sb, errB := ReadLIBSVM(bytes.NewReader(data), "fuzz", b)
	checkFuzzResult(t, da, sa, errA)
	if (errA == nil) != (errB == nil) || (errA != nil && errA.Error() != errB.Error()) {
		t.Fatalf("%s: error %v, against %v", what, errA, errB)
	}
	if errA != nil {
		return nil, nil
	}
	if !slices.Equal(da.Y, db.Y) || da.K != db.K || da.Task != db.Task || !slices.Equal(da.Classes, db.Classes) || !slices.Equal(da.Weights, db.Weights) {
		t.Fatalf("%s: targets differ: %v/%d/%v vs %v/%d/%v", what, da.Task, da.K, da.Classes, db.Task, db.K, db.Classes)
	}
	if sa.Rows != sb.Rows || sa.NNZ != sb.NNZ || sa.SkippedRows != sb.SkippedRows || !slices.Equal(sa.SkippedSamples, sb.SkippedSamples) {
		t.Fatalf("%s: stats %+v, against %+v", what, sa, sb)
	}
	return da, db
}

// checkDenseSink reads data as LIBSVM with the width fixed and dense
// storage (rows stored dense as they are read) and with the width fixed
// and CSR storage, and asserts the two agree: the same error or the same
// cells, targets, source rows and stats.
func checkDenseSink(t *testing.T, data []byte, opt ReadOptions) {
	t.Helper()
	sinkOpt, csrOpt := opt, opt
	sinkOpt.Storage, csrOpt.Storage = StorageDense, StorageSparse
	ds, dc := readTwice(t, data, sinkOpt, csrOpt, "dense sink against CSR")
	if ds == nil {
		return
	}
	if ds.X.Sparse() || ds.X.Rows != dc.X.Rows || ds.X.Cols != dc.X.Cols {
		t.Fatalf("dense sink %d×%d (sparse %v), CSR %d×%d", ds.X.Rows, ds.X.Cols, ds.X.Sparse(), dc.X.Rows, dc.X.Cols)
	}
	want := denseCells(dc.X)
	for i, v := range ds.X.Dense {
		if math.Float32bits(v) != math.Float32bits(want[i]) {
			t.Fatalf("cell %d: dense sink %v, CSR %v", i, v, want[i])
		}
	}
}

func FuzzLIBSVMDenseSink(f *testing.F) {
	for _, s := range []string{
		"+1 3:1 10:1 \n-1 \n-1 2:1\n\n",
		"-1.0 1:0.5 13:0.0\n1.0 2:-0.25\n",
		"1,3 1:1\n 2:1\n4:1 5:2\n",
		"+1 3:1 1:1 3:2\n+1 2:-0\n",
		"x 1:1\n+1 2:1\n-1 99:1\n",
	} {
		f.Add([]byte(s), true, uint8(0), uint8(12), uint8(0))
		f.Add([]byte(s), false, uint8(3), uint8(5), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, skipBad bool, numLabels, numFeatures, rowsHint uint8) {
		checkDenseSink(t, data, ReadOptions{SkipBad: skipBad, NumLabels: int(numLabels % 8),
			NumFeatures: 1 + int(numFeatures%32), RowsHint: int(rowsHint % 8)})
	})
}

// The dense sink agrees with CSR storage across many flushes, with rows
// rejected while being parsed, rows dropped for their labels afterwards,
// unsorted and explicitly zero entries, and row hints short, exact, long
// and absent.
func TestLIBSVMDenseSinkMatchesCSR(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	var b bytes.Buffer
	const rows, cols = 3*flushRows + 77, 40
	for i := range rows {
		switch {
		case i%97 == 5:
			b.WriteString("+1 1:nan\n") // rejected while parsed
		case i%131 == 7:
			b.WriteString("maybe 1:1\n") // a bad label: dropped afterwards
		case i%50 == 3:
			b.WriteString("\n# a comment\n")
		}
		fmt.Fprintf(&b, "%d", 2*rnd.IntN(2)-1)
		for j := range cols {
			if rnd.IntN(3) == 0 {
				fmt.Fprintf(&b, " %d:%g", cols-j, float32(rnd.NormFloat64())*float32(rnd.IntN(2)))
			}
		}
		b.WriteByte('\n')
	}
	for _, hint := range []int{0, 100, rows, 2 * rows} {
		checkDenseSink(t, b.Bytes(), ReadOptions{SkipBad: true, Task: Binary, NumFeatures: cols, RowsHint: hint})
	}
	d, st, err := ReadLIBSVM(bytes.NewReader(b.Bytes()), "sink", ReadOptions{SkipBad: true, Task: Binary, NumFeatures: cols, Storage: StorageDense})
	if err != nil || d.Rows() < rows-rows/90 || st.SkippedRows == 0 {
		t.Fatalf("%d rows, %d skipped, err %v", d.Rows(), st.SkippedRows, err)
	}
}

// Reading with the input's size known (as Load knows it) reserves the rows
// and entries of the whole input once, and reads exactly what reading
// without it does, whether the size is right, short or long.
func TestInputSizeReservesOnce(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	var b bytes.Buffer
	const rows, cols = 5*reserveRows + 33, 300
	for i := range rows {
		if i%211 == 9 {
			b.WriteString("+1 1:inf\n") // rejected while parsed
		}
		fmt.Fprintf(&b, "%d", 2*rnd.IntN(2)-1)
		for j := range cols {
			if rnd.IntN(10) == 0 {
				fmt.Fprintf(&b, " %d:%g", j+1, float32(rnd.NormFloat64()))
			}
		}
		b.WriteByte('\n')
	}
	data := b.Bytes()
	opt := ReadOptions{SkipBad: true}
	want, wantSt, err := ReadLIBSVM(bytes.NewReader(data), "size", opt)
	if err != nil || !want.X.Sparse() {
		t.Fatalf("reference read: sparse %v, err %v", want.X.Sparse(), err)
	}
	nnz := len(want.X.Values)
	for _, size := range []int64{int64(len(data)), int64(len(data)) / 7, 5 * int64(len(data))} {
		opt.inputSize = size
		got, st, err := ReadLIBSVM(bytes.NewReader(data), "size", opt)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.X, want.X) || !slices.Equal(got.Y, want.Y) || !reflect.DeepEqual(st, wantSt) {
			t.Fatalf("size %d: read differs from a read without the size", size)
		}
		if size == int64(len(data)) {
			// One reservation, from the first rows' density: within the
			// 1/16 spare and the sampling error of 1,024 rows.
			if c := cap(got.X.Values); c < nnz || c > nnz*5/4 {
				t.Errorf("exact size: capacity %d for %d entries", c, nnz)
			}
		}
	}
	// The arrays of the later rows grow by copies without the size, and
	// not at all with it.
	allocs := func(size int64) float64 {
		o := opt
		o.inputSize = size
		return testing.AllocsPerRun(1, func() { _, _, _ = ReadLIBSVM(bytes.NewReader(data), "size", o) })
	}
	with, without := allocs(int64(len(data))), allocs(0)
	if with+20 > without {
		t.Errorf("allocations: %v with the size, %v without", with, without)
	}
	path := filepath.Join(t.TempDir(), "size.svm")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, _, err := Load(path, ReadOptions{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := cap(got.X.Values); !reflect.DeepEqual(got.X, want.X) || c < nnz || c > nnz*5/4 {
		t.Errorf("Load: capacity %d for %d entries (same matrix: %v)", c, nnz, reflect.DeepEqual(got.X, want.X))
	}
}

// The CSV reader reserves too, with the same result.
func TestInputSizeCSVSameData(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("a,b,c,y\n")
	for i := range 3*reserveRows + 5 {
		fmt.Fprintf(&b, "%d,%g,%d,%d\n", i%7, float32(i)/3, i%5-2, i%3)
	}
	data := b.Bytes()
	want, wantSt, err := ReadCSV(bytes.NewReader(data), "size.csv", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{int64(len(data)), int64(len(data)) / 5, 3 * int64(len(data))} {
		got, st, err := ReadCSV(bytes.NewReader(data), "size.csv", ReadOptions{inputSize: size})
		if err != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(st, wantSt) {
			t.Fatalf("size %d: read differs from a read without the size (err %v)", size, err)
		}
	}
}

// checkAutoSink reads data as LIBSVM with opt, once with the automatic
// dense sink deciding after probe rows and once without it, and fails
// unless both give the same dataset and stats.
func checkAutoSink(t *testing.T, data []byte, opt ReadOptions, probe int) {
	t.Helper()
	sinkOpt, csrOpt := opt, opt
	sinkOpt.sinkAutoRows, csrOpt.sinkAutoRows = probe, math.MaxInt
	ds, dc := readTwice(t, data, sinkOpt, csrOpt, "automatic sink against none")
	if ds == nil {
		return
	}
	if ds.X.Sparse() != dc.X.Sparse() || ds.X.Rows != dc.X.Rows || ds.X.Cols != dc.X.Cols {
		t.Fatalf("automatic sink %d×%d (sparse %v), without %d×%d (sparse %v)", ds.X.Rows, ds.X.Cols, ds.X.Sparse(), dc.X.Rows, dc.X.Cols, dc.X.Sparse())
	}
	if ds.X.Sparse() {
		if !slices.Equal(ds.X.Indptr, dc.X.Indptr) || !slices.Equal(ds.X.Indices, dc.X.Indices) || !slices.EqualFunc(ds.X.Values, dc.X.Values, sameFloat32Bits) {
			t.Fatalf("CSR entries differ with and without the automatic sink")
		}
	} else if !slices.EqualFunc(ds.X.Dense, dc.X.Dense, sameFloat32Bits) {
		t.Fatalf("dense cells differ with and without the automatic sink")
	}
}

func sameFloat32Bits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

func FuzzLIBSVMAutoSink(f *testing.F) {
	for _, s := range []string{
		"+1 1:1 2:2 3:3\n-1 1:4 2:0 3:-0\n+1 1:1 2:1 3:1\n-1 1:1 3:1\n",       // stays dense, explicit zeros
		"+1 1:1 2:2\n-1 1:4 2:5\n+1 1:1 2:1 5:1\n-1 2:1\n",                    // a wider row later
		"+1 1:1 2:2\n-1 1:4 2:5\n+1 9:1\n-1 8:1\n+1 7:0\n-1 9:2\n+1\n-1\n",    // sparse later
		"+1 1:1 2:2\nmaybe 1:1 2:1\n-1 1:1 2:1 3:0\n+1 1:2 2:2\n-1 1:nan\n",   // dropped and rejected rows
		"1,2 1:1 2:1\n0 1:0 2:0\n 1:1 2:1\n3 2:1 1:1\n# c\n\n1 1:1 2:1 3:1\n", // multi-label, unsorted, comments
	} {
		f.Add([]byte(s), uint8(1), uint8(0), true)
		f.Add([]byte(s), uint8(2), uint8(1), false)
		f.Add([]byte(s), uint8(3), uint8(2), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, probe, storage uint8, skipBad bool) {
		opt := ReadOptions{SkipBad: skipBad, Storage: []Storage{StorageAuto, StorageDense, StorageAuto}[storage%3]}
		if storage%3 == 2 {
			opt.NumFeatures = 12
		}
		checkAutoSink(t, data, opt, 1+int(probe%8))
	})
}

// A dense file of unknown width goes dense as it is read, with the
// dataset of a read through CSR, and allocates much less on the way.
func TestLIBSVMAutoSink(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 10))
	var b bytes.Buffer
	const rows, cols = 3*sinkAutoRows + 17, 200
	for range rows {
		fmt.Fprintf(&b, "%d", rnd.IntN(3))
		for j := range cols {
			if rnd.IntN(8) > 0 || j == cols-1 {
				fmt.Fprintf(&b, " %d:%g", j+1, float32(rnd.NormFloat64())*float32(rnd.IntN(64))) // a few explicit zeros
			}
		}
		b.WriteByte('\n')
	}
	data := b.Bytes()
	for _, opt := range []ReadOptions{{}, {Storage: StorageDense}, {NumFeatures: cols + 3}} {
		checkAutoSink(t, data, opt, 0)
	}
	allocated := func(probe int) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		opt := ReadOptions{sinkAutoRows: probe, inputSize: int64(len(data))}
		if _, _, err := ReadLIBSVM(bytes.NewReader(data), "auto", opt); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	// Without the sink, 8 bytes an entry and then 4 a cell; with it (from
	// row 64 on), 4 a cell. Both read through a buffer of 1 MiB.
	if sink, csr := allocated(64), allocated(math.MaxInt); 3*sink > 2*csr {
		t.Errorf("allocated %d bytes with the automatic sink, %d without", sink, csr)
	}
	// A wider row at the end, and a file that turns sparse, undo the sink.
	wider := append(slices.Clone(data), fmt.Sprintf("1 %d:1\n", cols+5)...)
	checkAutoSink(t, wider, ReadOptions{}, 0)
	sparse := slices.Clone(data)
	for range 4 * rows {
		sparse = append(sparse, "2 3:1\n"...)
	}
	checkAutoSink(t, sparse, ReadOptions{}, 0)
}
