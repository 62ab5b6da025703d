package model

import "gonum.org/v1/gonum/floats"

// The kernels below mix float32 features with float64 parameters. Each has
// one defined order of floating-point operations, which the assembly
// versions reproduce bit for bit, so a result never depends on which
// implementation ran. Products are rounded before they are added (no fused
// multiply-add): the explicit float64(·) conversions stop the compiler from
// fusing on architectures that could.

// dotLanes is the number of partial sums of dotF32.
const dotLanes = 8

// dotF32Go returns Σ_i float64(x[i])·w[i] over i < len(x); len(w) ≥ len(x).
// The order is fixed: with n8 = len(x) rounded down to a multiple of 8,
// partial sum s_l (l = 0..7) adds the products of i ≡ l (mod 8), i < n8, in
// increasing i; then
//
//	dot = (((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7))) + x[n8]·w[n8] + … (left to right)
func dotF32Go(x []float32, w []float64) float64 {
	w = w[:len(x)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float64
	n8 := len(x) &^ (dotLanes - 1)
	for i := 0; i < n8; i += dotLanes {
		xx, ww := x[i:i+dotLanes:i+dotLanes], w[i:i+dotLanes:i+dotLanes]
		s0 += float64(float64(xx[0]) * ww[0])
		s1 += float64(float64(xx[1]) * ww[1])
		s2 += float64(float64(xx[2]) * ww[2])
		s3 += float64(float64(xx[3]) * ww[3])
		s4 += float64(float64(xx[4]) * ww[4])
		s5 += float64(float64(xx[5]) * ww[5])
		s6 += float64(float64(xx[6]) * ww[6])
		s7 += float64(float64(xx[7]) * ww[7])
	}
	s := ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))
	for i := n8; i < len(x); i++ {
		s += float64(float64(x[i]) * w[i])
	}
	return s
}

// axpyF32Go adds a·float64(x[i]) to dst[i] for i < len(x); len(dst) ≥ len(x).
func axpyF32Go(dst []float64, a float64, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] += float64(a * float64(v))
	}
}

// dotSparse returns Σ_k float64(val[k])·w[idx[k]] in increasing k.
func dotSparse(idx []int32, val []float32, w []float64) float64 {
	val = val[:len(idx)]
	s := 0.0
	for k, j := range idx {
		s += float64(float64(val[k]) * w[j])
	}
	return s
}

// axpySparse adds a·float64(val[k]) to dst[idx[k]] for every k.
func axpySparse(dst []float64, a float64, idx []int32, val []float32) {
	val = val[:len(idx)]
	for k, j := range idx {
		dst[j] += float64(a * float64(val[k]))
	}
}

// axpyShort is the length from which axpy calls gonum's assembly.
const axpyShort = 16

// axpy adds a·x[i] to dst[i], len(dst) = len(x). Element-wise without
// fusion, every implementation gives the same bits; gonum's assembly is
// faster for long vectors, a plain loop for short ones.
func axpy(dst []float64, a float64, x []float64) {
	if len(x) >= axpyShort {
		floats.AddScaled(dst, a, x)
		return
	}
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] += float64(a * v)
	}
}

// dot returns x·y with gonum's kernel (a fixed order on one GOARCH).
func dot(x, y []float64) float64 { return floats.Dot(x, y) }
