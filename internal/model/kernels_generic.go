//go:build !amd64 || noasm

package model

// availableKernels lists the implementations this build can run.
func availableKernels() []tileKernel { return []tileKernel{kernelGo} }

// kernelName names the tile kernels in use, for benchmarks and logs.
func kernelName() string { return kernelGo.String() }

func dotF32(x []float32, w []float64) float64 { return dotF32Go(x, w) }

func axpyF32(dst []float64, a float64, x []float32) { axpyF32Go(dst, a, x) }

// dotTile is dotTileGo after a bounds check.
func dotTile(out *[tileRows * tileOut]float64, x []float32, off *[tileRows]int, pf *[prefetchRows]int, w []float64, ws, nt, n8 int) {
	dotTileWith(kernelGo, out, x, off, pf, w, ws, nt, n8)
}

// axpyTile is axpyTileGo after a bounds check.
func axpyTile(g []float64, gs int, x []float32, off *[tileRows]int, pf *[prefetchRows]int, delta *[tileRows * tileOut]float64, nt, n8 int) {
	axpyTileWith(kernelGo, g, gs, x, off, pf, delta, nt, n8)
}

// dotTileWith is dotTileGo after a bounds check: k is always kernelGo.
func dotTileWith(_ tileKernel, out *[tileRows * tileOut]float64, x []float32, off *[tileRows]int, pf *[prefetchRows]int, w []float64, ws, nt, n8 int) {
	checkTile(x, off, w, ws, nt, n8)
	checkPrefetch(x, pf, n8)
	dotTileGo(out, x, off, w, ws, nt, n8)
}

// axpyTileWith is axpyTileGo after a bounds check: k is always kernelGo.
func axpyTileWith(_ tileKernel, g []float64, gs int, x []float32, off *[tileRows]int, pf *[prefetchRows]int, delta *[tileRows * tileOut]float64, nt, n8 int) {
	checkTile(x, off, g, gs, nt, n8)
	checkPrefetch(x, pf, n8)
	axpyTileGo(g, gs, x, off, delta, nt, n8)
}
