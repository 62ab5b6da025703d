//go:build !noasm

package model

import "golang.org/x/sys/cpu"

// On amd64 the mixed-precision kernels run in assembly where the CPU has
// fused multiply-adds: AVX2 + FMA for the one-row dot product and axpy, and
// AVX-512 or AVX2 + FMA for the tile kernels, whichever is the widest the
// CPU and the operating system support. Every version reproduces the
// portable Go order operation for operation (the same fused multiply-adds,
// partial sums and final reduction), so the choice made at start-up never
// changes a bit: workers on machines with and without AVX-512 or AVX2
// compute the same parameters. On a CPU without FMA the portable kernels
// run, math.FMA giving the same bits in software.

// hasFMA reports whether the one-row assembly kernels can run.
var hasFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// availableKernels lists the implementations this CPU can run, the
// portable one first.
func availableKernels() []tileKernel {
	ks := []tileKernel{kernelGo}
	if !hasFMA {
		return ks
	}
	ks = append(ks, kernelAVX2)
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		ks = append(ks, kernelAVX512)
	}
	return ks
}

// tileKernelInUse is the widest implementation available.
var tileKernelInUse = availableKernels()[len(availableKernels())-1]

// kernelName names the tile kernels in use, for benchmarks and logs.
func kernelName() string { return tileKernelInUse.String() }

// dotF32 returns Σ float64(x[i])·w[i] in the lane order; len(w) ≥ len(x).
func dotF32(x []float32, w []float64) float64 {
	if !hasFMA {
		return dotF32Go(x, w)
	}
	return dotF32FMA(x, w[:len(x)])
}

// axpyF32 sets dst[i] = fma(a, float64(x[i]), dst[i]); len(dst) ≥ len(x).
func axpyF32(dst []float64, a float64, x []float32) {
	if !hasFMA {
		axpyF32Go(dst, a, x)
		return
	}
	axpyF32FMA(dst[:len(x)], a, x)
}

// dotTile is dotTileGo, in the widest assembly available. It panics if an
// operand is out of bounds.
func dotTile(out *[tileRows * tileOut]float64, x []float32, off *[tileRows]int, pf *[prefetchRows]int, w []float64, ws, nt, n8 int) {
	dotTileWith(tileKernelInUse, out, x, off, pf, w, ws, nt, n8)
}

// axpyTile is axpyTileGo, in the widest assembly available. It panics if
// an operand is out of bounds.
func axpyTile(g []float64, gs int, x []float32, off *[tileRows]int, pf *[prefetchRows]int, delta *[tileRows * tileOut]float64, nt, n8 int) {
	axpyTileWith(tileKernelInUse, g, gs, x, off, pf, delta, nt, n8)
}

// dotTileWith is dotTile in the implementation k.
func dotTileWith(k tileKernel, out *[tileRows * tileOut]float64, x []float32, off *[tileRows]int, pf *[prefetchRows]int, w []float64, ws, nt, n8 int) {
	checkTile(x, off, w, ws, nt, n8)
	checkPrefetch(x, pf, n8)
	switch {
	case n8 == 0:
		clear(out[:])
	case k == kernelAVX512 && nt == tileOut:
		dot4x4AVX512(out, &x[0], off, &w[0], ws, n8, pf)
	case k == kernelAVX512:
		// Outputs in pairs, then an odd last one alone.
		t := 0
		for ; t+2 <= nt; t += 2 {
			dot4x2AVX512(&out[t], &x[0], off, &w[t*ws], ws, n8, pf)
		}
		if t < nt {
			dot4x1AVX512(&out[t], &x[0], off, &w[t*ws], n8, pf)
		}
	case k >= kernelAVX2 && nt == 1:
		dot4x1AVX2(out, &x[0], off, &w[0], n8, pf)
	case k >= kernelAVX2:
		// Outputs in pairs; an odd last one pairs with itself.
		var r [4]float64
		for i := 0; i < tileRows; i += 2 {
			for t := 0; t < nt; t += 2 {
				u := min(t+1, nt-1)
				dot2x2AVX2(&r, &x[off[i]], &x[off[i+1]], &w[t*ws], &w[u*ws], n8)
				out[i*tileOut+t], out[(i+1)*tileOut+t] = r[0], r[2]
				if u > t {
					out[i*tileOut+u], out[(i+1)*tileOut+u] = r[1], r[3]
				}
			}
		}
	default:
		dotTileGo(out, x, off, w, ws, nt, n8)
	}
}

