//go:build !noasm

package model

import "golang.org/x/sys/cpu"

// On amd64 the mixed-precision kernels run in assembly: SSE2 (part of the
// amd64 baseline) for the one-row dot product and axpy, and AVX-512 for the
// tile kernels when the CPU and the operating system support AVX-512F and
// AVX-512VL. Every version reproduces the portable Go order operation for
// operation (products rounded before the add, the same partial sums, the
// same final reduction), so the choice made at start-up never changes a
// bit: workers on machines with and without AVX-512 compute the same
// parameters.

// useAVX512 reports whether the tile kernels run in AVX-512.
var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// kernelName names the tile kernels in use, for benchmarks and logs.
func kernelName() string {
	if useAVX512 {
		return "avx512"
	}
	return "go"
}

// dotF32 returns Σ float64(x[i])·w[i] in the lane order; len(w) ≥ len(x).
func dotF32(x []float32, w []float64) float64 {
	return dotF32SSE2(x, w[:len(x)])
}

// axpyF32 adds a·float64(x[i]) to dst[i]; len(dst) ≥ len(x).
func axpyF32(dst []float64, a float64, x []float32) {
	axpyF32SSE2(dst[:len(x)], a, x)
}

// dotTile is dotTileGo, in AVX-512 for nt ∈ {1, tileOut} when available.
// It panics if an operand is out of bounds.
func dotTile(out *[tileRows * tileOut]float64, x []float32, off *[tileRows]int, w []float64, ws, nt, n8 int) {
	checkTile(x, off, w, ws, nt, n8)
	switch {
	case n8 == 0:
		clear(out[:])
	case useAVX512 && nt == tileOut:
		dot4x4AVX512(out, &x[0], off, &w[0], ws, n8)
	case useAVX512 && nt == 1:
		dot4x1AVX512(out, &x[0], off, &w[0], n8)
	default:
		dotTileGo(out, x, off, w, ws, nt, n8)
	}
}

// axpyTile is axpyTileGo, in AVX-512 for nt ∈ {1, tileOut} when available.
// It panics if an operand is out of bounds.
func axpyTile(g []float64, gs int, x []float32, off *[tileRows]int, delta *[tileRows * tileOut]float64, nt, n8 int) {
	checkTile(x, off, g, gs, nt, n8)
	switch {
	case n8 == 0:
	case useAVX512 && nt == tileOut:
		axpy4x4AVX512(&g[0], gs, &x[0], off, delta, n8)
	case useAVX512 && nt == 1:
		axpy4x1AVX512(&g[0], &x[0], off, delta, n8)
	default:
		axpyTileGo(g, gs, x, off, delta, nt, n8)
	}
}

// dotF32SSE2 requires len(w) ≥ len(x).
//
//go:noescape
func dotF32SSE2(x []float32, w []float64) float64

// axpyF32SSE2 requires len(dst) ≥ len(x).
//
//go:noescape
func axpyF32SSE2(dst []float64, a float64, x []float32)

// dot4x4AVX512 is dotTileGo with nt = 4 on checked operands, n8 > 0.
//
//go:noescape
func dot4x4AVX512(out *[tileRows * tileOut]float64, x *float32, off *[tileRows]int, w *float64, ws, n8 int)

// dot4x1AVX512 is dotTileGo with nt = 1 on checked operands, n8 > 0.
//
//go:noescape
func dot4x1AVX512(out *[tileRows * tileOut]float64, x *float32, off *[tileRows]int, w *float64, n8 int)

// axpy4x4AVX512 is axpyTileGo with nt = 4 on checked operands, n8 > 0.
//
//go:noescape
func axpy4x4AVX512(grad *float64, gs int, x *float32, off *[tileRows]int, delta *[tileRows * tileOut]float64, n8 int)

// axpy4x1AVX512 is axpyTileGo with nt = 1 on checked operands, n8 > 0.
//
//go:noescape
func axpy4x1AVX512(grad *float64, x *float32, off *[tileRows]int, delta *[tileRows * tileOut]float64, n8 int)
