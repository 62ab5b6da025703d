package model

import (
	"math"

	"gonum.org/v1/gonum/floats"
)

// The kernels below mix float32 features with float64 parameters. Each has
// one defined order of floating-point operations, which every
// implementation (the portable Go here, the AVX2 and AVX-512 assembly on
// amd64) reproduces bit for bit, so a result never depends on which
// implementation ran or on the machine a worker runs on. Each product is
// added with a single rounding, a fused multiply-add: math.FMA in Go,
// VFMADD231PD/SD in assembly, both exact IEEE 754 fusedMultiplyAdd. (Fused,
// the multiply and the add are one instruction: the tile kernels run
// 1.3–1.5× faster on a Zen 4 core than unfused; docs/performance.md.)
//
// # Lane order of a dot product
//
// A dense dot product Σ_j x_j·w_j over n features sums in dotLanes = 8
// partial sums: with n8 = n rounded down to a multiple of 8, partial sum s_l
// (l = 0..7) is, for the features j ≡ l (mod 8), j < n8, in increasing j,
// s_l ← fma(x_j, w_j, s_l); then
//
//	dot = (((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7))), then dot ← fma(x_j, w_j, dot) for j = n8, …
//
// which is one 512-bit register of partial sums, or two of 256, or four of
// 128 bits. A CSR row follows the same order: its nonzero features go to
// the partial sum of their column, so that dense and CSR storage of the
// same row give the same bits (a zero feature only ever adds ±0 to a sum
// that starts at +0, which changes no bits while the parameters are
// finite).
//
// # Order of a gradient update
//
// ∂W_j ← fma(x_j, δ, ∂W_j) is element-wise: each element of ∂W receives the
// products of the rows in row order, whatever the blocking.

// dotLanes is the number of partial sums of a dense dot product.
const dotLanes = 8

// tileRows is the number of rows a tile kernel processes at once and
// tileOut the number of outputs of the wide tile kernels.
const (
	tileRows = 4
	tileOut  = 4
)

// prefetchRows is the number of rows, of a later tile, that a tile kernel
// prefetches while it works: each of a block's dot and axpy tile calls
// fetches two of the next block's rows, spreading the block's memory reads
// over all of the block's compute.
const prefetchRows = 2

// blockTiles is the number of tiles of a block, the rows whose per-row
// work (targets, losses, δ) a dense pass does together; blockRows is the
// number of rows in it.
const (
	blockTiles = 4
	blockRows  = blockTiles * tileRows
)

// tileKernel names an implementation of the tile kernels.
type tileKernel int

const (
	kernelGo tileKernel = iota
	kernelAVX2
	kernelAVX512
)

func (k tileKernel) String() string {
	return [...]string{"go", "avx2", "avx512"}[k]
}

// dotF32Go returns Σ_i float64(x[i])·w[i] over i < len(x) in the lane
// order, fused; len(w) ≥ len(x).
func dotF32Go(x []float32, w []float64) float64 {
	w = w[:len(x)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float64
	n8 := len(x) &^ (dotLanes - 1)
	for i := 0; i < n8; i += dotLanes {
		xx, ww := x[i:i+dotLanes:i+dotLanes], w[i:i+dotLanes:i+dotLanes]
		s0 = math.FMA(float64(xx[0]), ww[0], s0)
		s1 = math.FMA(float64(xx[1]), ww[1], s1)
		s2 = math.FMA(float64(xx[2]), ww[2], s2)
		s3 = math.FMA(float64(xx[3]), ww[3], s3)
		s4 = math.FMA(float64(xx[4]), ww[4], s4)
		s5 = math.FMA(float64(xx[5]), ww[5], s5)
		s6 = math.FMA(float64(xx[6]), ww[6], s6)
		s7 = math.FMA(float64(xx[7]), ww[7], s7)
	}
	s := ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))
	for i := n8; i < len(x); i++ {
		s = math.FMA(float64(x[i]), w[i], s)
	}
	return s
}

