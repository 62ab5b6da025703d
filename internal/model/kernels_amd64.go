//go:build !noasm

package model

// On amd64 the mixed-precision kernels run in SSE2 assembly (part of the
// amd64 baseline, so no CPU feature dispatch is needed and every amd64
// machine computes the same bits). They reproduce dotF32Go and axpyF32Go
// operation for operation: two lanes per register, four registers, the
// same final reduction; products rounded before the add.

// dotF32 returns Σ float64(x[i])·w[i] in dotF32Go's order; len(w) ≥ len(x).
func dotF32(x []float32, w []float64) float64 {
	return dotF32SSE2(x, w[:len(x)])
}

// axpyF32 adds a·float64(x[i]) to dst[i]; len(dst) ≥ len(x).
func axpyF32(dst []float64, a float64, x []float32) {
	axpyF32SSE2(dst[:len(x)], a, x)
}

// dotF32SSE2 requires len(w) ≥ len(x).
//
//go:noescape
func dotF32SSE2(x []float32, w []float64) float64

// axpyF32SSE2 requires len(dst) ≥ len(x).
//
//go:noescape
func axpyF32SSE2(dst []float64, a float64, x []float32)
