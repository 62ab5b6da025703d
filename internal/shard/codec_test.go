package shard

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func codecSparse() *Dataset {
	return &Dataset{
		Task: Multilabel, K: 2,
		X: Matrix{Rows: 3, Cols: 5,
			Indptr:  []int64{0, 2, 2, 5},
			Indices: []int32{0, 4, 1, 2, 3},
			Values:  []float32{1, -2.5, 0, 3, 1e-3}},
		Y:       []float32{1, 0, 0, 0, 1, 1},
		Weights: []float64{1, 2, 0.5},
	}
}

func codecDense() *Dataset {
	return &Dataset{
		Task: Binary, K: 1,
		X: Matrix{Rows: 3, Cols: 2, Dense: []float32{1, 2, 3, 4, 5, 6}},
		Y: []float32{1, 0, 1},
	}
}

func TestShardCodecRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d      *Dataset
		lo, hi int
	}{
		{"sparse-all", codecSparse(), 0, 3},
		{"sparse-middle", codecSparse(), 1, 3},
		{"sparse-empty", codecSparse(), 2, 2},
		{"dense-all", codecDense(), 0, 3},
		{"dense-tail", codecDense(), 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := EncodeShard(Rows{D: tc.d, Lo: tc.lo, Hi: tc.hi})
			got, err := DecodeShard(b, "shard")
			if err != nil {
				t.Fatal(err)
			}
			n := tc.hi - tc.lo
			if got.Rows() != n || got.X.Cols != tc.d.X.Cols || got.K != tc.d.K || got.Task != tc.d.Task {
				t.Fatalf("shape %d×%d k=%d task=%v", got.Rows(), got.X.Cols, got.K, got.Task)
			}
			if !reflect.DeepEqual(got.Y, tc.d.Y[tc.lo*tc.d.K:tc.hi*tc.d.K]) {
				t.Errorf("y = %v", got.Y)
			}
			for i := 0; i < n; i++ {
				if a, b := denseRow(got, i), denseRow(tc.d, tc.lo+i); !reflect.DeepEqual(a, b) {
					t.Errorf("row %d = %v, want %v", i, a, b)
				}
				if tc.d.Weights != nil && got.Weights[i] != tc.d.Weights[tc.lo+i] {
					t.Errorf("weight %d = %v", i, got.Weights[i])
				}
			}
		})
	}
}

func denseRow(d *Dataset, i int) []float32 {
	row := make([]float32, d.X.Cols)
	if !d.X.Sparse() {
		copy(row, d.X.Dense[i*d.X.Cols:])
		return row
	}
	for q := d.X.Indptr[i]; q < d.X.Indptr[i+1]; q++ {
		row[d.X.Indices[q]] = d.X.Values[q]
	}
	return row
}

func TestShardCodecRejects(t *testing.T) {
	good := EncodeShard(Rows{D: codecSparse(), Lo: 0, Hi: 3})
	mutate := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	nan := math.Float32bits(float32(math.NaN()))
	for name, b := range map[string][]byte{
		"empty":     nil,
		"magic":     mutate(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version":   mutate(func(b []byte) []byte { b[4] = 9; return b }),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
		"dense-nnz": func() []byte {
			// A dense shard's nnz field must be 0, or it would have two
			// encodings (found by FuzzShardCodec).
			b := EncodeShard(Rows{D: codecDense(), Lo: 0, Hi: 2})
			b[20] = 4
			return b
		}(),
		"huge-rows": mutate(func(b []byte) []byte { b[8], b[9], b[10], b[11] = 0xff, 0xff, 0xff, 0x7f; return b }),
		"index":     mutate(func(b []byte) []byte { b[codecHeader+4*8] = 9; return b }),
		"nan": mutate(func(b []byte) []byte {
			off := codecHeader + 4*8 + 5*4
			b[off], b[off+1], b[off+2], b[off+3] = byte(nan), byte(nan>>8), byte(nan>>16), byte(nan>>24)
			return b
		}),
	} {
		if _, err := DecodeShard(b, name); !errors.Is(err, ErrCodec) {
			t.Errorf("%s: err = %v, want ErrCodec", name, err)
		}
	}
}

func FuzzShardCodec(f *testing.F) {
	f.Add(EncodeShard(Rows{D: codecSparse(), Lo: 0, Hi: 3}))
	f.Add(EncodeShard(Rows{D: codecDense(), Lo: 1, Hi: 3}))
	f.Add([]byte("DPTS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeShard(b, "fuzz")
		if err != nil {
			return
		}
		again := EncodeShard(Rows{D: d, Lo: 0, Hi: d.Rows()})
		if string(again) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
