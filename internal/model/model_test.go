package model

import (
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Kind: KindLinear, Inputs: 3, Outputs: 1}, true},
		{Config{Kind: KindLinear, Inputs: 3, Outputs: 1, Activation: Tanh}, true},
		{Config{Kind: KindMLP, Inputs: 3, Outputs: 2, Hidden: []int{4}}, true},
		{Config{Kind: KindMLP, Inputs: 3, Outputs: 2, Hidden: []int{4, 2}, Activation: Tanh}, true},
		{Config{Kind: "cnn", Inputs: 3, Outputs: 1}, false},
		{Config{Kind: KindLinear, Inputs: 0, Outputs: 1}, false},
		{Config{Kind: KindLinear, Inputs: 3, Outputs: 0}, false},
		{Config{Kind: KindLinear, Inputs: 3, Outputs: 1, Hidden: []int{2}}, false},
		{Config{Kind: KindLinear, Inputs: 3, Outputs: 1, Activation: "sigmoid"}, false},
		{Config{Kind: KindMLP, Inputs: 3, Outputs: 2}, false},
		{Config{Kind: KindMLP, Inputs: 3, Outputs: 2, Hidden: []int{4, 0}}, false},
		{Config{Kind: KindLinear, Inputs: 1 << 40, Outputs: 1 << 20}, false},
		{Config{Kind: KindMLP, Inputs: 1 << 20, Outputs: 2, Hidden: []int{1 << 20}}, false},
	} {
		err := c.cfg.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", c.cfg, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: error %v does not wrap ErrConfig", c.cfg, err)
		}
		if _, err := New(c.cfg); (err == nil) != c.ok {
			t.Errorf("%+v: New error %v, want ok %v", c.cfg, err, c.ok)
		}
	}
}

func TestLayersLayout(t *testing.T) {
	c := Config{Kind: KindMLP, Inputs: 3, Outputs: 2, Hidden: []int{4, 5}}
	if got, want := c.NumParams(), (3+1)*4+(4+1)*5+(5+1)*2; got != want {
		t.Fatalf("NumParams = %d, want %d", got, want)
	}
	theta := make([]float64, c.NumParams())
	for i := range theta {
		theta[i] = float64(i)
	}
	ls := c.Layers(theta)
	want := []struct{ in, out, w0, b0 int }{{3, 4, 0, 12}, {4, 5, 16, 36}, {5, 2, 41, 51}}
	if len(ls) != len(want) {
		t.Fatalf("%d layers, want %d", len(ls), len(want))
	}
	for l, w := range want {
		L := ls[l]
		if L.In != w.in || L.Out != w.out || len(L.W) != w.in*w.out || len(L.B) != w.out ||
			L.W[0] != float64(w.w0) || L.B[0] != float64(w.b0) {
			t.Errorf("layer %d = %+v, want %+v", l, L, w)
		}
	}
	lin := Config{Kind: KindLinear, Inputs: 3, Outputs: 2}
	ll := lin.Layers(make([]float64, lin.NumParams()))
	if len(ll) != 1 || ll[0].In != 3 || ll[0].Out != 2 || len(ll[0].W) != 6 || len(ll[0].B) != 2 {
		t.Errorf("linear layers = %+v", ll)
	}
}