// dotF32StridedGo returns Σ_j float64(x[j])·w[j·stride] over j < len(x) in
// the lane order: the dot product of x with a column of a row-major
// matrix. len(w) > (len(x)−1)·stride.
func dotF32StridedGo(x []float32, w []float64, stride int) float64 {
	var s [dotLanes]float64
	n8 := len(x) &^ (dotLanes - 1)
	for j := range n8 {
		s[j&(dotLanes-1)] = math.FMA(float64(x[j]), w[j*stride], s[j&(dotLanes-1)])
	}
	r := reduceLanes(&s)
	for j := n8; j < len(x); j++ {
		r = math.FMA(float64(x[j]), w[j*stride], r)
	}
	return r
}

// reduceLanes returns ((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7)).
func reduceLanes(s *[dotLanes]float64) float64 {
	return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
}

// axpyF32Go sets dst[i] = fma(a, float64(x[i]), dst[i]) for i < len(x);
// len(dst) ≥ len(x).
func axpyF32Go(dst []float64, a float64, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = math.FMA(a, float64(v), dst[i])
	}
}

// dotSparse returns Σ_k float64(val[k])·w[idx[k]] in the lane order of a
// dense row of cols features (idx ascending, all < cols).
func dotSparse(idx []int32, val []float32, w []float64, cols int) float64 {
	val = val[:len(idx)]
	n8 := int32(cols &^ (dotLanes - 1))
	var s [dotLanes]float64
	k := 0
	for ; k < len(idx) && idx[k] < n8; k++ {
		j := idx[k]
		s[j&(dotLanes-1)] = math.FMA(float64(val[k]), w[j], s[j&(dotLanes-1)])
	}
	r := reduceLanes(&s)
	for ; k < len(idx); k++ {
		r = math.FMA(float64(val[k]), w[idx[k]], r)
	}
	return r
}

// axpySparse sets dst[idx[k]] = fma(a, float64(val[k]), dst[idx[k]]) for
// every k.
func axpySparse(dst []float64, a float64, idx []int32, val []float32) {
	val = val[:len(idx)]
	for k, j := range idx {
		dst[j] = math.FMA(a, float64(val[k]), dst[j])
	}
}

// axpyFused sets dst[i] = fma(a, x[i], dst[i]), len(dst) = len(x): the
// update of a CSR row's gradient elements for several outputs, fused as the
// dense tile kernels' are.
func axpyFused(dst []float64, a float64, x []float64) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = math.FMA(a, v, dst[i])
	}
}

// dotTileGo writes into out[i·tileOut+t], for rows i < tileRows and
// outputs t < nt, the lane-order dot product over the first n8 features
// (a multiple of 8) of the row at x[off[i]:] with the weights at
// w[t·ws:]: the reduced partial sums, before any tail feature.
func dotTileGo(out *[tileRows * tileOut]float64, x []float32, off *[tileRows]int, w []float64, ws, nt, n8 int) {
	for i, o := range off {
		xi := x[o : o+n8]
		for t := range nt {
			out[i*tileOut+t] = dotF32Go(xi, w[t*ws:t*ws+n8])
		}
	}
}

// axpyTileGo adds, for outputs t < nt and rows i < tileRows in that order,
// δ[i·tileOut+t]·x[off[i]+j] to g[t·gs+j] for j < n8.
func axpyTileGo(g []float64, gs int, x []float32, off *[tileRows]int, delta *[tileRows * tileOut]float64, nt, n8 int) {
	for t := range nt {
		gt := g[t*gs : t*gs+n8]
		for i, o := range off {
			axpyF32Go(gt, delta[i*tileOut+t], x[o:o+n8])
		}
	}
}

// checkPrefetch panics unless the rows a tile kernel prefetches are in
// bounds.
func checkPrefetch(x []float32, pf *[prefetchRows]int, n8 int) {
	for _, o := range pf {
		if o < 0 || o+n8 > len(x) {
			panic("model: tile kernel prefetch row out of bounds")
		}
	}
}

// checkTile panics unless a tile kernel's operands are in bounds.
func checkTile(x []float32, off *[tileRows]int, w []float64, ws, nt, n8 int) {
	if n8 < 0 || n8%dotLanes != 0 || nt < 1 || nt > tileOut || (nt > 1 && ws < n8) || len(w) < (nt-1)*ws+n8 {
		panic("model: tile kernel operands out of bounds")
	}
	for _, o := range off {
		if o < 0 || o+n8 > len(x) {
			panic("model: tile kernel row out of bounds")
		}
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
