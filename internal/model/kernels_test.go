package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The dispatching kernels (assembly where available) give the same bits
// as the portable Go ones, which follow the documented order.
func TestKernelsMatchPortable(t *testing.T) {
	rnd := rand.New(rand.NewPCG(21, 22))
	for n := range 70 {
		x := make([]float32, n)
		w := make([]float64, n+3) // longer than x: only len(x) is read
		for i := range x {
			x[i] = float32(rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(9)-4)))
		}
		for i := range w {
			w[i] = rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(9)-4))
		}
		if got, want := dotF32(x, w), dotF32Go(x, w); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("n=%d: dotF32 = %v, portable %v", n, got, want)
		}
		if got, want := dotF32Go(x, w), dotReference(x, w); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("n=%d: dotF32Go = %v, documented order %v", n, got, want)
		}
		a := rnd.NormFloat64()
		d1, d2 := append([]float64(nil), w...), append([]float64(nil), w...)
		axpyF32(d1, a, x)
		axpyF32Go(d2, a, x)
		for i := range d1 {
			if math.Float64bits(d1[i]) != math.Float64bits(d2[i]) {
				t.Fatalf("n=%d: axpyF32[%d] = %v, portable %v", n, i, d1[i], d2[i])
			}
			if i >= n && d1[i] != w[i] {
				t.Fatalf("n=%d: axpyF32 wrote past len(x) at %d", n, i)
			}
		}
	}
}

// dotReference is the documented order of dotF32, written plainly.
func dotReference(x []float32, w []float64) float64 {
	var s [dotLanes]float64
	n8 := len(x) / dotLanes * dotLanes
	for i := range n8 {
		s[i%dotLanes] += float64(float64(x[i]) * w[i])
	}
	r := ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
	for i := n8; i < len(x); i++ {
		r += float64(float64(x[i]) * w[i])
	}
	return r
}

func TestKernelsSpecialValues(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	w := []float64{0, 0, 0, math.Inf(1), 0, 0, 0, 0, 0}
	if got := dotF32(x, w); !math.IsInf(got, 1) {
		t.Errorf("dot with +Inf weight = %v", got)
	}
	w[8] = math.NaN()
	if got := dotF32(x, w); !math.IsNaN(got) {
		t.Errorf("dot with NaN weight = %v", got)
	}
}
