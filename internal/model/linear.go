package model

import (
	"bytes"
	"fmt"
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
	zb     []float64 // logits of a tile's rows, tileRows × Outputs
	db     []float64 // δ of a tile's rows, tileRows × kp
	tb, dz []float64 // targets and dL/dz of a tile's rows, tileRows × Outputs (loss.Rows)
	lb     []float64 // losses of a tile's rows (loss.Rows)
	wt, gt []float64 // W and ∂W output-major, kp × cols (Outputs > 1)
	wc     []float64 // the W (row-major, cols × Outputs) that wt holds
	// lanes holds the dotLanes partial sums of each output for a CSR row.
	lanes []float64
}

var _ Model = (*Linear)(nil)

func newLinear(c Config) *Linear {
	return &Linear{
		cfg:   c,
		sp:    c.spans(),
		z:     make([]float64, c.Outputs),
		t:     make([]float64, c.Outputs),
		g:     make([]float64, c.Outputs),
		zb:    make([]float64, tileRows*c.Outputs),
		db:    make([]float64, tileRows*paddedOutputs(c.Outputs)),
		tb:    make([]float64, tileRows*c.Outputs),
		dz:    make([]float64, tileRows*c.Outputs),
		lb:    make([]float64, tileRows),
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
	return m.accumulateDense(grad, theta, rows, f, obs)
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

// accumulateDense is Accumulate over dense rows, in tiles of tileRows.
func (m *Linear) accumulateDense(grad, theta []float64, rows shard.Rows, f loss.Func, obs Observer) (lossSum, weightSum float64) {
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
	// The tiles read W and update ∂W output-major, ws apart: with one
	// output W and ∂W themselves, otherwise transposed copies.
	wt, gt, ws, nt, kp := W, gW, cols, 1, 1
	if K > 1 {
		nt, kp = tileOut, paddedOutputs(K)
		wt, gt = m.transposeIn(W, gW, cols, kp)
	}
	ro, _ := obs.(RowObserver)
	// Without an observer, losses that evaluate many rows at once take a
	// tile's rows in one call.
	fr, _ := f.(loss.Rows)
	if obs != nil {
		fr = nil
	}
	zb, db := m.zb[:tileRows*K], m.db[:tileRows*kp]
	var (
		off, next [tileRows]int
		out, dt   [tileRows * tileOut]float64
	)
	n := rows.Len()
	for lo := 0; lo < n; lo += tileRows {
		nr := min(tileRows, n-lo)
		if lo == 0 {
			tileOffsets(&off, rows, 0, cols)
		} else {
			off = next
		}
		// The next tile's rows are prefetched while this one's gradient is
		// updated (the kernels that can).
		tileOffsets(&next, rows, min(lo+tileRows, n-1), cols)
		for k0 := 0; k0 < K; k0 += nt {
			dotTile(&out, x, &off, wt[k0*ws:], ws, nt, n8)
			for i := range nr {
				for t := range min(nt, K-k0) {
					zb[i*K+k0+t] = out[i*tileOut+t]
				}
			}
		}
		for i := range nr {
			xr := x[off[i] : off[i]+cols]
			z := zb[i*K : (i+1)*K]
			for k := range z {
				s, wk := z[k], wt[k*ws:]
				for j := n8; j < cols; j++ {
					s += float64(float64(xr[j]) * wk[j])
				}
				z[k] = b[k] + s
			}
		}
		var l, w float64
		lrows := m.lb
		if fr != nil {
			// The tile's rows in one call: the bits of evalRow row by row.
			tb, dz := m.tb[:nr*K], m.dz[:nr*K]
			for i := range nr {
				f.Target(tb[i*K:(i+1)*K], targets(d, rows.Row(lo+i)))
			}
			fr.EvalRows(lrows[:nr], dz, zb[:nr*K], tb)
		}
		for i := range nr {
			var delta []float64
			if grad != nil {
				delta = db[i*kp : i*kp+K]
			}
			if fr != nil {
				l, w = lrows[i], weight(d, rows.Row(lo+i))
				if delta != nil {
					copy(delta, m.dz[i*K:(i+1)*K])
					scaleDelta(delta, w)
				}
			} else {
				l, w = m.evalRow(delta, zb[i*K:(i+1)*K], d, rows.Row(lo+i), f, obs, ro)
			}
			if w == 0 {
				continue
			}
			lossSum += w * l
			weightSum += w
			for k, v := range delta {
				gb[k] += v
			}
		}
		if grad == nil {
			continue
		}
		// ∂W += x ⊗ δ, rows in order. The repeated rows of a short tile and
		// the padding outputs have δ = 0: they add ±0, which changes no bits.
		clear(db[nr*kp:])
		for k0 := 0; k0 < kp; k0 += nt {
			for i := range tileRows {
				for t := range nt {
					dt[i*tileOut+t] = db[i*kp+k0+t]
				}
			}
			axpyTile(gt[k0*ws:], ws, x, &off, &next, &dt, nt, n8)
		}
		for i := range nr {
			xr := x[off[i] : off[i]+cols]
			for k := range K {
				a, gk := db[i*kp+k], gt[k*ws:]
				for j := n8; j < cols; j++ {
					gk[j] += float64(a * float64(xr[j]))
				}
			}
		}
	}
	if K > 1 && grad != nil {
		transposeOut(gW, gt, cols, K)
	}
	return lossSum, weightSum
}

// tileOffsets sets off to the offsets in x of the tile of rows starting at
// rows' row lo; a short tile repeats the last row.
func tileOffsets(off *[tileRows]int, rows shard.Rows, lo, cols int) {
	n := rows.Len()
	for i := range off {
		off[i] = rows.Row(min(lo+i, n-1)) * cols
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
				axpy(gW[int(j)*K:int(j)*K+K], v, delta)
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
				s[o] += float64(v * wo)
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
				z[o] += float64(v * wo)
			}
		}
	}
	for o := range z {
		z[o] += b[o]
	}
}
