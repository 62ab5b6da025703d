package shard

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// csrRow returns the (column, value) entries of row i of a CSR or dense
// matrix (non-zeros only for dense).
func csrRow(m *Matrix, i int) (cols []int32, vals []float32) {
	if m.Sparse() {
		lo, hi := m.Indptr[i], m.Indptr[i+1]
		return m.Indices[lo:hi], m.Values[lo:hi]
	}
	for j, v := range m.Dense[i*m.Cols : (i+1)*m.Cols] {
		if v != 0 {
			cols = append(cols, int32(j))
			vals = append(vals, v)
		}
	}
	return cols, vals
}

func TestLIBSVMQuirks(t *testing.T) {
	type row struct {
		cols []int32
		vals []float32
	}
	tests := []struct {
		name    string
		in      string
		opt     ReadOptions
		task    Task
		cols, k int
		classes []string
		y       []float32
		rows    []row // expected stored entries per row (nil: not checked)
	}{{
		name: "a9a trailing spaces and w8a trailing blank line, no-feature rows",
		in:   "+1 3:1 10:1 \n-1 \n-1 2:1\n\n-1 \n\n",
		task: Binary, cols: 10, k: 1, classes: []string{"-1", "+1"}, y: []float32{1, 0, 0, 0},
		rows: []row{{[]int32{2, 9}, []float32{1, 1}}, {}, {[]int32{1}, []float32{1}}, {}},
	}, {
		name: "ijcnn1 float labels and explicit zeros kept as stored zeros",
		in:   "-1.0 1:0.5 13:0.0\n1.0 2:-0.25\n",
		task: Binary, cols: 13, k: 1, classes: []string{"-1.0", "1.0"}, y: []float32{0, 1},
		rows: []row{{[]int32{0, 12}, []float32{0.5, 0}}, {[]int32{1}, []float32{-0.25}}},
	}, {
		name: "mushrooms 0/1 labels",
		in:   "1 1:1\n0 2:1\n0 3:1\n",
		task: Binary, cols: 3, k: 1, classes: []string{"0", "1"}, y: []float32{1, 0, 0},
	}, {
		name: "sector labels sorted numerically, not lexically",
		in:   "10 1:1\n2 1:1\n1 1:1\n105 1:1\n",
		task: Multiclass, cols: 1, k: 4, classes: []string{"1", "2", "10", "105"},
		y: []float32{0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1},
	}, {
		name: "delicious empty label lists: leading space and feature first",
		in:   "1,3 1:1\n 2:1\n4:1 5:2\n0 1:1\n",
		task: Multilabel, cols: 5, k: 4, classes: []string{"0", "1", "2", "3"},
		y:    []float32{0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0},
		rows: []row{{[]int32{0}, []float32{1}}, {[]int32{1}, []float32{1}}, {[]int32{3, 4}, []float32{1, 2}}, {[]int32{0}, []float32{1}}},
	}, {
		name: "NumLabels fixes K and implies multi-label",
		in:   "1 1:1\n0 1:1\n",
		opt:  ReadOptions{NumLabels: 3},
		task: Multilabel, cols: 1, k: 3, classes: []string{"0", "1", "2"}, y: []float32{0, 1, 0, 1, 0, 0},
	}, {
		name: "comments, qid, CRLF, tabs, unsorted indices",
		in:   "# header comment\r\n+1 qid:3 5:2\t2:1 # trailing\r\n-1\t1:3\r\n",
		task: Binary, cols: 5, k: 1, classes: []string{"-1", "+1"}, y: []float32{1, 0},
		rows: []row{{[]int32{1, 4}, []float32{1, 2}}, {[]int32{0}, []float32{3}}},
	}, {
		name: "labels equal by value are one class",
		in:   "1 1:1\n1.0 1:1\n-1 1:1\n+1 1:1\n",
		task: Binary, cols: 1, k: 1, classes: []string{"-1", "1"}, y: []float32{1, 1, 0, 1},
	}, {
		name: "training classes reused, matched by value",
		in:   "1 1:1\n-1 1:1\n",
		opt:  ReadOptions{Task: Binary, Classes: []string{"-1.0", "1.0"}},
		task: Binary, cols: 1, k: 1, classes: []string{"-1.0", "1.0"}, y: []float32{1, 0},
	}, {
		name: "a test file with one class reuses the training classes",
		in:   "3 1:1\n3 2:1\n",
		opt:  ReadOptions{Task: Multiclass, Classes: []string{"1", "2", "3"}},
		task: Multiclass, cols: 2, k: 3, classes: []string{"1", "2", "3"}, y: []float32{0, 0, 1, 0, 0, 1},
	}, {
		name: "NumFeatures fixes the columns",
		in:   "1 1:1\n0 2:1\n",
		opt:  ReadOptions{NumFeatures: 7},
		task: Binary, cols: 7, k: 1, classes: []string{"0", "1"}, y: []float32{1, 0},
	}, {
		name: "two labels forced multiclass",
		in:   "1 1:1\n0 2:1\n",
		opt:  ReadOptions{Task: Multiclass},
		task: Multiclass, cols: 2, k: 2, classes: []string{"0", "1"}, y: []float32{0, 1, 1, 0},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, st, err := ReadLIBSVM(strings.NewReader(tc.in), "t.svm", tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkInvariants(d); err != nil {
				t.Fatal(err)
			}
			if d.Task != tc.task || d.X.Cols != tc.cols || d.K != tc.k || !slices.Equal(d.Classes, tc.classes) || !slices.Equal(d.Y, tc.y) {
				t.Fatalf("got %v cols %d K %d classes %q Y %v; want %v cols %d K %d classes %q Y %v",
					d.Task, d.X.Cols, d.K, d.Classes, d.Y, tc.task, tc.cols, tc.k, tc.classes, tc.y)
			}
			if st.Rows != d.Rows() || st.SkippedRows != 0 || st.Sparse != d.X.Sparse() {
				t.Errorf("stats %+v", st)
			}
			for i, r := range tc.rows {
				if !d.X.Sparse() {
					continue
				}
				cols, vals := csrRow(&d.X, i)
				if !slices.Equal(cols, r.cols) || !slices.Equal(vals, r.vals) {
					t.Errorf("row %d: %v %v, want %v %v", i, cols, vals, r.cols, r.vals)
				}
			}
		})
	}
}

