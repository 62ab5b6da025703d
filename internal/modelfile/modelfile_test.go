package modelfile

import (
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/shard"
)

func testMeta() Meta {
	return Meta{Task: "multiclass", Loss: "softmax", Features: 3, K: 2, Classes: []string{"a", "b"},
		Model:  model.Config{Kind: "mlp", Inputs: 3, Outputs: 2, Hidden: []int{4}, Activation: "tanh"},
		Scaler: shard.Scaler{Kind: "maxabs", Scale: []float64{1, 2, 3}}}
}

func testTheta(m Meta) []float64 {
	n := 0
	for _, s := range LayerShapes(m.Model) {
		n += s[0]*s[1] + s[1]
	}
	theta := make([]float64, n)
	for i := range theta {
		theta[i] = math.Sin(float64(i)) * 1e-3
	}
	theta[0] = math.Copysign(0, -1)
	return theta
}

func TestRoundTrip(t *testing.T) {
	m := testMeta()
	theta := testTheta(m)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Write(path, m, theta); err != nil {
		t.Fatal(err)
	}
	gm, gt, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gm, m) {
		t.Errorf("meta %+v, want %+v", gm, m)
	}
	if ParamsSHA256(gt) != ParamsSHA256(theta) {
		t.Errorf("θ changed in the round trip")
	}
}

func TestRejects(t *testing.T) {
	m := testMeta()
	if _, err := Encode(m, make([]float64, 3)); err == nil {
		t.Error("θ of the wrong length encoded")
	}
	good, err := Encode(m, testTheta(m))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-8],
		"header":    append([]byte{255, 255, 255, 255, 0, 0, 0, 0}, good[8:]...),
		"json":      append(append([]byte(nil), good[:8]...), []byte("{not json")...),
	} {
		if _, _, err := Decode(b, name); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", name, err)
		}
	}
}

func TestParamsSHA256(t *testing.T) {
	// sha256 of the little-endian bytes of 1.0, 00 00 00 00 00 00 f0 3f,
	// computed independently (Python's hashlib over struct.pack("<d", 1.0)).
	if got, want := ParamsSHA256([]float64{1}), "6c3c396ed6b5c36dcae172271f462051b1266b851e92df3deea8ac65478fd712"; got != want {
		t.Errorf("ParamsSHA256([1]) = %s, want %s", got, want)
	}
	a, b := ParamsSHA256([]float64{0}), ParamsSHA256([]float64{math.Copysign(0, -1)})
	if a == b {
		t.Error("+0 and −0 have the same fingerprint: the hash must see the bits")
	}
}

func FuzzDecode(f *testing.F) {
	m := testMeta()
	good, err := Encode(m, testTheta(m))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:20])
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Fuzz(func(t *testing.T, b []byte) {
		meta, theta, err := Decode(b, "fuzz")
		if err != nil {
			return
		}
		if _, err := Encode(meta, theta); err != nil {
			t.Fatalf("decoded a model that does not encode: %v", err)
		}
	})
}
