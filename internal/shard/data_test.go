package shard

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// sharedData locates /work/shared/data (or $DPT_SHARED_DATA) and skips
// the test when it is absent.
func sharedData(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DPT_SHARED_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data")
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Skipf("shared datasets not found at %s (set DPT_SHARED_DATA)", dir)
	}
	return dir
}

// want is what SOURCE.md and REFERENCE.md state about one dataset.
type want struct {
	name           string
	train, test    string // paths relative to the data directory; test may be ""
	opt            ReadOptions
	large          bool // skipped under -short
	task           Task
	rows, testRows int
	cols           int // after Align (REFERENCE.md's d)
	k              int
	// Binary: positives in train and test. Multiclass: per-class train counts.
	pos, testPos int
	classCounts  []int
	classes      []string
}

func datasets() []want {
	ml := func(name string, train, test, k, cols int, large bool) []want {
		arff := want{name: name + "/arff", train: name + "/" + name + "-train.arff", test: name + "/" + name + "-test.arff",
			task: Multilabel, rows: train, testRows: test, cols: -1, k: k, large: large}
		svm := want{name: name + "/derived-libsvm", train: name + "/derived-libsvm/" + name + "-train.svm",
			test: name + "/derived-libsvm/" + name + "-test.svm", opt: ReadOptions{NumLabels: k},
			task: Multilabel, rows: train, testRows: test, cols: cols, k: k, large: large}
		return []want{arff, svm}
	}
	ws := []want{
		{name: "a9a", train: "a9a/a9a", test: "a9a/a9a.t", task: Binary, rows: 32561, testRows: 16281, cols: 123, k: 1,
			pos: 7841, testPos: 3846, classes: []string{"-1", "+1"}},
		{name: "w8a", train: "w8a/w8a", task: Binary, rows: 49749, cols: 300, k: 1, pos: 1479, classes: []string{"-1", "+1"}},
		{name: "mushrooms", train: "mushrooms/agaricus.txt.train", test: "mushrooms/agaricus.txt.test", task: Binary,
			rows: 6513, testRows: 1611, cols: 126, k: 1, pos: 3140, testPos: 776, classes: []string{"0", "1"}},
		{name: "ijcnn1", train: "ijcnn1/ijcnn1.trn.bz2", test: "ijcnn1/ijcnn1.tst.bz2", task: Binary,
			rows: 49990, testRows: 91701, cols: 22, k: 1, pos: 4853, testPos: 8712, classes: []string{"-1.0", "1.0"}},
		{name: "higgs", train: "higgs-sample/binary.train", test: "higgs-sample/binary.test",
			opt: ReadOptions{LabelColumn: "0"}, task: Binary, rows: 7000, testRows: 500, cols: 28, k: 1,
			pos: 3716, testPos: 272, classes: []string{"0", "1"}},
		{name: "pendigits", train: "pendigits/pendigits", test: "pendigits/pendigits.t", task: Multiclass,
			rows: 7494, testRows: 3498, cols: 16, k: 10},
		{name: "sector", train: "sector/sector.scale.bz2", test: "sector/sector.t.scale.bz2", task: Multiclass,
			rows: 6412, testRows: 3207, cols: 55197, k: 105, large: true},
		{name: "mnist", train: "mnist/train-images-idx3-ubyte.gz", test: "mnist/t10k-images-idx3-ubyte.gz", task: Multiclass,
			rows: 60000, testRows: 10000, cols: 784, k: 10, large: true,
			classCounts: []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}},
		{name: "dermatology", train: "dermatology/dermatology.data", opt: ReadOptions{Missing: MissingMean},
			task: Multiclass, rows: 366, cols: 34, k: 6, classCounts: []int{112, 61, 72, 49, 52, 20},
			classes: []string{"1", "2", "3", "4", "5", "6"}},
	}
	ws = append(ws, ml("scene", 1211, 1196, 6, 294, false)...)
	ws = append(ws, ml("emotions", 391, 202, 6, 72, false)...)
	ws = append(ws, ml("bibtex", 4880, 2515, 159, 1836, false)...)
	ws = append(ws, ml("enron", 1123, 579, 53, 1001, false)...)
	ws = append(ws, ml("medical", 333, 645, 45, 1449, false)...)
	ws = append(ws, ml("delicious", 12920, 3185, 983, 500, true)...)
	ws = append(ws, ml("tmc2007-500", 21519, 7077, 22, 500, false)...)
	return ws
}

// ARFF feature counts (number of non-label attributes), from SOURCE.md.
var arffFeatures = map[string]int{"scene": 294, "emotions": 72, "bibtex": 1836, "enron": 1001, "medical": 1449,
	"delicious": 500, "tmc2007-500": 500}

func TestSharedDatasetsLoad(t *testing.T) {
	dir := sharedData(t)
	for _, w := range datasets() {
		t.Run(w.name, func(t *testing.T) {
			if w.large && testing.Short() {
				t.Skip("large dataset skipped under -short")
			}
			train, test := loadWant(t, dir, w)
			cols := w.cols
			if cols < 0 {
				cols = arffFeatures[filepath.Dir(w.train)]
			}
			checkShape(t, train, w.task, w.rows, cols, w.k)
			if test != nil {
				checkShape(t, test, w.task, w.testRows, cols, w.k)
			}
			if w.classes != nil && !slices.Equal(train.Classes, w.classes) {
				t.Errorf("classes %q, want %q", train.Classes, w.classes)
			}
			if w.task == Binary {
				if got := countPositives(train); got != w.pos {
					t.Errorf("train positives %d, want %d", got, w.pos)
				}
				if test != nil {
					if got := countPositives(test); got != w.testPos {
						t.Errorf("test positives %d, want %d", got, w.testPos)
					}
				}
			}
			if w.classCounts != nil {
				if got := classCounts(train); !slices.Equal(got, w.classCounts) {
					t.Errorf("class counts %v, want %v", got, w.classCounts)
				}
			}
		})
	}
}