func TestLIBSVMExplicitZeroIsStored(t *testing.T) {
	d, st, err := ReadLIBSVM(strings.NewReader("1 1:0.0 50:1\n-1 2:1\n-1 3:1\n"), "t", ReadOptions{Storage: StorageSparse})
	if err != nil {
		t.Fatal(err)
	}
	if st.NNZ != 4 || len(d.X.Values) != 4 || d.X.Values[0] != 0 || d.X.Indices[0] != 0 {
		t.Fatalf("NNZ %d, values %v, indices %v: want the explicit zero stored", st.NNZ, d.X.Values, d.X.Indices)
	}
}

func TestLIBSVMStorageRule(t *testing.T) {
	// 2 rows × 4 columns: 2 stored entries is exactly a quarter → dense;
	// 1 is less → CSR.
	for _, tc := range []struct {
		in     string
		sparse bool
	}{{"1 1:1\n0 4:1\n", false}, {"1 4:1\n0\n", true}} {
		d, _, err := ReadLIBSVM(strings.NewReader(tc.in), "t", ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.X.Sparse() != tc.sparse {
			t.Errorf("%q: sparse %v, want %v", tc.in, d.X.Sparse(), tc.sparse)
		}
	}
}

func TestLIBSVMErrorsAreLocated(t *testing.T) {
	tests := []struct {
		name, in string
		opt      ReadOptions
		line     int
		token    string
		msg      string // substring of the message
	}{
		{"index 0", "+1 1:1\n-1 0:1\n", ReadOptions{}, 2, "0", `t.svm:2: feature index "0": expected a 1-based index ≥ 1`},
		{"negative index", "+1 -3:1\n-1 1:1\n", ReadOptions{}, 1, "-3", "1-based integer index"},
		{"NaN value", "+1 1:nan\n-1 1:1\n", ReadOptions{}, 1, "1:nan", "finite"},
		{"Inf value", "+1 1:1\n-1 2:-Inf\n", ReadOptions{}, 2, "2:-Inf", "finite"},
		{"float64 overflow", "+1 1:1e400\n-1 1:1\n", ReadOptions{}, 1, "1:1e400", "finite"},
		{"float32 overflow", "+1 1:1e39\n-1 1:1\n", ReadOptions{}, 1, "1:1e39", "float32"},
		{"not a number", "+1 1:abc\n-1 1:1\n", ReadOptions{}, 1, "1:abc", "a number"},
		{"no colon", "+1 1:1 7\n-1 1:1\n", ReadOptions{}, 1, "7", "index:value"},
		{"duplicate index", "+1 3:1 1:1 3:2\n-1 1:1\n", ReadOptions{}, 1, "3", "at most once"},
		{"NaN label", "nan 1:1\n-1 1:1\n", ReadOptions{}, 1, "nan", "finite number"},
		{"text label", "+1 1:1\nyes 1:1\n", ReadOptions{}, 2, "yes", "finite number"},
		{"label not in training classes", "+1 1:1\n7 1:1\n", ReadOptions{Task: Binary, Classes: []string{"-1", "+1"}}, 2, "7", "one of the classes [-1 +1]"},
		{"index beyond NumFeatures", "+1 1:1\n-1 9:1\n", ReadOptions{NumFeatures: 8}, 2, "9", "NumFeatures = 8"},
		{"label id beyond NumLabels", "1,2 1:1\n5 1:1\n", ReadOptions{NumLabels: 4}, 2, "5", "0..3"},
		{"signed id in a multi-label file", "1,2 1:1\n-1 1:1\n", ReadOptions{}, 2, "-1", `multi-label: line 1 has the label list "1,2"`},
		{"empty id in a list", "1,,2 1:1\n", ReadOptions{}, 1, "", "label id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadLIBSVM(strings.NewReader(tc.in), "t.svm", tc.opt)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *ParseError", err)
			}
			if pe.File != "t.svm" || pe.Line != tc.line || pe.Token != tc.token || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q (line %d, token %q), want line %d, token %q, containing %q",
					err, pe.Line, pe.Token, tc.line, tc.token, tc.msg)
			}
		})
	}
}

