package allreduce_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/allreduce/allreducetest"
)

// nodesByDefinition lists every node of the tree over m micro-shards from
// the definition: aligned blocks clipped to [0, m), empty ones dropped.
func nodesByDefinition(m int) map[allreduce.Range]bool {
	p := 1
	for p < m {
		p *= 2
	}
	out := make(map[allreduce.Range]bool)
	for size := 1; size <= p; size *= 2 {
		for lo := 0; lo < m; lo += size {
			out[allreduce.Range{Lo: lo, Hi: min(lo+size, m)}] = true
		}
	}
	return out
}

func TestIsNodeMatchesDefinition(t *testing.T) {
	for m := 1; m <= 70; m++ {
		nodes := nodesByDefinition(m)
		for lo := -1; lo <= m+1; lo++ {
			for hi := lo - 1; hi <= m+2; hi++ {
				r := allreduce.Range{Lo: lo, Hi: hi}
				if got, want := allreduce.IsNode(r, m), nodes[r]; got != want {
					t.Fatalf("IsNode(%v, %d) = %v, want %v", r, m, got, want)
				}
			}
		}
	}
}

// minPieces returns the fewest ranges from ok that partition [lo, hi), by
// dynamic programming.
func minPieces(lo, hi int, ok func(allreduce.Range) bool) int {
	best := make([]int, hi-lo+1)
	for i := range best {
		best[i] = math.MaxInt / 2
	}
	best[0] = 0
	for x := lo; x < hi; x++ {
		for y := x + 1; y <= hi; y++ {
			if ok(allreduce.Range{Lo: x, Hi: y}) {
				best[y-lo] = min(best[y-lo], best[x-lo]+1)
			}
		}
	}
	return best[hi-lo]
}

// checkPartition fails unless rs are contiguous, non-empty and cover [lo, hi).
func checkPartition(t *testing.T, what string, rs []allreduce.Range, lo, hi int) {
	t.Helper()
	x := lo
	for _, r := range rs {
		if r.Lo != x || r.Hi <= r.Lo {
			t.Fatalf("%s = %v: not a partition of [%d,%d)", what, rs, lo, hi)
		}
		x = r.Hi
	}
	if x != hi || (lo < hi) != (len(rs) > 0) {
		t.Fatalf("%s = %v: does not end at %d", what, rs, hi)
	}
}

func TestCoverIsMinimalPartitionIntoNodes(t *testing.T) {
	for m := 1; m <= 40; m++ {
		for lo := 0; lo <= m; lo++ {
			for hi := lo; hi <= m; hi++ {
				got := allreduce.Cover(allreduce.Range{Lo: lo, Hi: hi}, m)
				checkPartition(t, "Cover", got, lo, hi)
				for _, r := range got {
					if !allreduce.IsNode(r, m) {
						t.Fatalf("Cover([%d,%d), %d) = %v: %v is not a node", lo, hi, m, got, r)
					}
				}
				if want := minPieces(lo, hi, func(r allreduce.Range) bool { return allreduce.IsNode(r, m) }); len(got) != want {
					t.Fatalf("Cover([%d,%d), %d) = %v: %d nodes, the minimum is %d", lo, hi, m, got, len(got), want)
				}
			}
		}
	}
}

func TestAlignedIsMinimalPartitionIntoAlignedBlocks(t *testing.T) {
	aligned := func(r allreduce.Range) bool {
		n := r.Len()
		return n > 0 && n&(n-1) == 0 && r.Lo%n == 0
	}
	for lo := 0; lo <= 70; lo++ {
		for hi := lo; hi <= 70; hi++ {
			got := allreduce.Aligned(lo, hi)
			checkPartition(t, "Aligned", got, lo, hi)
			for _, r := range got {
				if !aligned(r) {
					t.Fatalf("Aligned(%d, %d) = %v: %v is not aligned", lo, hi, got, r)
				}
			}
			if want := minPieces(lo, hi, aligned); len(got) != want {
				t.Fatalf("Aligned(%d, %d) = %v: %d blocks, the minimum is %d", lo, hi, got, len(got), want)
			}
		}
	}
}

// refSum is the tree sum written from its definition, recursively over the
// aligned block [lo, lo+size) and restricted to r: an independent reference
// for Summer.
func refSum(r allreduce.Range, m, lo, size int, leaf func(int) []float64) []float64 {
	a, b := max(lo, r.Lo), min(lo+size, r.Hi, m)
	if a >= b {
		return nil
	}
	if size == 1 {
		return slices.Clone(leaf(lo))
	}
	left := refSum(r, m, lo, size/2, leaf)
	right := refSum(r, m, lo+size/2, size/2, leaf)
	switch {
	case left == nil:
		return right
	case right == nil:
		return left
	}
	out := make([]float64, len(left))
	for i := range out {
		out[i] = left[i] + right[i]
	}
	return out
}