// axpyTileWith is axpyTile in the implementation k.
func axpyTileWith(k tileKernel, g []float64, gs int, x []float32, off *[tileRows]int, pf *[prefetchRows]int, delta *[tileRows * tileOut]float64, nt, n8 int) {
	checkTile(x, off, g, gs, nt, n8)
	checkPrefetch(x, pf, n8)
	switch {
	case n8 == 0:
	case k == kernelAVX512 && nt == tileOut:
		axpy4x4AVX512(&g[0], gs, &x[0], off, delta, n8, pf)
	case k == kernelAVX512:
		t := 0
		for ; t+2 <= nt; t += 2 {
			axpy4x2AVX512(&g[t*gs], gs, &x[0], off, &delta[t], n8, pf)
		}
		if t < nt {
			axpy4x1AVX512(&g[t*gs], &x[0], off, &delta[t], n8, pf)
		}
	case k >= kernelAVX2:
		for t := range nt {
			axpy4x1AVX2(&g[t*gs], &x[0], off, &delta[t], n8, pf)
		}
	default:
		axpyTileGo(g, gs, x, off, delta, nt, n8)
	}
}

// dotF32FMA requires len(w) ≥ len(x) and AVX2 + FMA.
//
//go:noescape
func dotF32FMA(x []float32, w []float64) float64

// axpyF32FMA requires len(dst) ≥ len(x) and AVX2 + FMA.
//
//go:noescape
func axpyF32FMA(dst []float64, a float64, x []float32)

// dot4x4AVX512 is dotTileGo with nt = 4 on checked operands, n8 > 0; it
// prefetches the first n8 features of the rows at pf.
//
//go:noescape
func dot4x4AVX512(out *[tileRows * tileOut]float64, x *float32, off *[tileRows]int, w *float64, ws, n8 int, pf *[prefetchRows]int)

// dot4x2AVX512 is dotTileGo with nt = 2 on checked operands, n8 > 0, for
// the outputs at w and w[ws:], written to out[i·tileOut] and
// out[i·tileOut+1]; it prefetches the first n8 features of the rows at pf.
//
//go:noescape
func dot4x2AVX512(out *float64, x *float32, off *[tileRows]int, w *float64, ws, n8 int, pf *[prefetchRows]int)

// dot4x1AVX512 is dotTileGo with nt = 1 on checked operands, n8 > 0,
// written to out[i·tileOut]; it prefetches the first n8 features of the
// rows at pf.
//
//go:noescape
func dot4x1AVX512(out *float64, x *float32, off *[tileRows]int, w *float64, n8 int, pf *[prefetchRows]int)

// axpy4x4AVX512 is axpyTileGo with nt = 4 on checked operands, n8 > 0; it
// prefetches the first n8 features of the rows at pf.
//
//go:noescape
func axpy4x4AVX512(grad *float64, gs int, x *float32, off *[tileRows]int, delta *[tileRows * tileOut]float64, n8 int, pf *[prefetchRows]int)

// axpy4x2AVX512 is axpyTileGo with nt = 2 on checked operands, n8 > 0,
// for the gradient rows at grad and grad[gs:] with δ_it = delta[i·tileOut+t];
// it prefetches the first n8 features of the rows at pf.
//
//go:noescape
func axpy4x2AVX512(grad *float64, gs int, x *float32, off *[tileRows]int, delta *float64, n8 int, pf *[prefetchRows]int)

// axpy4x1AVX512 is axpyTileGo with nt = 1 on checked operands, n8 > 0,
// with δ_i = delta[i·tileOut]; it prefetches the first n8 features of the
// rows at pf.
//
//go:noescape
func axpy4x1AVX512(grad *float64, x *float32, off *[tileRows]int, delta *float64, n8 int, pf *[prefetchRows]int)

// dot4x1AVX2 is dotTileGo with nt = 1 on checked operands, n8 > 0; it
// prefetches the first n8 features of the rows at pf.
//
//go:noescape
func dot4x1AVX2(out *[tileRows * tileOut]float64, x *float32, off *[tileRows]int, w *float64, n8 int, pf *[prefetchRows]int)

// dot2x2AVX2 writes (x0·w0, x0·w1, x1·w0, x1·w1) over the first n8 > 0
// features, each in the lane order without the tail, into out.
//
//go:noescape
func dot2x2AVX2(out *[4]float64, x0, x1 *float32, w0, w1 *float64, n8 int)

// axpy4x1AVX2 adds δ_i·x_i[j] to grad[j] for j < n8 and the tile's rows i
// in order, with δ_i = delta[i·tileOut]: one output of axpyTileGo. It
// prefetches the first n8 features of the rows at pf.
//
//go:noescape
func axpy4x1AVX2(grad *float64, x *float32, off *[tileRows]int, delta *float64, n8 int, pf *[prefetchRows]int)