func TestLIBSVMWholeFileErrors(t *testing.T) {
	for _, in := range []string{"", "\n# only a comment\n", "1 1:1\n1 2:1\n"} {
		if _, _, err := ReadLIBSVM(strings.NewReader(in), "t", ReadOptions{}); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	_, _, err := ReadLIBSVM(strings.NewReader("1 1:1\n2 1:1\n3 1:1\n"), "t", ReadOptions{Task: Binary})
	if err == nil || !strings.Contains(err.Error(), "expected exactly 2 classes, found 3") {
		t.Errorf("binary with 3 labels: %v", err)
	}
	if _, _, err := ReadLIBSVM(strings.NewReader(""), "t", ReadOptions{}); !errors.Is(err, ErrNoData) {
		t.Errorf("empty input: %v, want ErrNoData", err)
	}
}

func TestLIBSVMSkipBadCountsAndReports(t *testing.T) {
	in := "+1 1:1\n-1 0:1\n+1 2:nan\n-1 3:1\n+1 1:1 1:2\n-1 4:1\n"
	d, st, err := ReadLIBSVM(strings.NewReader(in), "t.svm", ReadOptions{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows() != 3 || st.Rows != 3 || st.SkippedRows != 3 || len(st.SkippedSamples) != 3 {
		t.Fatalf("rows %d, stats %+v: want 3 kept and 3 skipped", d.Rows(), st)
	}
	for i, want := range []string{"t.svm:2:", "t.svm:3:", "t.svm:5:"} {
		if !strings.Contains(st.SkippedSamples[i], want) {
			t.Errorf("sample %d %q lacks %q", i, st.SkippedSamples[i], want)
		}
	}
	// The skipped rows leave no trace: columns 1..4 of rows 1, 4, 6 only.
	if d.X.Cols != 4 || !slices.Equal(d.Y, []float32{1, 0, 0}) {
		t.Errorf("cols %d, Y %v", d.X.Cols, d.Y)
	}
	if err := checkInvariants(d); err != nil {
		t.Error(err)
	}
}

func TestLIBSVMSkipBadLabelRows(t *testing.T) {
	in := "+1 1:1\n7 5:1\n-1 2:1\n"
	d, st, err := ReadLIBSVM(strings.NewReader(in), "t", ReadOptions{SkipBad: true, Task: Binary, Classes: []string{"-1", "+1"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows() != 2 || st.SkippedRows != 1 || d.X.Cols != 2 || !slices.Equal(d.Y, []float32{1, 0}) {
		t.Fatalf("rows %d, cols %d, Y %v, stats %+v", d.Rows(), d.X.Cols, d.Y, st)
	}
	if err := checkInvariants(d); err != nil {
		t.Error(err)
	}
}

func TestLIBSVMLongLineAndValues(t *testing.T) {
	// A row longer than the read buffer, and values that round to float32.
	var b strings.Builder
	b.WriteString("1")
	const n = 200000
	for j := 1; j <= n; j++ {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(j))
		b.WriteString(":0.1")
	}
	b.WriteString("\n0 1:1e-50\n")
	d, _, err := ReadLIBSVM(strings.NewReader(b.String()), "t", ReadOptions{Storage: StorageSparse})
	if err != nil {
		t.Fatal(err)
	}
	if d.X.Cols != n || d.X.Indptr[1] != n || d.X.Values[0] != float32(0.1) || d.X.Values[n] != 0 {
		t.Fatalf("cols %d, first row %d entries, v0 %v, underflow %v", d.X.Cols, d.X.Indptr[1], d.X.Values[0], d.X.Values[n])
	}
	if float64(d.X.Values[0]) == 0.1 || math.Abs(float64(d.X.Values[0])-0.1) > 1e-8 {
		t.Errorf("0.1 stored as %v", d.X.Values[0])
	}
}
