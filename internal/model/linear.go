package model

import (
	"bytes"
	"fmt"
	"math"
	"unsafe"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// Linear is the linear model z = Wᵀx + b, θ = [W (Inputs × Outputs,
// row-major) | b (Outputs)]. Its initial parameters are all zero (the loss
// is convex, so no symmetry needs breaking). It is not safe for concurrent
// use: it keeps scratch buffers (see Clone).
//
// A pass reads each row once. Dense rows go through in tiles of tileRows
// rows: the logits of the tile's rows (z_k = b_k + x·W_{·k}, each dot
// product in the package's lane order), then dL/dz from the loss row by
// row, then the update ∂W += x ⊗ δ of the tile while its rows are in cache.
// With several outputs the tiles read W and write ∂W output-major, from
// copies transposed once per pass; the bits are those of a row-by-row pass
// in the same order. CSR rows follow the same order of operations feature
// by feature, so dense and CSR storage of the same data give the same bits.
type Linear struct {
	cfg  Config
	sp   []span
	z, t []float64 // logits and target of the current row
	g    []float64 // dL/dz, then δ = w·dL/dz

	// Scratch of the dense tiled pass (grown on first use).
	zb     []float64 // logits of a block's rows, blockRows × Outputs
	db     []float64 // δ of a block's rows, blockRows × kp
	tb, dz []float64 // targets and dL/dz of a block's rows, blockRows × Outputs (loss.Rows)
	lb     []float64 // losses of a block's rows (loss.Rows)
	yb     []float32 // target columns of a block's rows, gathered (loss.Rows)
	wt, gt []float64 // W and ∂W output-major, kp × cols (Outputs > 1)
	wc     []float64 // the W (row-major, cols × Outputs) that wt holds
	// lanes holds the dotLanes partial sums of each output for a CSR row.
	lanes []float64
}

var (
	_ Model     = (*Linear)(nil)
	_ GradOrder = (*Linear)(nil)
)

func newLinear(c Config) *Linear {
	return &Linear{
		cfg:   c,
		sp:    c.spans(),
		z:     make([]float64, c.Outputs),
		t:     make([]float64, c.Outputs),
		g:     make([]float64, c.Outputs),
		zb:    make([]float64, blockRows*c.Outputs),
		db:    make([]float64, blockRows*paddedOutputs(c.Outputs)),
		tb:    make([]float64, blockRows*c.Outputs),
		dz:    make([]float64, blockRows*c.Outputs),
		lb:    make([]float64, blockRows),
		lanes: make([]float64, dotLanes*c.Outputs),
	}
}

// paddedOutputs returns the number of output rows of the transposed
// copies: k rounded up to a multiple of tileOut, or 1 for one output.
func paddedOutputs(k int) int {
	if k == 1 {
		return 1
	}
	return (k + tileOut - 1) / tileOut * tileOut
}

// NumParams returns (Inputs + 1)·Outputs.
func (m *Linear) NumParams() int { return m.cfg.NumParams() }

// Logits returns Outputs.
func (m *Linear) Logits() int { return m.cfg.Outputs }

// Clone returns a Linear model of the same configuration with its own
// scratch buffers.
func (m *Linear) Clone() Model { return newLinear(m.cfg) }

// Init sets θ to zero, whatever the seed. It panics if len(theta) !=
// NumParams().
func (m *Linear) Init(theta []float64, _ uint64) {
	if len(theta) != m.NumParams() {
		panic(fmt.Sprintf("model: θ has %d parameters, model has %d", len(theta), m.NumParams()))
	}
	clear(theta)
}

// Penalty returns ½‖W‖² and, if grad is non-nil, adds λ·W to its W part.
// The bias is not penalised. It panics on a length mismatch.
func (m *Linear) Penalty(grad, theta []float64, lambda float64) float64 {
	checkPass(m.cfg, grad, theta, shard.Rows{}, nil)
	return penalty(m.sp, grad, theta, lambda)
}

// Predict writes the logits of the i-th row of rows into z: the bits a
// pass over the row computes. It panics on a shape mismatch.
func (m *Linear) Predict(z, theta []float64, rows shard.Rows, i int) {
	checkPass(m.cfg, nil, theta, rows, nil)
	if len(z) != m.cfg.Outputs {
		panic(fmt.Sprintf("model: %d logits requested, model has %d", len(z), m.cfg.Outputs))
	}
	x, r := &rows.D.X, rows.Row(i)
	sp := m.sp[0]
	W, b := sp.w(theta), sp.b(theta)
	if x.Sparse() {
		idx, val := sparseRow(x, r)
		m.forwardSparse(z, W, b, idx, val, x.Cols)
		return
	}
	xr := denseRow(x, r)
	if sp.out == 1 {
		z[0] = b[0] + dotF32(xr, W)
		return
	}
	for k := range z {
		z[k] = b[k] + dotF32StridedGo(xr, W[k:], sp.out)
	}
}

// Accumulate implements Model. It panics on a shape mismatch (see
// checkPass).
func (m *Linear) Accumulate(grad, theta []float64, rows shard.Rows, f loss.Func, obs Observer) (lossSum, weightSum float64) {
	checkPass(m.cfg, grad, theta, rows, f)
	if rows.Len() == 0 {
		return 0, 0
	}
	if rows.D.X.Sparse() {
		return m.accumulateSparse(grad, theta, rows, f, obs)
	}
	return m.accumulateDense(grad, theta, rows, f, obs, false)
}

// Permutes implements GradOrder: for dense rows and several outputs the
// model's order holds ∂W output-major, ∂W_{jk} at k·Inputs + j (the order
// in which the tiles update it), then ∂b.
func (m *Linear) Permutes(d *shard.Dataset) bool {
	return m.cfg.Outputs > 1 && !d.X.Sparse()
}

// AccumulatePermuted implements GradOrder.
func (m *Linear) AccumulatePermuted(grad, theta []float64, rows shard.Rows, f loss.Func, obs Observer) (lossSum, weightSum float64) {
	checkPass(m.cfg, grad, theta, rows, f)
	if rows.Len() == 0 {
		return 0, 0
	}
	if !m.Permutes(rows.D) {
		return m.Accumulate(grad, theta, rows, f, obs)
	}
	return m.accumulateDense(grad, theta, rows, f, obs, true)
}

// Unpermute implements GradOrder.
func (m *Linear) Unpermute(g, scratch []float64) {
	n, K, in := m.NumParams(), m.cfg.Outputs, m.cfg.Inputs
	if len(g) != n || len(scratch) != n {
		panic(fmt.Sprintf("model: Unpermute of %d values with %d of scratch, model has %d", len(g), len(scratch), n))
	}
	if K == 1 {
		return
	}
	gW := g[:in*K]
	copy(scratch, gW)
	transposeOut(gW, scratch, in, K)
}

// evalRow evaluates row r's loss at logits z, hands the row to obs and,
// unless delta is nil, writes δ = w·dL/dz into it (zero when w = 0). It
// returns the row's loss and weight.
func (m *Linear) evalRow(delta, z []float64, d *shard.Dataset, r int, f loss.Func, obs Observer, ro RowObserver) (l, w float64) {
	y, w := targets(d, r), weight(d, r)
	f.Target(m.t, y)
	l = f.Eval(delta, z, m.t)
	observe(obs, ro, z, m.t, y, w)
	scaleDelta(delta, w)
	return l, w
}

// scaleDelta turns dL/dz into δ = w·dL/dz: zero when w = 0 (the row
// contributes nothing, not even a NaN from 0·∞), unchanged when w = 1.
func scaleDelta(delta []float64, w float64) {
	switch {
	case w == 0:
		clear(delta)
	case w != 1:
		for k := range delta {
			delta[k] *= w
		}
	}
}

// accumulateDense is Accumulate over dense rows, in blocks of blockRows
// rows, each processed a tile of tileRows rows at a time: the logits of the
// block's rows, then their losses and δ, then ∂W += x ⊗ δ while the rows
// are in cache (16 rows of 256 float32 features fill half of a 32 KB L1).
// Blocks only batch the per-row work; the tiles, and so the bits, are those
// of a tile-by-tile pass.
//
// With permuted set (and several outputs) ∂W goes into grad output-major,
// row k of Inputs values for output k, as GradOrder describes.
func (m *Linear) accumulateDense(grad, theta []float64, rows shard.Rows, f loss.Func, obs Observer, permuted bool) (lossSum, weightSum float64) {
	d := rows.D
	x, cols := d.X.Dense, d.X.Cols
	n8 := cols &^ (dotLanes - 1)
	sp := m.sp[0]
	K := sp.out
	W, b := sp.w(theta), sp.b(theta)
	var gW, gb []float64
	if grad != nil {
		gW, gb = sp.w(grad), sp.b(grad)
	}
	// The tiles read W and update ∂W output-major, ws and gs apart: with
	// one output W and ∂W themselves, otherwise transposed copies, or for
	// ∂W in the permuted order grad itself.
	wt, gt, ws, gs, nt, kp := W, gW, cols, cols, 1, 1
	permuted = permuted && K > 1 && grad != nil
	switch {
	case permuted:
		nt, kp = tileOut, paddedOutputs(K)
		wt, _ = m.transposeIn(W, nil, cols, kp)
		gt, gs = gW, m.cfg.Inputs
	case K > 1:
		nt, kp = tileOut, paddedOutputs(K)
		wt, gt = m.transposeIn(W, gW, cols, kp)
	}
	ro, _ := obs.(RowObserver)
	// Without an observer, losses that evaluate many rows at once take a
	// block's rows in one call.
	fr, _ := f.(loss.Rows)
	if obs != nil {
		fr = nil
	}
	var (
		off, next [blockTiles][tileRows]int
		pf        [2 * blockTiles][prefetchRows]int
		r         [blockRows]int
		out, dt   [tileRows * tileOut]float64
	)
	n := rows.Len()
	blockOffsets(&next, rows, 0, cols)
	for lo := 0; lo < n; lo += blockRows {
		nb := min(blockRows, n-lo)
		ntl := (nb + tileRows - 1) / tileRows
		off = next
		// The next block's rows are prefetched while this one is worked
		// on, two by each tile kernel call (those that can): the dot of
		// tile q fetches rows 0 and 1 of the next block's tile q, its axpy
		// rows 2 and 3.
		blockOffsets(&next, rows, min(lo+blockRows, n-1), cols)
		for c := range pf {
			q, i := c/2, 2*(c%2)
			pf[c] = [prefetchRows]int{next[q][i], next[q][i+1]}
		}
		for i := range nb {
			r[i] = rows.Row(lo + i)
		}
		zb, db := m.zb[:nb*K], m.db[:blockRows*kp]
		for q := range ntl {
			for k0 := 0; k0 < K; k0 += nt {
				// The padding outputs of the last group are left out.
				nv := min(nt, K-k0)
				dotTile(&out, x, &off[q], &pf[2*q], wt[k0*ws:], ws, nv, n8)
				for i := range min(tileRows, nb-q*tileRows) {
					for t := range nv {
						zb[(q*tileRows+i)*K+k0+t] = out[i*tileOut+t]
					}
				}
			}
		}
		if n8 == cols {
			// No tail: only the bias, added as below.
			for i := range nb {
				z := zb[i*K : (i+1)*K]
				for k, bk := range b[:K] {
					z[k] = bk + z[k]
				}
			}
		} else {
			for i := range nb {
				xr := x[r[i]*cols : (r[i]+1)*cols]
				z := zb[i*K : (i+1)*K]
				for k := range z {
					s, wk := z[k], wt[k*ws:]
					for j := n8; j < cols; j++ {
						s = math.FMA(float64(xr[j]), wk[j], s)
					}
					z[k] = b[k] + s
				}
			}
		}
		if fr != nil {
			lossSum, weightSum = m.lossRows(db, kp, zb, d, r[:nb], fr, lossSum, weightSum, grad != nil)
		} else {
			for i := range nb {
				var delta []float64
				if grad != nil {
					delta = db[i*kp : i*kp+K]
				}
				l, w := m.evalRow(delta, zb[i*K:(i+1)*K], d, r[i], f, obs, ro)
				if w == 0 {
					continue
				}
				lossSum += w * l
				weightSum += w
			}
		}
		if grad == nil {
			continue
		}
		for i := range nb {
			if weight(d, r[i]) == 0 {
				continue
			}
			for k, v := range db[i*kp : i*kp+K] {
				gb[k] += v
			}
		}
		// ∂W += x ⊗ δ, rows in order. The repeated rows of a short tile have
		// δ = 0: they add ±0, which changes no bits. The padding outputs of
		// the last group are left out.
		clear(db[nb*kp:])
		for q := range ntl {
			dq := db[q*tileRows*kp:]
			for k0 := 0; k0 < kp; k0 += nt {
				for i := range tileRows {
					for t := range nt {
						dt[i*tileOut+t] = dq[i*kp+k0+t]
					}
				}
				axpyTile(gt[k0*gs:], gs, x, &off[q], &pf[2*q+1], &dt, min(nt, K-k0), n8)
			}
		}
		if n8 == cols {
			continue
		}
		for i := range nb {
			xr := x[r[i]*cols : (r[i]+1)*cols]
			for k := range K {
				a, gk := db[i*kp+k], gt[k*gs:]
				for j := n8; j < cols; j++ {
					gk[j] = math.FMA(a, float64(xr[j]), gk[j])
				}
			}
		}
	}
	if K > 1 && grad != nil && !permuted {
		transposeOut(gW, gt, cols, K)
	}
	return lossSum, weightSum
}

// lossRows evaluates the rows r of a block at logits zb (len(r)·K) with a
// loss that takes many rows at once, writes δ = w·dL/dz of row i into
// db[i·kp:] when withGrad, and returns lossSum and weightSum with the rows
// added in order: the bits of evalRow row by row.
func (m *Linear) lossRows(db []float64, kp int, zb []float64, d *shard.Dataset, r []int, fr loss.Rows, lossSum, weightSum float64, withGrad bool) (float64, float64) {
	K, nb := fr.Logits(), len(r)
	tb, dz, lb := m.tb[:nb*K], m.dz[:nb*K], m.lb[:nb]
	// The block's target columns: a slice of d.Y when its rows are
	// consecutive (a full-batch pass), gathered otherwise.
	var y []float32
	if consecutive(r) {
		y = d.Y[r[0]*d.K : (r[0]+nb)*d.K]
	} else {
		if len(m.yb) < nb*d.K {
			m.yb = make([]float32, blockRows*d.K)
		}
		y = m.yb[:nb*d.K]
		for i, ri := range r {
			copy(y[i*d.K:(i+1)*d.K], targets(d, ri))
		}
	}
	fr.TargetRows(tb, y)
	if withGrad && kp == K {
		// δ in place: dL/dz of row i is where its δ goes.
		dz = db[:nb*K]
	}
	fr.EvalRows(lb, dz, zb, tb)
	if d.Weights == nil {
		// Every weight is 1: δ = dL/dz, and w·l = l.
		if withGrad && kp != K {
			for i := range nb {
				copy(db[i*kp:i*kp+K], dz[i*K:(i+1)*K])
			}
		}
		for _, l := range lb {
			lossSum += l
			weightSum++
		}
		return lossSum, weightSum
	}
	for i := range nb {
		w := d.Weights[r[i]]
		if withGrad {
			delta := db[i*kp : i*kp+K]
			copy(delta, dz[i*K:(i+1)*K])
			scaleDelta(delta, w)
		}
		if w == 0 {
			continue
		}
		lossSum += w * lb[i]
		weightSum += w
	}
	return lossSum, weightSum
}

// consecutive reports whether r holds consecutive row numbers.
func consecutive(r []int) bool {
	for i := 1; i < len(r); i++ {
		if r[i] != r[i-1]+1 {
			return false
		}
	}
	return true
}

// blockOffsets sets off to the offsets in x of the tiles of the block of
// rows starting at rows' row lo; rows past the end repeat the last row.
func blockOffsets(off *[blockTiles][tileRows]int, rows shard.Rows, lo, cols int) {
	n := rows.Len()
	for q := range off {
		for i := range off[q] {
			off[q][i] = rows.Row(min(lo+q*tileRows+i, n-1)) * cols
		}
	}
}

// transposeIn returns W and ∂W (when gW is non-nil) restricted to the
// first cols inputs, output-major: wt[k·cols+j] = W[j·K+k], with kp ≥ K
// output rows of which the padding ones are zero.
//
// A mini-batch step makes many short passes at the same θ, one per
// micro-shard, each into a gradient that starts at zero: wt is kept while
// W keeps its bits, and a ∂W of +0s is cleared rather than transposed.
func (m *Linear) transposeIn(W, gW []float64, cols, kp int) (wt, gt []float64) {
	K := m.cfg.Outputs
	if n := kp * cols; len(m.wt) < n {
		m.wt, m.gt, m.wc = make([]float64, n), make([]float64, n), nil
	}
	wt, gt = m.wt[:kp*cols], m.gt[:kp*cols]
	if W = W[:cols*K]; !sameBits(m.wc, W) {
		transposeTo(wt, W, cols, K)
		clear(wt[K*cols:])
		m.wc = append(m.wc[:0], W...)
	}
	if gW != nil {
		if gW = gW[:cols*K]; allPositiveZero(gW) {
			clear(gt)
		} else {
			transposeTo(gt, gW, cols, K)
			clear(gt[K*cols:])
		}
	}
	return wt, gt
}

// sameBits reports whether a and b have the same length and bits.
func sameBits(a, b []float64) bool {
	return len(a) == len(b) && bytes.Equal(asBytes(a), asBytes(b))
}

// allPositiveZero reports whether every element of x is +0 (all bits
// clear).
func allPositiveZero(x []float64) bool {
	b := asBytes(x)
	return len(b) == 0 || (b[0] == 0 && bytes.Equal(b[1:], b[:len(b)-1]))
}

// asBytes returns the memory of x as bytes, for comparisons at memequal's
// speed.
func asBytes(x []float64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), len(x)*8)
}