// loadWant loads the train (and test) file of w and aligns them.
func loadWant(t *testing.T, dir string, w want) (train, test *Dataset) {
	t.Helper()
	train, st, err := Load(filepath.Join(dir, w.train), w.opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.SkippedRows != 0 || st.Rows != train.Rows() {
		t.Fatalf("stats %+v for %d rows", st, train.Rows())
	}
	if w.test == "" {
		return train, nil
	}
	topt := w.opt
	topt.Task, topt.Classes = train.Task, train.Classes
	if w.opt.Missing == MissingMean {
		topt.ColumnMeans = st.ColumnMeans
	}
	test, _, err = Load(filepath.Join(dir, w.test), topt)
	if err != nil {
		t.Fatal(err)
	}
	if err := Align(train, test); err != nil {
		t.Fatal(err)
	}
	return train, test
}

func checkShape(t *testing.T, d *Dataset, task Task, rows, cols, k int) {
	t.Helper()
	if d.Task != task || d.Rows() != rows || d.X.Cols != cols || d.K != k || len(d.Y) != rows*k || len(d.Classes) != k && task != Binary {
		t.Errorf("%s: task %v, %d×%d, K %d, %d targets, %d classes; want %v, %d×%d, K %d",
			d.Name, d.Task, d.Rows(), d.X.Cols, d.K, len(d.Y), len(d.Classes), task, rows, cols, k)
	}
	if err := checkInvariants(d); err != nil {
		t.Errorf("%s: %v", d.Name, err)
	}
}

func countPositives(d *Dataset) int {
	n := 0
	for _, y := range d.Y {
		if y == 1 {
			n++
		}
	}
	return n
}

func classCounts(d *Dataset) []int {
	counts := make([]int, d.K)
	for i := range d.Rows() {
		for c, y := range d.Y[i*d.K : (i+1)*d.K] {
			if y == 1 {
				counts[c]++
			}
		}
	}
	return counts
}

// TestMULANARFFMatchesDerivedLIBSVM checks the two readers against each
// other cell by cell: the derived LIBSVM copies were produced from the
// ARFF files (SOURCE.md), so features and labels must agree exactly.
func TestMULANARFFMatchesDerivedLIBSVM(t *testing.T) {
	dir := sharedData(t)
	for _, name := range []string{"scene", "emotions", "bibtex", "enron", "medical", "delicious", "tmc2007-500"} {
		t.Run(name, func(t *testing.T) {
			if name == "delicious" && testing.Short() {
				t.Skip("large dataset skipped under -short")
			}
			for _, part := range []string{"train", "test"} {
				a, _, err := Load(filepath.Join(dir, name, name+"-"+part+".arff"), ReadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				s, _, err := Load(filepath.Join(dir, name, "derived-libsvm", name+"-"+part+".svm"),
					ReadOptions{NumLabels: a.K, NumFeatures: a.X.Cols})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(a.Y, s.Y) {
					t.Errorf("%s: labels differ", part)
				}
				ad, sd := denseOf(a.X), denseOf(s.X)
				if !slices.Equal(ad, sd) {
					t.Errorf("%s: features differ", part)
				}
			}
		})
	}
}

// denseOf returns the dense row-major cells of m.
func denseOf(m Matrix) []float32 {
	if !m.Sparse() {
		return m.Dense
	}
	toDense(&m)
	return m.Dense
}

func TestDermatologyMissingIsLocated(t *testing.T) {
	dir := sharedData(t)
	_, _, err := Load(filepath.Join(dir, "dermatology", "dermatology.data"), ReadOptions{})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 34 || pe.Column != 34 || pe.Token != "?" {
		t.Fatalf("error %v, want a ParseError at line 34, field 34, token \"?\"", err)
	}
	d, st, err := Load(filepath.Join(dir, "dermatology", "dermatology.data"), ReadOptions{Missing: MissingMean})
	if err != nil {
		t.Fatal(err)
	}
	if st.MissingFilled != 8 || len(st.ColumnMeans) != 34 {
		t.Fatalf("filled %d, %d means; want 8 and 34", st.MissingFilled, len(st.ColumnMeans))
	}
	// Row 34 (0-based 33) had age "?": it now holds the mean age.
	if got, want := d.X.Dense[33*34+33], float32(st.ColumnMeans[33]); got != want || want < 30 || want > 40 {
		t.Errorf("filled age %v, mean %v", got, want)
	}
}

func TestMNISTPixelsAreScaledBy255(t *testing.T) {
	if testing.Short() {
		t.Skip("large dataset skipped under -short")
	}
	dir := sharedData(t)
	d, _, err := Load(filepath.Join(dir, "mnist", "t10k-images-idx3-ubyte.gz"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.X.Sparse() {
		t.Fatal("IDX data stored sparse")
	}
	seen := map[float32]bool{}
	for _, v := range d.X.Dense {
		seen[v] = true
	}
	for p := range 256 {
		delete(seen, float32(float64(p)/255))
	}
	if len(seen) != 0 {
		t.Errorf("%d values are not p/255", len(seen))
	}
	if !slices.Equal(d.Classes, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}) {
		t.Errorf("classes %q", d.Classes)
	}
}

func TestA9aTestLacksLastFeatureUntilAligned(t *testing.T) {
	dir := sharedData(t)
	test, _, err := Load(filepath.Join(dir, "a9a", "a9a.t"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if test.X.Cols != 122 {
		t.Errorf("a9a.t has %d columns, want 122 (index 123 occurs only in a9a)", test.X.Cols)
	}
}
