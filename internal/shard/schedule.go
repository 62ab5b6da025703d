package shard

import (
	"fmt"
	"math/bits"
)

// Schedule defines the mini-batches of training over micro-shards, so that
// the rows of every step are known in advance and do not depend on how the
// micro-shards are placed on workers (DESIGN.md).
//
// In epoch e, micro-shard s of n_s rows is visited in the order of a
// permutation π_{e,s} of its rows, drawn by Fisher–Yates from a generator
// seeded with (Seed, e, s). Step t of the T = StepsPerEpoch() steps of the
// epoch takes from micro-shard s the slice
//
//	π_{e,s}[⌊t·n_s/T⌋ : ⌊(t+1)·n_s/T⌋]
//
// so every row is used exactly once per epoch and each step's batch has
// about BatchSize rows, drawn evenly from every micro-shard. The batch of a
// step is the union of these slices over all micro-shards.
//
// BatchSize 0 means full batch: T = 1 and each micro-shard's rows are
// visited in row order (no permutation), so a full-batch contribution is
// exactly that of [Dataset.View].
//
// The generator (SplitMix64, Lemire's bounded draws) is implemented here, so
// the schedule never changes with the Go version.
type Schedule struct {
	Seed      uint64
	Shards    []Range
	BatchSize int
}

// Rows returns the total number of rows over all micro-shards.
func (s Schedule) Rows() int {
	n := 0
	for _, r := range s.Shards {
		n += r.Len()
	}
	return n
}

// FullBatch reports whether every step uses every row (BatchSize 0).
func (s Schedule) FullBatch() bool { return s.BatchSize <= 0 }

// StepsPerEpoch returns T = ⌈rows / BatchSize⌉, and 1 for full batch or when
// there are no rows, so that an epoch always has at least one step.
func (s Schedule) StepsPerEpoch() int {
	if s.FullBatch() {
		return 1
	}
	n := s.Rows()
	return max(1, (n+s.BatchSize-1)/s.BatchSize)
}

// Bounds returns the slice [lo, hi) of micro-shard shard's permutation used
// at step of each epoch: lo = ⌊step·n_s/T⌋, hi = ⌊(step+1)·n_s/T⌋. It panics
// if shard or step is out of range (programmer error).
func (s Schedule) Bounds(step, shard int) (lo, hi int) {
	t := s.StepsPerEpoch()
	if shard < 0 || shard >= len(s.Shards) || step < 0 || step >= t {
		panic(fmt.Sprintf("shard: Schedule.Bounds(step %d, shard %d) with %d steps and %d micro-shards",
			step, shard, t, len(s.Shards)))
	}
	n := s.Shards[shard].Len()
	return splitPoint(step, n, t), splitPoint(step+1, n, t)
}

// Permutation writes into dst (grown if its capacity is short) the order in
// which micro-shard shard's rows are visited in epoch, as dataset row
// numbers, and returns it. For full batch it is the row order. Callers that
// run many steps of one epoch can compute it once and slice it with Bounds.
// It panics if shard is out of range or epoch < 0 (programmer error).
func (s Schedule) Permutation(dst []int32, epoch, shard int) []int32 {
	return s.permutation(dst, epoch, shard, -1)
}

// permutation is Permutation, stopping the shuffle once positions [0, upto)
// are final when upto ≥ 0 (forward Fisher–Yates fixes position i at step i).
func (s Schedule) permutation(dst []int32, epoch, shard, upto int) []int32 {
	if shard < 0 || shard >= len(s.Shards) || epoch < 0 {
		panic(fmt.Sprintf("shard: Schedule permutation of micro-shard %d in epoch %d with %d micro-shards",
			shard, epoch, len(s.Shards)))
	}
	r := s.Shards[shard]
	n := r.Len()
	if cap(dst) < n {
		dst = make([]int32, n)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i] = int32(r.Lo + i)
	}
	if s.FullBatch() {
		return dst
	}
	if upto < 0 || upto > n-1 {
		upto = n - 1
	}
	g := newSplitMix64(streamKey(s.Seed, uint64(epoch), uint64(shard)))
	for i := 0; i < upto; i++ {
		j := i + int(g.bounded(uint64(n-i)))
		dst[i], dst[j] = dst[j], dst[i]
	}
	return dst
}