func TestInit(t *testing.T) {
	lin := mustModel(Config{Kind: KindLinear, Inputs: 4, Outputs: 3})
	theta := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	lin.Init(theta, 99)
	for i, v := range theta {
		if v != 0 {
			t.Fatalf("linear Init: θ[%d] = %v, want 0", i, v)
		}
	}
	for _, act := range []string{ReLU, Tanh} {
		c := Config{Kind: KindMLP, Inputs: 30, Outputs: 3, Hidden: []int{20, 10}, Activation: act}
		m := mustModel(c)
		a, b, d := make([]float64, m.NumParams()), make([]float64, m.NumParams()), make([]float64, m.NumParams())
		m.Init(a, 7)
		mustModel(c).Init(b, 7)
		m.Init(d, 8)
		if !slices.Equal(a, b) {
			t.Errorf("%s: Init(7) differs between calls", act)
		}
		if slices.Equal(a, d) {
			t.Errorf("%s: Init(7) = Init(8)", act)
		}
		for l, L := range c.Layers(a) {
			bound := math.Sqrt(6 / float64(L.In+L.Out))
			if act == ReLU && l < 2 {
				bound = math.Sqrt(6 / float64(L.In))
			}
			lo, hi := 0.0, 0.0
			for _, w := range L.W {
				lo, hi = min(lo, w), max(hi, w)
			}
			// With ≥ 30 uniform draws the extremes reach 80 % of the bound
			// except with probability < 2·0.9^30 ≈ 0.08 per side; the seed
			// is fixed, so this is deterministic.
			if lo < -bound || hi > bound || lo > -0.5*bound || hi < 0.5*bound {
				t.Errorf("%s layer %d: weights in [%v, %v], bound %v", act, l, lo, hi, bound)
			}
			for _, v := range L.B {
				if v != 0 {
					t.Errorf("%s layer %d: bias %v, want 0", act, l, v)
				}
			}
		}
	}
	// Golden values pin the generator: changing them changes every MLP run.
	c := Config{Kind: KindMLP, Inputs: 2, Outputs: 1, Hidden: []int{2}}
	th := make([]float64, c.NumParams())
	mustModel(c).Init(th, 1)
	if want := []float64{0.23057606006041131, 0.8514129823051185, 1.6316013994343506, -0.19274532606462916, 0, 0, -0.15764323198857283, 0.7435776290268803, 0}; !slices.Equal(th, want) {
		t.Errorf("golden Init changed: %#v", th)
	}
}

// recorder is an Observer that keeps what it saw.
type recorder struct {
	z, t [][]float64
	y    [][]float32
	w    []float64
}

func (r *recorder) Observe(z, t []float64, w float64) {
	r.z, r.t, r.w = append(r.z, slices.Clone(z)), append(r.t, slices.Clone(t)), append(r.w, w)
}

type rowRecorder struct{ recorder }

func (r *rowRecorder) ObserveRow(z, t []float64, y []float32, w float64) {
	r.Observe(z, t, w)
	r.y = append(r.y, slices.Clone(y))
}

func TestObserverAndPredict(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 12))
	dense, csr := randomData(rnd, dataOpts{rows: 6, cols: 5, task: shard.Multilabel, k: 3, weights: true, density: 0.6})
	f := mustLoss(loss.KindSigmoid, 3, loss.Config{Smoothing: 0.1})
	idx := []int32{5, 1, 1, 0}
	for _, c := range models(5, 3) {
		m := mustModel(c)
		theta := randomTheta(rnd, m, 0.5)
		for _, d := range []*shard.Dataset{dense, csr} {
			rows := shard.Rows{D: d, Index: idx}
			var plain recorder
			l1, w1 := m.Accumulate(nil, theta, rows, f, &plain)
			var full rowRecorder
			l2, w2 := m.Accumulate(make([]float64, m.NumParams()), theta, rows, f, &full)
			if l1 != l2 || w1 != w2 {
				t.Errorf("%s: loss-only pass (%v, %v), gradient pass (%v, %v)", name(c), l1, w1, l2, w2)
			}
			if len(plain.z) != len(idx) || len(full.z) != len(idx) || len(full.y) != len(idx) {
				t.Fatalf("%s: observed %d, %d rows, want %d", name(c), len(plain.z), len(full.z), len(idx))
			}
			z := make([]float64, 3)
			tgt := make([]float64, 3)
			wantW := 0.0
			for i, r := range idx {
				m.Predict(z, theta, rows, i)
				if !slices.Equal(z, plain.z[i]) || !slices.Equal(z, full.z[i]) {
					t.Errorf("%s row %d: Predict %v, observed %v", name(c), r, z, plain.z[i])
				}
				f.Target(tgt, d.Y[r*3:r*3+3])
				if !slices.Equal(tgt, full.t[i]) || !slices.Equal(full.y[i], d.Y[r*3:r*3+3]) {
					t.Errorf("%s row %d: observed t %v y %v", name(c), r, full.t[i], full.y[i])
				}
				if full.w[i] != d.Weights[r] {
					t.Errorf("%s row %d: observed weight %v, want %v", name(c), r, full.w[i], d.Weights[r])
				}
				wantW += d.Weights[r]
			}
			if !scalar.EqualWithinRel(w1, wantW, 1e-15) {
				t.Errorf("%s: weight sum %v, want %v", name(c), w1, wantW)
			}
		}
	}
}