// transposeTo writes dst[k·cols+j] = src[j·K+k] for j < cols, k < K, in
// blocks of transposeBlock inputs so that the writes run contiguously.
func transposeTo(dst, src []float64, cols, K int) {
	src = src[:cols*K]
	j := 0
	for ; j+transposeBlock <= cols; j += transposeBlock {
		blk := src[j*K : (j+transposeBlock)*K]
		for k := range K {
			d := dst[k*cols+j : k*cols+j+transposeBlock]
			for jj := range d {
				d[jj] = blk[jj*K+k]
			}
		}
	}
	for ; j < cols; j++ {
		for k, v := range src[j*K : j*K+K] {
			dst[k*cols+j] = v
		}
	}
}

// transposeBlock is the number of inputs transposeTo and transposeOut
// move at a time.
const transposeBlock = 8

// transposeOut writes gW[j·K+k] = gt[k·cols+j] for j < cols, k < K, in
// blocks of transposeBlock inputs so that the reads run contiguously.
func transposeOut(gW, gt []float64, cols, K int) {
	gW = gW[:cols*K]
	j := 0
	for ; j+transposeBlock <= cols; j += transposeBlock {
		blk := gW[j*K : (j+transposeBlock)*K]
		for k := range K {
			s := gt[k*cols+j : k*cols+j+transposeBlock]
			for jj, v := range s {
				blk[jj*K+k] = v
			}
		}
	}
	for ; j < cols; j++ {
		row := gW[j*K : j*K+K]
		for k := range row {
			row[k] = gt[k*cols+j]
		}
	}
}

