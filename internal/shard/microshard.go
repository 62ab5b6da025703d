package shard

import "fmt"

// Range is the half-open row interval [Lo, Hi) of a dataset: one micro-shard.
type Range struct{ Lo, Hi int }

// Len returns the number of rows in r.
func (r Range) Len() int { return r.Hi - r.Lo }

// Micro-shard counts chosen by [DefaultMicroShards].
const (
	// RowsPerMicroShard is the target micro-shard size of DefaultMicroShards.
	RowsPerMicroShard = 1024
	// MaxMicroShards caps DefaultMicroShards, so the reduction tree and the
	// per-step plan stay small for very large data sets.
	MaxMicroShards = 1024
)

// DefaultMicroShards returns the number of micro-shards M for a data set of
// the given number of rows. It depends on the data size alone, never on the
// number of workers:
//
//	M = min(MaxMicroShards, max(1, ⌈rows / RowsPerMicroShard⌉))
//
// so micro-shards hold about 1024 rows up to about a million rows, and
// ⌈rows/1024⌉ rows each beyond. M need not be a power of two.
func DefaultMicroShards(rows int) int {
	if rows <= 0 {
		return 1
	}
	m := (rows + RowsPerMicroShard - 1) / RowsPerMicroShard
	return min(m, MaxMicroShards)
}

// Split cuts rows 0..rows-1 into m contiguous micro-shards in row order.
// Micro-shard s is
//
//	[⌊s·rows/m⌋, ⌊(s+1)·rows/m⌋)
//
// so sizes differ by at most one and, when m > rows, some micro-shards are
// empty. The split is a function of (rows, m) alone. It panics if rows < 0 or
// m < 1 (programmer error).
func Split(rows, m int) []Range {
	if rows < 0 || m < 1 {
		panic(fmt.Sprintf("shard: Split(%d, %d): need rows ≥ 0 and m ≥ 1", rows, m))
	}
	out := make([]Range, m)
	for s := range out {
		out[s] = Range{Lo: splitPoint(s, rows, m), Hi: splitPoint(s+1, rows, m)}
	}
	return out
}

// splitPoint returns ⌊s·n/m⌋ without overflow for any n, m that fit in int.
func splitPoint(s, n, m int) int {
	// s ≤ m, so s·n = (s/m)·n·m + ... ; use q·n + ⌊r·n/m⌋ with s = q·m + r,
	// and r·n computed as ⌊n/m⌋·r + ⌊(n mod m)·r/m⌋ to keep products small.
	q, r := s/m, s%m
	return q*n + (n/m)*r + ((n%m)*r)/m
}

// View returns the rows of micro-shard r in row order. It panics if r is not
// within the dataset (programmer error).
func (d *Dataset) View(r Range) Rows {
	if r.Lo < 0 || r.Hi < r.Lo || r.Hi > d.Rows() {
		panic(fmt.Sprintf("shard: View [%d, %d) of a dataset with %d rows", r.Lo, r.Hi, d.Rows()))
	}
	return Rows{D: d, Lo: r.Lo, Hi: r.Hi}
}