func TestAccumulateAllocatesNothing(t *testing.T) {
	rnd := rand.New(rand.NewPCG(13, 14))
	for _, lk := range lossKinds {
		f := mustLoss(lk.kind, lk.k, loss.Config{Smoothing: 0.1})
		dense, csr := randomData(rnd, dataOpts{rows: 50, cols: 40, task: lk.task, k: lk.k, weights: true, density: 0.5})
		for _, c := range models(40, f.Logits()) {
			m := mustModel(c)
			theta := randomTheta(rnd, m, 0.3)
			grad := make([]float64, m.NumParams())
			var obs recorder
			obs.z = make([][]float64, 0, 0)
			z := make([]float64, f.Logits())
			for _, d := range []*shard.Dataset{dense, csr} {
				rows := d.View(shard.Range{Lo: 0, Hi: 50})
				if a := testing.AllocsPerRun(5, func() {
					m.Accumulate(grad, theta, rows, f, nil)
					m.Accumulate(nil, theta, rows, f, nil)
					m.Penalty(grad, theta, 0.1)
					m.Predict(z, theta, rows, 3)
				}); a != 0 {
					t.Errorf("%v %s sparse=%v: %v allocations per pass", lk.kind, name(c), d.X.Sparse(), a)
				}
			}
		}
	}
}

// contribution is one micro-shard's (Σ w·∂L/∂θ, Σ w·L, Σ w).
type contribution struct {
	grad            []float64
	loss, weightSum float64
}

// add returns a + b element-wise (a new contribution).
func add(a, b contribution) contribution {
	g := make([]float64, len(a.grad))
	for i := range g {
		g[i] = a.grad[i] + b.grad[i]
	}
	return contribution{grad: g, loss: a.loss + b.loss, weightSum: a.weightSum + b.weightSum}
}

// treeSum reduces leaves [lo, lo+size) of a binary tree over micro-shard
// indices padded to a power of two: a node is the sum of its left and right
// children, a node past the last leaf is absent. have holds the sums a
// worker already computed for whole aligned subtrees, keyed by (lo, size).
func treeSum(leaves []contribution, have map[[2]int]contribution, lo, size int) (contribution, bool) {
	if lo >= len(leaves) {
		return contribution{}, false
	}
	if c, ok := have[[2]int{lo, size}]; ok {
		return c, true
	}
	if size == 1 {
		return leaves[lo], true
	}
	l, _ := treeSum(leaves, have, lo, size/2)
	r, ok := treeSum(leaves, have, lo+size/2, size/2)
	if !ok {
		return l, true
	}
	return add(l, r), true
}