// accumulateSparse is Accumulate over CSR rows, one row at a time.
func (m *Linear) accumulateSparse(grad, theta []float64, rows shard.Rows, f loss.Func, obs Observer) (lossSum, weightSum float64) {
	d := rows.D
	x := &d.X
	sp := m.sp[0]
	K := sp.out
	W, b := sp.w(theta), sp.b(theta)
	var gW, gb, delta []float64
	if grad != nil {
		gW, gb, delta = sp.w(grad), sp.b(grad), m.g
	}
	ro, _ := obs.(RowObserver)
	for i := range rows.Len() {
		r := rows.Row(i)
		idx, val := sparseRow(x, r)
		m.forwardSparse(m.z, W, b, idx, val, x.Cols)
		l, w := m.evalRow(delta, m.z, d, r, f, obs, ro)
		if w == 0 {
			continue
		}
		lossSum += w * l
		weightSum += w
		if grad == nil {
			continue
		}
		for k, v := range delta {
			gb[k] += v
		}
		if K == 1 {
			axpySparse(gW, delta[0], idx, val)
			continue
		}
		for k, j := range idx {
			if v := float64(val[k]); v != 0 {
				axpyFused(gW[int(j)*K:int(j)*K+K], v, delta)
			}
		}
	}
	return lossSum, weightSum
}

