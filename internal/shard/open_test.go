package shard

import (
	"bufio"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDetectFormat(t *testing.T) {
	for name, want := range map[string]Format{
		"scene-train.arff":               ARFF,
		"x/Y.ARFF.gz":                    ARFF,
		"train-images-idx3-ubyte.gz":     IDX,
		"t10k-labels-idx1-ubyte":         IDX,
		"dermatology.data":               CSV,
		"a.csv.bz2":                      CSV,
		"b.tsv":                          CSV,
		"a9a":                            LIBSVM,
		"a9a.t":                          LIBSVM,
		"sector.scale.bz2":               LIBSVM,
		"derived-libsvm/bibtex-test.svm": LIBSVM,
	} {
		if got := DetectFormat(name); got != want {
			t.Errorf("DetectFormat(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{FormatAuto, LIBSVM, CSV, ARFF, IDX} {
		if got, err := ParseFormat(strings.ToUpper(f.String())); err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFormat("parquet"); err == nil {
		t.Error("ParseFormat(parquet): no error")
	}
	for _, p := range []MissingPolicy{MissingError, MissingZero, MissingMean} {
		if got, err := ParseMissingPolicy(p.String()); err != nil || got != p {
			t.Errorf("ParseMissingPolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParseMissingPolicy("drop"); err == nil {
		t.Error("ParseMissingPolicy(drop): no error")
	}
}

func TestSniffFormat(t *testing.T) {
	for in, want := range map[string]Format{
		"1\t0.5\t0.25\n":     CSV,
		"# c\n\n1,2,3\n":     CSV,
		"+1 1:2 3:4\n":       LIBSVM,
		"-1 \n":              LIBSVM,
		"1,2 3:1\n":          LIBSVM,
		"% c\n@RELATION x\n": ARFF,
		"":                   LIBSVM,
	} {
		if got := sniffFormat(bufio.NewReader(strings.NewReader(in))); got != want {
			t.Errorf("sniffFormat(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLoadDecompressesByMagic(t *testing.T) {
	var want *Dataset
	for _, name := range []string{"tiny.svm", "tiny.svm.gz", "tiny-bzip2-no-suffix.svm"} {
		d, _, err := Load(filepath.Join("testdata", name), ReadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want == nil {
			want = d
			if d.Rows() != 2 || d.X.Cols != 3 {
				t.Fatalf("%s: %d×%d", name, d.Rows(), d.X.Cols)
			}
			continue
		}
		if !slices.Equal(d.X.Dense, want.X.Dense) || !slices.Equal(d.X.Values, want.X.Values) || !slices.Equal(d.Y, want.Y) {
			t.Errorf("%s differs from tiny.svm", name)
		}
	}
	if _, _, err := Load(filepath.Join("testdata", "absent.svm"), ReadOptions{}); err == nil {
		t.Error("absent file: no error")
	}
}

func TestReadRefusesIDX(t *testing.T) {
	if _, _, err := Read(strings.NewReader(""), "train-images-idx3-ubyte", ReadOptions{}); err == nil {
		t.Error("Read of IDX: no error")
	}
}
