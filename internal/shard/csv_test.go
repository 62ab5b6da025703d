package shard

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCSVLayouts(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		opt     ReadOptions
		task    Task
		x       []float32 // dense, row-major
		cols    int
		classes []string
		y       []float32
	}{{
		name: "dermatology: no header, label last",
		in:   "2,2,0,3\n3,3,3,2\n1,0,1,1\n",
		task: Multiclass, cols: 3, x: []float32{2, 2, 0, 3, 3, 3, 1, 0, 1},
		classes: []string{"1", "2", "3"}, y: []float32{0, 0, 1, 0, 1, 0, 1, 0, 0},
	}, {
		name: "higgs: tab-separated, label first",
		in:   "1\t0.869\t-0.635\n0\t0.908\t0.329\n",
		opt:  ReadOptions{LabelColumn: "0"},
		task: Binary, cols: 2, x: []float32{0.869, -0.635, 0.908, 0.329},
		classes: []string{"0", "1"}, y: []float32{1, 0},
	}, {
		name: "header with a class column in the middle",
		in:   "a,class,b\n1,yes,2\n3,no,4\n",
		task: Binary, cols: 2, x: []float32{1, 2, 3, 4},
		classes: []string{"no", "yes"}, y: []float32{1, 0},
	}, {
		name: "label column by header name, quoted fields, blank lines",
		in:   "\"f 1\",\"the \"\"label\"\"\"\n\n1.5, \"x\"\n2.5 , \"y\"\n\n",
		opt:  ReadOptions{LabelColumn: `the "label"`},
		task: Binary, cols: 1, x: []float32{1.5, 2.5},
		classes: []string{"x", "y"}, y: []float32{0, 1},
	}, {
		name: "negative label index, whitespace delimiter, forced header",
		in:   "u v w\n1  2 1\n  3 4 0\n",
		opt:  ReadOptions{LabelColumn: "-1", Header: HeaderYes},
		task: Binary, cols: 2, x: []float32{1, 2, 3, 4},
		classes: []string{"0", "1"}, y: []float32{1, 0},
	}, {
		name: "a numeric first line is data under HeaderAuto",
		in:   "1,2,0\n3,4,1\n",
		task: Binary, cols: 2, x: []float32{1, 2, 3, 4},
		classes: []string{"0", "1"}, y: []float32{0, 1},
	}, {
		name: "missing values as zero",
		in:   "1,?,0\n,4,1\n",
		opt:  ReadOptions{Missing: MissingZero},
		task: Binary, cols: 2, x: []float32{1, 0, 0, 4},
		classes: []string{"0", "1"}, y: []float32{0, 1},
	}, {
		name: "missing values as the file's column mean",
		in:   "1,?,0\n,4,1\n3,8,0\n",
		opt:  ReadOptions{Missing: MissingMean},
		task: Binary, cols: 2, x: []float32{1, 6, 2, 4, 3, 8},
		classes: []string{"0", "1"}, y: []float32{0, 1, 0},
	}, {
		name: "missing values as given (training) means",
		in:   "1,?,0\n?,4,1\n",
		opt:  ReadOptions{Missing: MissingMean, ColumnMeans: []float64{10, 20}},
		task: Binary, cols: 2, x: []float32{1, 20, 10, 4},
		classes: []string{"0", "1"}, y: []float32{0, 1},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, st, err := ReadCSV(strings.NewReader(tc.in), "t.csv", tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkInvariants(d); err != nil {
				t.Fatal(err)
			}
			if d.Task != tc.task || d.X.Cols != tc.cols || !slices.Equal(d.X.Dense, tc.x) || !slices.Equal(d.Classes, tc.classes) || !slices.Equal(d.Y, tc.y) {
				t.Fatalf("got %v %d cols X %v classes %q Y %v; want %v %d cols X %v classes %q Y %v",
					d.Task, d.X.Cols, d.X.Dense, d.Classes, d.Y, tc.task, tc.cols, tc.x, tc.classes, tc.y)
			}
			if tc.opt.Missing == MissingMean && len(st.ColumnMeans) != tc.cols {
				t.Errorf("column means %v", st.ColumnMeans)
			}
		})
	}
}

func TestCSVErrorsAreLocated(t *testing.T) {
	tests := []struct {
		name, in     string
		opt          ReadOptions
		line, column int
		token, msg   string
	}{
		{"missing value under the default policy", "1,2,0\n3,?,1\n", ReadOptions{}, 2, 2, "?", "t.csv:2:2: value \"?\": expected a number (the value is missing"},
		{"empty field", "1,2,0\n,4,1\n", ReadOptions{}, 2, 1, "", "missing"},
		{"missing label", "1,2,0\n3,4,?\n", ReadOptions{Missing: MissingZero}, 2, 3, "?", "labels cannot be missing"},
		{"NaN", "1,2,0\n3,NaN,1\n", ReadOptions{}, 2, 2, "NaN", "finite"},
		{"text feature", "1,2,0\n3,x,1\n", ReadOptions{}, 2, 2, "x", "a number"},
		{"field count", "1,2,0\n3,1\n", ReadOptions{}, 2, 0, "", "3 fields, found 2"},
		{"unclosed quote", "1,2,0\n3,\"4,1\n", ReadOptions{}, 2, 2, "\"4,1", "closing double quote"},
		{"label not in training classes", "1,2,a\n3,4,b\n", ReadOptions{Classes: []string{"a", "c"}}, 2, 0, "b", "one of the classes [a c]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadCSV(strings.NewReader(tc.in), "t.csv", tc.opt)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *ParseError", err)
			}
			if pe.Line != tc.line || pe.Column != tc.column || pe.Token != tc.token || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q (%d:%d token %q), want %d:%d token %q containing %q",
					err, pe.Line, pe.Column, pe.Token, tc.line, tc.column, tc.token, tc.msg)
			}
		})
	}
}

func TestCSVLabelColumnErrors(t *testing.T) {
	for _, tc := range []struct{ in, col string }{
		{"a,b\n1,2\n", "c"},
		{"1,2\n3,4\n", "name"},
		{"1,2\n3,4\n", "2"},
		{"1,2\n3,4\n", "-3"},
	} {
		if _, _, err := ReadCSV(strings.NewReader(tc.in), "t", ReadOptions{LabelColumn: tc.col}); err == nil {
			t.Errorf("%q with label column %q: no error", tc.in, tc.col)
		}
	}
}

func TestCSVSkipBad(t *testing.T) {
	d, st, err := ReadCSV(strings.NewReader("1,2,0\n3,?,1\n5,6\n7,8,1\n"), "t.csv", ReadOptions{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows() != 2 || st.SkippedRows != 2 || !slices.Equal(d.X.Dense, []float32{1, 2, 7, 8}) {
		t.Fatalf("rows %d X %v stats %+v", d.Rows(), d.X.Dense, st)
	}
	if !strings.Contains(st.SkippedSamples[0], "t.csv:2:2") || !strings.Contains(st.SkippedSamples[1], "t.csv:3") {
		t.Errorf("samples %q", st.SkippedSamples)
	}
}