// Micro-shard contributions, however they are grouped into workers and
// reduced along a fixed tree over the micro-shard index, give the same bits;
// and their weighted mean equals the full-batch gradient (MATH.md §4.4).
func TestMicroShardReduction(t *testing.T) {
	rnd := rand.New(rand.NewPCG(15, 16))
	const rows, cols = 103, 7
	for _, lk := range lossKinds {
		f := mustLoss(lk.kind, lk.k, loss.Config{Smoothing: 0.05})
		dense, csr := randomData(rnd, dataOpts{rows: rows, cols: cols, task: lk.task, k: lk.k, weights: true, density: 0.6})
		for _, c := range models(cols, f.Logits()) {
			m := mustModel(c)
			theta := randomTheta(rnd, m, 0.3)
			for _, d := range []*shard.Dataset{dense, csr} {
				full := make([]float64, m.NumParams())
				lFull, wFull := m.Accumulate(full, theta, d.View(shard.Range{Lo: 0, Hi: rows}), f, nil)
				for _, nShards := range []int{1, 2, 7, 16, 150} {
					ranges := shard.Split(rows, nShards)
					// Unequal and empty micro-shards too: random cuts.
					if nShards == 16 {
						cuts := []int{0, rows}
						for range nShards - 1 {
							cuts = append(cuts, rnd.IntN(rows+1))
						}
						slices.Sort(cuts)
						for s := range ranges {
							ranges[s] = shard.Range{Lo: cuts[s], Hi: cuts[s+1]}
						}
					}
					var ref []contribution
					for _, workers := range []int{1, 2, 3, 5} {
						// Each worker has its own model (dirty scratch from
						// its previous micro-shard) and owns a contiguous group.
						leaves := make([]contribution, len(ranges))
						have := map[[2]int]contribution{}
						for _, g := range shard.Split(len(ranges), workers) {
							wm := m.Clone()
							for s := g.Lo; s < g.Hi; s++ {
								grad := make([]float64, m.NumParams())
								l, w := wm.Accumulate(grad, theta, d.View(ranges[s]), f, nil)
								leaves[s] = contribution{grad, l, w}
							}
							// The worker sends the sums of the aligned
							// subtrees inside its group.
							for size := 1; size <= len(ranges); size *= 2 {
								for lo := g.Lo; lo%size == 0 && lo+size <= g.Hi; lo += size {
									have[[2]int{lo, size}], _ = treeSum(leaves, nil, lo, size)
								}
							}
						}
						top := 1 << bits.Len(uint(len(ranges)-1))
						sum, _ := treeSum(leaves, have, 0, top)
						ref = append(ref, sum)
						if !slices.Equal(sum.grad, ref[0].grad) || sum.loss != ref[0].loss || sum.weightSum != ref[0].weightSum {
							t.Fatalf("%v %s %d micro-shards: %d workers differ in bits from 1", lk.kind, name(c), len(ranges), workers)
						}
					}
					// Σ_s n_s·g_s / Σ_s n_s = full-batch mean gradient.
					// Reassociating ≤ 103 terms of size O(1) moves the sum
					// by ≲ 103·ε·Σ|terms|; 1e-12 relative covers it.
					const tol = 1e-12
					sum := ref[0]
					if !scalar.EqualWithinRel(sum.weightSum, wFull, tol) || !scalar.EqualWithinAbsOrRel(sum.loss/sum.weightSum, lFull/wFull, tol, tol) {
						t.Errorf("%v %s: mean loss %v over micro-shards, %v full", lk.kind, name(c), sum.loss/sum.weightSum, lFull/wFull)
					}
					for i := range full {
						if !scalar.EqualWithinAbsOrRel(sum.grad[i]/sum.weightSum, full[i]/wFull, tol, tol) {
							t.Fatalf("%v %s %d micro-shards: mean ∂θ[%d] %v, full batch %v", lk.kind, name(c), len(ranges), i, sum.grad[i]/sum.weightSum, full[i]/wFull)
						}
					}
				}
			}
		}
	}
}

func TestShapeMismatchPanics(t *testing.T) {
	m := mustModel(Config{Kind: KindLinear, Inputs: 3, Outputs: 1})
	d := &shard.Dataset{X: shard.Matrix{Rows: 1, Cols: 4, Dense: make([]float32, 4)}, Task: shard.Binary, K: 1, Y: []float32{1}}
	f := mustLoss(loss.KindLogistic, 1, loss.Config{})
	for name, fn := range map[string]func(){
		"short θ":    func() { m.Accumulate(nil, make([]float64, 3), shard.Rows{}, f, nil) },
		"short grad": func() { m.Accumulate(make([]float64, 2), make([]float64, 4), shard.Rows{}, f, nil) },
		"wide rows":  func() { m.Accumulate(nil, make([]float64, 4), d.View(shard.Range{Lo: 0, Hi: 1}), f, nil) },
		"loss logits": func() {
			m.Accumulate(nil, make([]float64, 4), shard.Rows{}, mustLoss(loss.KindBinarySoftmax, 1, loss.Config{}), nil)
		},
		"penalty θ":     func() { m.Penalty(nil, make([]float64, 5), 1) },
		"predict z len": func() { m.Predict(make([]float64, 2), make([]float64, 4), d.View(shard.Range{Lo: 0, Hi: 0}), 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}