func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func TestTreeSumMatchesDefinition(t *testing.T) {
	const veclen = 5
	var s allreduce.Summer // reused across calls: scratch must not leak between them
	for _, m := range []int{1, 2, 3, 5, 7, 8, 13, 64, 100} {
		p := 1
		for p < m {
			p *= 2
		}
		leaf := func(i int) []float64 { return allreducetest.Leaf(uint64(m), i, veclen) }
		for lo := 0; lo < m; lo++ {
			for hi := lo + 1; hi <= m; hi++ {
				r := allreduce.Range{Lo: lo, Hi: hi}
				want := refSum(r, m, 0, p, leaf)
				got := make([]float64, veclen)
				s.Sum(got, r, m, leaf)
				if !sameBits(got, want) {
					t.Fatalf("m=%d: Sum over %v = %v, want %v", m, r, got, want)
				}
			}
		}
	}
}

// TestLeafDataIsOrderSensitive guards the power of the bit-identity tests:
// with Leaf data, summing in another order must change the bits.
func TestLeafDataIsOrderSensitive(t *testing.T) {
	const m, veclen = 64, 8
	tree := make([]float64, veclen)
	allreduce.TreeSum(tree, allreduce.Range{Lo: 0, Hi: m}, m, func(i int) []float64 { return allreducetest.Leaf(1, i, veclen) })
	seq := make([]float64, veclen)
	for i := range m {
		for j, x := range allreducetest.Leaf(1, i, veclen) {
			seq[j] += x
		}
	}
	differ := 0
	for j := range tree {
		if math.Float64bits(tree[j]) != math.Float64bits(seq[j]) {
			differ++
		}
	}
	if differ == 0 {
		t.Fatalf("tree and left-to-right sums agree to the bit on all %d elements: test data too regular", veclen)
	}
}

func TestTreeSumLeavesInputsAlone(t *testing.T) {
	const m, veclen = 13, 4
	leaves := make([][]float64, m)
	for i := range leaves {
		leaves[i] = allreducetest.Leaf(7, i, veclen)
	}
	orig := make([][]float64, m)
	for i := range leaves {
		orig[i] = slices.Clone(leaves[i])
	}
	dst := make([]float64, veclen)
	allreduce.TreeSum(dst, allreduce.Range{Lo: 0, Hi: m}, m, func(i int) []float64 { return leaves[i] })
	for i := range leaves {
		if !sameBits(leaves[i], orig[i]) {
			t.Fatalf("leaf %d modified", i)
		}
	}
}

func TestTreeSumPanicsOnProgrammerError(t *testing.T) {
	leaf := func(int) []float64 { return make([]float64, 3) }
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"empty range", func() { allreduce.TreeSum(make([]float64, 3), allreduce.Range{Lo: 2, Hi: 2}, 4, leaf) }},
		{"outside", func() { allreduce.TreeSum(make([]float64, 3), allreduce.Range{Lo: 0, Hi: 5}, 4, leaf) }},
		{"leaf length", func() { allreduce.TreeSum(make([]float64, 2), allreduce.Range{Lo: 0, Hi: 4}, 4, leaf) }},
		{"Aligned negative", func() { allreduce.Aligned(-1, 3) }},
		{"Cover outside", func() { allreduce.Cover(allreduce.Range{Lo: 0, Hi: 9}, 8) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.f()
		})
	}
}

// TestNodeSumsCompose checks the property the protocol rests on: for any
// partition of [0, m) into nodes, combining the nodes' sums along the tree
// gives the root's bits.
func TestNodeSumsCompose(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	const veclen = 3
	for trial := range 200 {
		m := 1 + rnd.IntN(300)
		leaf := func(i int) []float64 { return allreducetest.Leaf(uint64(trial), i, veclen) }
		root := make([]float64, veclen)
		allreduce.TreeSum(root, allreduce.Range{Lo: 0, Hi: m}, m, leaf)
		// A random partition into nodes: random cut points, each run covered.
		var parts []allreduce.Range
		for x := 0; x < m; {
			y := x + 1 + rnd.IntN(m-x)
			parts = append(parts, allreduce.Cover(allreduce.Range{Lo: x, Hi: y}, m)...)
			x = y
		}
		sums := make(map[allreduce.Range][]float64)
		for _, r := range parts {
			v := make([]float64, veclen)
			allreduce.TreeSum(v, r, m, leaf)
			sums[r] = v
		}
		// Sum again, taking a partition node's sum wherever the tree reaches one.
		p := 1
		for p < m {
			p *= 2
		}
		var combine func(lo, size int) []float64
		combine = func(lo, size int) []float64 {
			if lo >= m {
				return nil
			}
			if v, ok := sums[allreduce.Range{Lo: lo, Hi: min(lo+size, m)}]; ok {
				return v
			}
			l, r := combine(lo, size/2), combine(lo+size/2, size/2)
			if r == nil {
				return l
			}
			out := make([]float64, veclen)
			for i := range out {
				out[i] = l[i] + r[i]
			}
			return out
		}
		if v := combine(0, p); !sameBits(v, root) {
			t.Fatalf("m=%d, parts %v: combined %v, root %v", m, parts, v, root)
		}
	}
}
