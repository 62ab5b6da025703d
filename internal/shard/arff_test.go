package shard

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const arffHeader = `% a MULAN-style file
@RELATION 'test: a "relation"'

@attribute f0 numeric
@Attribute 'f 1' REAL
@attribute "lab\"A" {0,1}
@attribute f2 integer
@ATTRIBUTE labB {0,1}
@attribute TAG_m\'usica {0,1}

@data
`

func TestARFFQuirks(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		opt     ReadOptions
		task    Task
		x       []float32 // dense cells
		classes []string
		y       []float32
	}{{
		name: "dense rows, labels by name in the given order",
		in:   arffHeader + "1.5,2,1,3,0,1\n% comment\n\n-1,0,0,4,1,0\n",
		opt:  ReadOptions{LabelNames: []string{"labB", `lab"A`}},
		task: Multilabel, x: []float32{1.5, 2, 3, 1, -1, 0, 4, 0},
		classes: []string{"labB", `lab"A`}, y: []float32{0, 1, 1, 0},
	}, {
		name: "sparse rows with 0-based attribute ids, omitted values zero",
		in:   arffHeader + "{0 1.5,2 1,3 3}\n{4 1, 1 -2}\n{}\n",
		opt:  ReadOptions{LabelNames: []string{`lab"A`, "labB"}},
		task: Multilabel, x: []float32{1.5, 0, 3, 0, 0, -2, 0, 0, 0, 0, 0, 0},
		classes: []string{`lab"A`, "labB"}, y: []float32{1, 0, 0, 1, 0, 0},
	}, {
		name: "the last k attributes are labels; backslash name kept verbatim",
		in:   arffHeader + "1,2,0,3,1,1\n",
		opt:  ReadOptions{Labels: 2},
		task: Multilabel, x: []float32{1, 2, 0, 3},
		classes: []string{"labB", `TAG_m\'usica`}, y: []float32{1, 1},
	}, {
		name: "Weka class attribute, nominal, classes in declaration order",
		in:   "@relation r\n@attribute a numeric\n@attribute b numeric\n@attribute class {pos,neg,mid}\n@data\n1,2,neg\n3,4,pos\n5,6,mid\n",
		task: Multiclass, x: []float32{1, 2, 3, 4, 5, 6},
		classes: []string{"pos", "neg", "mid"}, y: []float32{0, 1, 0, 1, 0, 0, 0, 0, 1},
	}, {
		name: "Weka class attribute in sparse rows defaults to the first value",
		in:   "@relation r\n@attribute a numeric\n@attribute c {no,yes}\n@data\n{0 2}\n{0 1,1 yes}\n",
		task: Binary, x: []float32{2, 1},
		classes: []string{"no", "yes"}, y: []float32{0, 1},
	}, {
		name: "missing feature filled with the mean in dense rows",
		in:   "@relation r\n@attribute a numeric\n@attribute l {0,1}\n@data\n?,1\n4,0\n2,1\n",
		opt:  ReadOptions{Labels: 1, Missing: MissingMean},
		task: Multilabel, x: []float32{3, 4, 2},
		classes: []string{"l"}, y: []float32{1, 0, 1},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Storage = StorageDense
			d, _, err := ReadARFF(strings.NewReader(tc.in), "t.arff", tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkInvariants(d); err != nil {
				t.Fatal(err)
			}
			if d.Task != tc.task || !slices.Equal(d.X.Dense, tc.x) || !slices.Equal(d.Classes, tc.classes) || !slices.Equal(d.Y, tc.y) {
				t.Fatalf("got %v X %v classes %q Y %v; want %v X %v classes %q Y %v",
					d.Task, d.X.Dense, d.Classes, d.Y, tc.task, tc.x, tc.classes, tc.y)
			}
		})
	}
}

func TestARFFErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opt      ReadOptions
		line     int    // 0: not a ParseError
		msg      string // substring
	}{
		{"nominal feature", "@relation r\n@attribute a {x,y}\n@attribute l {0,1}\n@data\nx,1\n", ReadOptions{Labels: 1}, 0, `attribute "a" is nominal {x,y}: only numeric and {0,1} features`},
		{"string feature", "@relation r\n@attribute a string\n@attribute l {0,1}\n@data\nx,1\n", ReadOptions{Labels: 1}, 0, `type "string"`},
		{"unknown label name", arffHeader + "1,2,1,3,0,1\n", ReadOptions{LabelNames: []string{"nope"}}, 0, `label attribute "nope": no such attribute`},
		{"wrong value count", arffHeader + "1,2,1\n", ReadOptions{Labels: 2}, 12, "6 values, found 3"},
		{"sparse id out of range", arffHeader + "{6 1}\n", ReadOptions{Labels: 2}, 12, `attribute id "6": expected a 0-based attribute id in 0..5`},
		{"label value not 0/1", arffHeader + "{4 2}\n", ReadOptions{Labels: 2}, 12, "0 or 1"},
		{"missing label", arffHeader + "1,2,1,3,?,1\n", ReadOptions{Labels: 2, Missing: MissingZero}, 12, "missing labels are errors"},
		{"missing feature", arffHeader + "?,2,1,3,0,1\n", ReadOptions{Labels: 2}, 12, "t.arff:12:1:"},
		{"NaN feature", arffHeader + "{0 NaN}\n", ReadOptions{Labels: 2}, 12, "finite"},
		{"duplicate sparse id", arffHeader + "{0 1,0 2}\n", ReadOptions{Labels: 2}, 12, "at most once"},
		{"instance weight", arffHeader + "{0 1}, {3}\n", ReadOptions{Labels: 2}, 12, "instance weights"},
		{"unknown keyword", "@relation r\n@attr a numeric\n", ReadOptions{}, 2, `keyword "@attr"`},
		{"no @data", "@relation r\n@attribute a numeric\n", ReadOptions{}, 2, "@data"},
		{"no rows", arffHeader, ReadOptions{Labels: 2}, 0, "no data rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadARFF(strings.NewReader(tc.in), "t.arff", tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
			var pe *ParseError
			if tc.line > 0 && (!errors.As(err, &pe) || pe.Line != tc.line) {
				t.Fatalf("error %v, want a ParseError at line %d", err, tc.line)
			}
		})
	}
}

func TestReadMULANLabels(t *testing.T) {
	const x = `<?xml version="1.0" encoding="utf-8"?>
<labels xmlns="http://mulan.sourceforge.net/labels">
<label name="A &amp; B"></label>
<label name="parent"><label name="child"></label></label>
<label name="TAG_m\'usica"></label>
</labels>`
	got, err := ReadMULANLabels(strings.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A & B", "parent", "child", `TAG_m\'usica`}; !slices.Equal(got, want) {
		t.Errorf("labels %q, want %q", got, want)
	}
	for _, bad := range []string{"<labels></labels>", "<labels><label/></labels>", "<labels><label name='a'>"} {
		if _, err := ReadMULANLabels(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestLoadARFFFindsMULANLabels(t *testing.T) {
	dir := t.TempDir()
	arff := "@relation r\n@attribute a numeric\n@attribute x {0,1}\n@attribute y {0,1}\n@attribute b numeric\n@data\n1,1,0,2\n3,0,1,4\n"
	xml := `<labels xmlns="http://mulan.sourceforge.net/labels"><label name="y"></label><label name="x"></label></labels>`
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	train := write("toy-train.arff", arff)
	write("toy.xml", xml)
	other := write("other.xml", `<labels><label name="x"></label></labels>`)
	d, _, err := Load(train, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Classes, []string{"y", "x"}) || !slices.Equal(d.Y, []float32{0, 1, 1, 0}) || d.X.Cols != 2 {
		t.Errorf("sibling xml: classes %q Y %v cols %d", d.Classes, d.Y, d.X.Cols)
	}
	d, _, err = Load(train, ReadOptions{LabelsXML: other})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Classes, []string{"x"}) || d.X.Cols != 3 {
		t.Errorf("explicit xml: classes %q cols %d", d.Classes, d.X.Cols)
	}
	d, _, err = Load(train, ReadOptions{LabelNames: []string{other}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Classes, []string{"x"}) {
		t.Errorf("xml path as LabelNames: classes %q", d.Classes)
	}
	// Labels given explicitly win over the sibling file: the last
	// attribute b is then a label, and its values 2 and 4 are not in [0, 1].
	if _, _, err = Load(train, ReadOptions{Labels: 1}); err == nil || !strings.Contains(err.Error(), `attribute "b" "2": expected a label value in [0, 1]`) {
		t.Errorf("Labels 1: error %v", err)
	}
}