// forwardSparse writes z = Wᵀx + b for the CSR row (idx, val) of a matrix
// of cols columns, each dot product in the lane order of a dense row.
func (m *Linear) forwardSparse(z, W, b []float64, idx []int32, val []float32, cols int) {
	K := len(z)
	if K == 1 {
		z[0] = b[0] + dotSparse(idx, val, W, cols)
		return
	}
	lanes := m.lanes[:dotLanes*K]
	clear(lanes)
	n8 := int32(cols &^ (dotLanes - 1))
	val = val[:len(idx)]
	k := 0
	for ; k < len(idx) && idx[k] < n8; k++ {
		j := int(idx[k])
		if v := float64(val[k]); v != 0 {
			s, wj := lanes[(j&(dotLanes-1))*K:][:K], W[j*K:][:K]
			for o, wo := range wj {
				s[o] = math.FMA(v, wo, s[o])
			}
		}
	}
	var s [dotLanes]float64
	for o := range z {
		for l := range s {
			s[l] = lanes[l*K+o]
		}
		z[o] = reduceLanes(&s)
	}
	for ; k < len(idx); k++ {
		j := int(idx[k])
		if v := float64(val[k]); v != 0 {
			wj := W[j*K:][:K]
			for o, wo := range wj {
				z[o] = math.FMA(v, wo, z[o])
			}
		}
	}
	for o := range z {
		z[o] += b[o]
	}
}
