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
		s[i%dotLanes] = math.FMA(float64(x[i]), w[i], s[i%dotLanes])
	}
	r := ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
	for i := n8; i < len(x); i++ {
		r = math.FMA(float64(x[i]), w[i], r)
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

// randomScaled returns a normal draw times 10^e, e uniform in −4..4, so
// that sums cancel and round differently in any other order.
func randomScaled(rnd *rand.Rand) float64 {
	return rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(9)-4))
}

// The tile kernels in use (AVX-512 where available) give the bits of the
// portable ones, which follow the documented order: each dot product that
// of dotF32Go, each gradient element updated row by row.
func TestTileKernelsMatchPortable(t *testing.T) {
	t.Logf("tile kernels in use: %s; testing %v", kernelName(), availableKernels())
	for _, k := range availableKernels() {
		testTileKernel(t, k)
	}
}

func testTileKernel(t *testing.T, k tileKernel) {
	rnd := rand.New(rand.NewPCG(23, 24))
	for trial := range 400 {
		n8 := dotLanes * rnd.IntN(12)
		nt := []int{1, tileOut, 2, 3}[trial%4]
		ws := n8 + rnd.IntN(5)
		rowsN := 1 + rnd.IntN(6)
		stride := n8 + rnd.IntN(4)
		x := make([]float32, rowsN*stride+n8)
		for i := range x {
			x[i] = float32(randomScaled(rnd))
		}
		var off [tileRows]int
		for i := range off {
			off[i] = rnd.IntN(rowsN+1) * stride
		}
		w := make([]float64, (nt-1)*ws+n8+rnd.IntN(3))
		for i := range w {
			w[i] = randomScaled(rnd)
		}
		pf := [prefetchRows]int{off[rnd.IntN(tileRows)], off[rnd.IntN(tileRows)]}
		var got, want [tileRows * tileOut]float64
		dotTileWith(k, &got, x, &off, &pf, w, ws, nt, n8)
		dotTileGo(&want, x, &off, w, ws, nt, n8)
		for i := range tileRows {
			for o := range nt {
				if g, e := got[i*tileOut+o], want[i*tileOut+o]; math.Float64bits(g) != math.Float64bits(e) {
					t.Fatalf("%v trial %d (n8=%d nt=%d): dot[%d][%d] = %v, portable %v", k, trial, n8, nt, i, o, g, e)
				}
				if e, r := want[i*tileOut+o], dotReference(x[off[i]:off[i]+n8], w[o*ws:]); math.Float64bits(e) != math.Float64bits(r) {
					t.Fatalf("trial %d: portable dot[%d][%d] = %v, documented order %v", trial, i, o, e, r)
				}
			}
		}
		var delta [tileRows * tileOut]float64
		for i := range delta {
			delta[i] = randomScaled(rnd)
		}
		g1 := append([]float64(nil), w...)
		g2 := append([]float64(nil), w...)
		axpyTileWith(k, g1, ws, x, &off, &pf, &delta, nt, n8)
		axpyTileGo(g2, ws, x, &off, &delta, nt, n8)
		g3 := append([]float64(nil), w...)
		for o := range nt {
			for i := range tileRows {
				for j := range n8 {
					g3[o*ws+j] = math.FMA(delta[i*tileOut+o], float64(x[off[i]+j]), g3[o*ws+j])
				}
			}
		}
		for i := range g1 {
			if math.Float64bits(g1[i]) != math.Float64bits(g2[i]) || math.Float64bits(g2[i]) != math.Float64bits(g3[i]) {
				t.Fatalf("%v trial %d (n8=%d nt=%d ws=%d): axpy[%d] = %v, portable %v, row by row %v", k, trial, n8, nt, ws, i, g1[i], g2[i], g3[i])
			}
		}
	}
}

// The tile kernels check their operands instead of reading out of bounds.
func TestTileKernelsPanicOutOfBounds(t *testing.T) {
	x := make([]float32, 16)
	w := make([]float64, 16)
	var out, delta [tileRows * tileOut]float64
	var pf [prefetchRows]int
	for name, f := range map[string]func(){
		"row past the end":      func() { dotTile(&out, x, &[tileRows]int{0, 0, 0, 9}, &pf, w, 8, 1, 8) },
		"weights too short":     func() { dotTile(&out, x, &[tileRows]int{}, &pf, w, 8, tileOut, 8) },
		"n8 not a multiple":     func() { dotTile(&out, x, &[tileRows]int{}, &pf, w, 8, 1, 7) },
		"gradient too short":    func() { axpyTile(w[:7], 8, x, &[tileRows]int{}, &pf, &delta, 1, 8) },
		"dot prefetch past end": func() { dotTile(&out, x, &[tileRows]int{}, &[prefetchRows]int{0, 9}, w, 8, 1, 8) },
		"axpy prefetch negative": func() {
			axpyTile(w, 8, x, &[tileRows]int{}, &[prefetchRows]int{-1, 0}, &delta, 1, 8)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