// Batch returns the dataset rows of micro-shard shard used at step of epoch,
// in visiting order: the slice Bounds(step, shard) of Permutation(epoch,
// shard). The result aliases dst when its capacity holds the micro-shard. It
// costs O(n_s); callers running every step of an epoch may prefer
// Permutation once per epoch with Bounds. It panics on out-of-range
// arguments (programmer error).
func (s Schedule) Batch(dst []int32, epoch, step, shard int) []int32 {
	lo, hi := s.Bounds(step, shard)
	p := s.permutation(dst, epoch, shard, hi)
	return p[lo:hi]
}

// BatchRows is Batch as a view of d, using buf as storage for the index.
// For full batch it returns the contiguous view with no index.
func (s Schedule) BatchRows(d *Dataset, buf []int32, epoch, step, shard int) Rows {
	if s.FullBatch() {
		s.Bounds(step, shard) // validate the arguments
		return d.View(s.Shards[shard])
	}
	return Rows{D: d, Index: s.Batch(buf, epoch, step, shard)}
}

// streamKey derives the generator seed of (seed, epoch, micro-shard) by
// chaining the SplitMix64 finaliser, so nearby keys give unrelated streams:
//
//	key = mix(mix(mix(seed + γ) ⊕ (epoch + γ)) ⊕ (shard + γ))
func streamKey(seed, epoch, shard uint64) uint64 {
	h := mix64(seed + golden)
	h = mix64(h ^ (epoch + golden))
	return mix64(h ^ (shard + golden))
}

// golden is γ = 2⁶⁴/φ, the SplitMix64 increment.
const golden = 0x9e3779b97f4a7c15

// splitMix64 is Steele, Lea and Flood's SplitMix64 generator ("Fast
// splittable pseudorandom number generators", OOPSLA 2014).
type splitMix64 struct{ state uint64 }

func newSplitMix64(seed uint64) splitMix64 { return splitMix64{state: seed} }

func (g *splitMix64) next() uint64 {
	g.state += golden
	return mix64(g.state)
}

// mix64 is the SplitMix64 output function (a variant of MurmurHash3's fmix64).
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// bounded returns a uniform integer in [0, n), n > 0, by Lemire's
// multiply-and-reject method ("Fast random integer generation in an
// interval", ACM TOMACS 2019): the high word of r·n is uniform once the low
// word is at least 2⁶⁴ mod n.
func (g *splitMix64) bounded(n uint64) uint64 {
	hi, lo := bits.Mul64(g.next(), n)
	if lo < n {
		t := -n % n
		for lo < t {
			hi, lo = bits.Mul64(g.next(), n)
		}
	}
	return hi
}

// BatchCache gives the batches of a Schedule from permutations computed
// once per epoch and micro-shard, for a worker that runs every step of an
// epoch: Batch costs O(n_s) per step, the cache O(n_s) per epoch. The zero
// value is ready to use; it is not safe for concurrent use.
type BatchCache struct {
	sched Schedule
	epoch []int     // epoch[s]: the epoch perm[s] belongs to, −1 for none
	perm  [][]int32 // perm[s]: the permutation of micro-shard s
}

// Batch returns s.Batch(nil, epoch, step, shard): the same rows in the same
// order. The result is valid until the next call of Batch with another
// epoch or schedule, and must not be modified.
func (c *BatchCache) Batch(s Schedule, epoch, step, shard int) []int32 {
	if !c.holds(s) {
		c.sched = s
		c.epoch = make([]int, len(s.Shards))
		for i := range c.epoch {
			c.epoch[i] = -1
		}
		c.perm = make([][]int32, len(s.Shards))
	}
	lo, hi := s.Bounds(step, shard) // validates the arguments
	if c.epoch[shard] != epoch {
		c.perm[shard] = s.Permutation(c.perm[shard], epoch, shard)
		c.epoch[shard] = epoch
	}
	return c.perm[shard][lo:hi]
}

// holds reports whether the cache is for schedule s: the same seed, batch
// size and micro-shards (the same slice).
func (c *BatchCache) holds(s Schedule) bool {
	return c.sched.Seed == s.Seed && c.sched.BatchSize == s.BatchSize && len(c.sched.Shards) == len(s.Shards) &&
		len(s.Shards) > 0 && &c.sched.Shards[0] == &s.Shards[0]
}
