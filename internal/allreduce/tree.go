package allreduce

import (
	"fmt"
	"math/bits"
)

// MaxShards bounds the number of micro-shards of a round (and so the size of
// the reduction tree). Wire decoders reject anything larger.
const MaxShards = 1 << 24

// Range is the half-open interval of micro-shards [Lo, Hi).
type Range struct{ Lo, Hi int }

// Len returns the number of micro-shards in r (Hi − Lo).
func (r Range) Len() int { return r.Hi - r.Lo }

// String returns r as "[lo,hi)".
func (r Range) String() string { return fmt.Sprintf("[%d,%d)", r.Lo, r.Hi) }

// Contains reports whether every micro-shard of o lies in r.
func (r Range) Contains(o Range) bool { return r.Lo <= o.Lo && o.Hi <= r.Hi }

// treeSize returns P, the smallest power of two ≥ n, for n ≥ 1.
func treeSize(n int) int { return 1 << bits.Len(uint(n-1)) }

// IsNode reports whether r is a node of the fixed reduction tree over m
// micro-shards.
//
// The tree has P leaves, P the smallest power of two ≥ m. Its nodes are the
// aligned blocks [lo, lo+2^l) with lo mod 2^l = 0, clipped to [0, m); blocks
// that clip to nothing do not exist. Several aligned blocks can clip to the
// same range (with m = 3, the block [2,4) clips to the leaf [2,3)): they have
// the same value, because a node whose right child does not exist equals its
// left child. A range is therefore identified with its clipped form: r is a
// node iff, with s the smallest power of two ≥ r.Len(),
//
//	r.Lo mod s = 0  and  (r.Hi = r.Lo + s  or  r.Hi = m).
func IsNode(r Range, m int) bool {
	if m < 1 || r.Lo < 0 || r.Lo >= r.Hi || r.Hi > m {
		return false
	}
	s := treeSize(r.Len())
	return r.Lo%s == 0 && (r.Lo+s == r.Hi || r.Hi == m)
}

// Aligned decomposes [lo, hi) into maximal aligned blocks [a, a+2^l) with
// a mod 2^l = 0, left to right: at each point it takes the largest block
// that starts there and fits. Every block is a node of the fixed tree for any
// m ≥ hi. It returns nil when lo ≥ hi and panics if lo < 0.
func Aligned(lo, hi int) []Range {
	if lo < 0 {
		panic(fmt.Sprintf("allreduce: Aligned(%d, %d): negative bound", lo, hi))
	}
	var out []Range
	for x := lo; x < hi; {
		s := 1 << (bits.Len(uint(hi-x)) - 1) // largest power of two ≤ hi−x
		if x > 0 {
			s = min(s, x&-x) // largest power of two dividing x
		}
		out = append(out, Range{x, x + s})
		x += s
	}
	return out
}

// Cover decomposes r (inside [0, m)) into the fewest nodes of the fixed tree
// over m micro-shards, left to right: like [Aligned], but a block that ends at
// m may be a clipped node (with m = 7, Cover([4,7)) is the single node [4,7)
// where Aligned gives [4,6) and [6,7)). It returns nil when r is empty and
// panics if r is not inside [0, m).
func Cover(r Range, m int) []Range {
	if r.Lo < 0 || r.Hi > m || r.Lo > r.Hi {
		panic(fmt.Sprintf("allreduce: Cover(%v, %d): range outside [0,%d)", r, m, m))
	}
	var out []Range
	p := treeSize(max(m, 1))
	for x := r.Lo; x < r.Hi; {
		s := p
		if x > 0 {
			s = min(s, x&-x)
		}
		for min(x+s, m) > r.Hi {
			s >>= 1
		}
		end := min(x+s, m)
		out = append(out, Range{x, end})
		x = end
	}
	return out
}

// Summer computes sums over the fixed tree, reusing its scratch vectors
// between calls. The zero value is ready to use; a Summer is not safe for
// concurrent use.
type Summer struct {
	scratch [][]float64 // scratch[d] holds a right subtree's sum at depth d
	m       int
	leaf    func(i int, dst []float64)
	r       Range
}

// TreeSum sets dst to the sum of the leaves in r of the fixed tree over m
// micro-shards, added in the order of the tree. It is [Summer.Sum] with a
// fresh Summer.
func TreeSum(dst []float64, r Range, m int, leaf func(i int) []float64) {
	var s Summer
	s.Sum(dst, r, m, leaf)
}

