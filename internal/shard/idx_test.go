package shard

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes encodes an IDX file of unsigned bytes with the given dims.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, magic) // bytes.Buffer writes cannot fail
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tinyMNIST returns 3 images of 2×2 pixels and their labels.
func tinyMNIST() (images, labels []byte) {
	images = idxBytes(idxImagesMagic, []uint32{3, 2, 2}, []byte{0, 255, 51, 0, 1, 2, 3, 4, 0, 0, 0, 0})
	labels = idxBytes(idxLabelsMagic, []uint32{3}, []byte{7, 2, 7})
	return images, labels
}

func TestIDX(t *testing.T) {
	images, labels := tinyMNIST()
	// gzip on one stream only: compression is detected per stream.
	d, _, err := ReadIDX(bytes.NewReader(gzipped(t, images)), bytes.NewReader(labels), "tiny", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkInvariants(d); err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 1, 0.2, 0, float32(1.0 / 255), float32(2.0 / 255), float32(3.0 / 255), float32(4.0 / 255), 0, 0, 0, 0}
	if d.X.Sparse() || d.X.Cols != 4 || !slices.Equal(d.X.Dense, want) {
		t.Errorf("X %v (cols %d), want %v", d.X.Dense, d.X.Cols, want)
	}
	if d.Task != Binary || !slices.Equal(d.Classes, []string{"2", "7"}) || !slices.Equal(d.Y, []float32{1, 0, 1}) {
		t.Errorf("task %v classes %q Y %v", d.Task, d.Classes, d.Y)
	}
	d, _, err = ReadIDX(bytes.NewReader(images), bytes.NewReader(labels), "tiny", ReadOptions{Task: Multiclass,
		Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}})
	if err != nil || d.K != 10 || d.Y[7] != 1 || d.Y[12] != 1 {
		t.Errorf("with training classes: %v, K %d, Y %v", err, d.K, d.Y)
	}
}

func TestIDXErrors(t *testing.T) {
	images, labels := tinyMNIST()
	for _, tc := range []struct {
		name           string
		images, labels []byte
		msg            string
	}{
		{"count mismatch", images, idxBytes(idxLabelsMagic, []uint32{2}, []byte{1, 2}), "3 images but 2 labels"},
		{"images magic", idxBytes(0x00000903, []uint32{3, 2, 2}, nil), labels, "magic 0x00000903"},
		{"labels given as images", labels, labels, "magic 0x00000801"},
		{"truncated images", images[:len(images)-1], labels, "truncated after 2 of 3"},
		{"truncated header", images[:6], labels, "header"},
		{"trailing data", append(slices.Clone(images), 9), labels, "data after the 3 records"},
		{"huge claimed count", idxBytes(idxImagesMagic, []uint32{1 << 30, 28, 28}, nil), idxBytes(idxLabelsMagic, []uint32{1 << 30}, nil), "truncated after 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadIDX(bytes.NewReader(tc.images), bytes.NewReader(tc.labels), "tiny", ReadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
		})
	}
}

func TestLoadIDXFindsLabelsFile(t *testing.T) {
	dir := t.TempDir()
	images, labels := tinyMNIST()
	if err := os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), gzipped(t, images), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte"), labels, 0o600); err != nil {
		t.Fatal(err)
	}
	d, _, err := Load(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows() != 3 {
		t.Errorf("%d rows", d.Rows())
	}
	if _, _, err := Load(filepath.Join(dir, "t10k-labels-idx1-ubyte"), ReadOptions{}); err == nil {
		t.Error("loading a labels file as images: no error")
	}
}