// Sum sets dst to the sum over the fixed tree of the leaves i ∈ r, where
// leaf(i) is micro-shard i's contribution:
//
//	sum(node) = leaf(i)                     if node is the leaf [i, i+1)
//	sum(node) = sum(left)                   if the right child has no leaf in r
//	sum(node) = sum(right)                  if the left child has no leaf in r
//	sum(node) = sum(left) + sum(right)      otherwise, element-wise, left first
//
// starting at the root [0, P). For a node r (see [IsNode]) this is the node's
// value, the same bits whoever computes it; any other range is summed along
// the tree restricted to its leaves. The vector leaf(i) returns must have
// len(dst) elements and be valid until the next call of leaf; Sum reads it
// and never writes it or keeps it. Sum panics if r is empty or not inside
// [0, m), or if a leaf has the wrong length.
func (s *Summer) Sum(dst []float64, r Range, m int, leaf func(i int) []float64) {
	s.SumInto(dst, r, m, func(i int, d []float64) {
		v := leaf(i)
		if len(v) != len(d) {
			panic(fmt.Sprintf("allreduce: leaf %d has %d elements, want %d", i, len(v), len(d)))
		}
		copy(d, v)
	})
}

// SumInto is [Summer.Sum] with leaves written in place: leaf(i, d) must set
// every element of d (len(dst) elements, which it may not keep) to micro-shard
// i's contribution. It saves a copy of every leaf.
func (s *Summer) SumInto(dst []float64, r Range, m int, leaf func(i int, d []float64)) {
	if r.Lo < 0 || r.Lo >= r.Hi || r.Hi > m {
		panic(fmt.Sprintf("allreduce: TreeSum over %v with %d micro-shards", r, m))
	}
	p := treeSize(m)
	depth := bits.Len(uint(p)) - 1
	if len(s.scratch) < depth {
		s.scratch = append(s.scratch, make([][]float64, depth-len(s.scratch))...)
	}
	s.m, s.leaf, s.r = m, leaf, r
	s.sum(dst, 0, p, 0)
	s.leaf = nil
}

// sum writes into dst the sum of the leaves of s.r in the aligned block
// [lo, lo+size), which must contain at least one of them.
func (s *Summer) sum(dst []float64, lo, size, depth int) {
	if size == 1 {
		s.leaf(lo, dst)
		return
	}
	half := size / 2
	mid := lo + half
	hasLeft := s.r.Lo < mid               // r ∩ [lo, mid) ≠ ∅ (given r ∩ block ≠ ∅)
	hasRight := s.r.Hi > mid && mid < s.m // r ∩ [mid, lo+size) ∩ [0, m) ≠ ∅
	switch {
	case !hasRight:
		s.sum(dst, lo, half, depth+1)
	case !hasLeft:
		s.sum(dst, mid, half, depth+1)
	default:
		s.sum(dst, lo, half, depth+1)
		tmp := s.scratch[depth]
		if cap(tmp) < len(dst) {
			tmp = make([]float64, len(dst))
			s.scratch[depth] = tmp
		}
		tmp = tmp[:len(dst)]
		s.sum(tmp, mid, half, depth+1)
		addTo(dst, tmp)
	}
}

// addTo sets dst[i] = dst[i] + src[i]: the left operand is dst.
func addTo(dst, src []float64) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// nodeStore holds sums of disjoint nodes of the fixed tree over m
// micro-shards and merges siblings as soon as both are present. The
// coordinator's round and a group leader's [Relay] both add along it, so
// the sums they produce are the same bits.
type nodeStore struct {
	p, m   int               // P leaves, m micro-shards
	stored map[int][]float64 // heap index → sum of a node not yet merged
}

func newNodeStore(m int) nodeStore {
	return nodeStore{p: treeSize(m), m: m, stored: make(map[int][]float64)}
}

// add adds the value v of node rg to the stored nodes and merges upward
// while the sibling is stored:
//
//	sum(parent) = sum(left) + sum(right)   element-wise, left first
//	sum(parent) = sum(left)                when the right child is empty
//
// Nodes are heap-indexed over the P-leaf tree (root 1, children 2i and
// 2i+1); a stored value sits at the highest aligned node its clipped range
// equals. Invariant: no two stored nodes are siblings, so a node whose leaves
// are all covered is stored (or inside a stored node); the root appears when
// every leaf is covered, with at most one vector per gap in the coverage.
// add takes ownership of v.
func (s *nodeStore) add(rg Range, v []float64) {
	size := treeSize(rg.Len())
	idx := s.p/size + rg.Lo/size
	for idx > 1 {
		sib := idx ^ 1
		if sib > idx && s.nodeLo(sib) >= s.m {
			idx /= 2 // right child empty: the parent equals v
			continue
		}
		sv, ok := s.stored[sib]
		if !ok {
			break
		}
		delete(s.stored, sib)
		if sib > idx {
			addTo(v, sv) // v is the left child
		} else {
			addTo(sv, v) // sv is the left child
			v = sv
		}
		idx /= 2
	}
	s.stored[idx] = v
}

// nodeLo returns the first leaf of heap node idx.
func (s *nodeStore) nodeLo(idx int) int {
	level := bits.Len(uint(idx)) - 1 // depth of idx; the root is at depth 0
	return (idx - 1<<level) * (s.p >> level)
}

// nodeRange returns the clipped range of heap node idx.
func (s *nodeStore) nodeRange(idx int) Range {
	level := bits.Len(uint(idx)) - 1
	lo := s.nodeLo(idx)
	return Range{lo, min(lo+s.p>>level, s.m)}
}
