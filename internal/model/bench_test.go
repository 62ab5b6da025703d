package model

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/shard"
)

// Benchmark data: built once per test binary with fixed seeds.
var (
	benchDense  = sync.OnceValue(func() *shard.Dataset { return benchData(false) })
	benchSparse = sync.OnceValue(func() *shard.Dataset { return benchData(true) })
)

const (
	benchDenseRows, benchDenseCols   = 200_000, 256
	benchSparseRows, benchSparseCols = 100_000, 50_000
	benchSparseNNZ                   = 100 // per row
	benchK                           = 10
)

// benchData returns a dense 200,000 × 256 or a CSR 100,000 × 50,000 matrix
// (100 nonzeros a row) of standard normal features, with both a binary
// target (column 0) and 10 multi-label targets, of which the first is
// also used as a class (one-hot) for softmax.
func benchData(sparse bool) *shard.Dataset {
	rnd := rand.New(rand.NewPCG(2024, 1))
	d := &shard.Dataset{Name: "bench", Task: shard.Multilabel, K: benchK}
	rows := benchDenseRows
	if sparse {
		rows = benchSparseRows
		indptr := make([]int64, rows+1)
		indices := make([]int32, 0, rows*benchSparseNNZ)
		values := make([]float32, 0, rows*benchSparseNNZ)
		for r := range rows {
			// Ascending distinct columns: one in each of 100 equal bands.
			band := benchSparseCols / benchSparseNNZ
			for k := range benchSparseNNZ {
				indices = append(indices, int32(k*band+rnd.IntN(band)))
				values = append(values, float32(rnd.NormFloat64()))
			}
			indptr[r+1] = int64(len(indices))
		}
		d.X = shard.Matrix{Rows: rows, Cols: benchSparseCols, Indptr: indptr, Indices: indices, Values: values}
	} else {
		d.X = shard.NewDense(rows, benchDenseCols)
		for i := range d.X.Dense {
			d.X.Dense[i] = float32(rnd.NormFloat64())
		}
	}
	d.Y = make([]float32, rows*benchK)
	for i := range d.Y {
		d.Y[i] = float32(rnd.IntN(2))
	}
	return d
}

// binaryView returns d with its first target column as the binary target;
// oneHot returns d with one-hot classes.
func binaryView(d *shard.Dataset) *shard.Dataset {
	b := *d
	b.Task, b.K = shard.Binary, 1
	b.Y = make([]float32, d.Rows())
	for r := range b.Y {
		b.Y[r] = d.Y[r*benchK]
	}
	return &b
}

func oneHot(d *shard.Dataset) *shard.Dataset {
	b := *d
	b.Task = shard.Multiclass
	b.Y = make([]float32, len(d.Y))
	for r := range d.Rows() {
		b.Y[r*benchK+r%benchK] = 1
	}
	return &b
}

func storedBytes(x *shard.Matrix) int64 {
	if x.Sparse() {
		return int64(len(x.Indptr))*8 + int64(len(x.Indices))*4 + int64(len(x.Values))*4
	}
	return int64(len(x.Dense)) * 4
}

func benchPass(b *testing.B, d *shard.Dataset, c Config, f loss.Func) {
	m := mustModel(c)
	theta := make([]float64, m.NumParams())
	rnd := rand.New(rand.NewPCG(1, 1))
	for i := range theta {
		theta[i] = 0.01 * rnd.NormFloat64()
	}
	grad := make([]float64, m.NumParams())
	rows := d.View(shard.Range{Lo: 0, Hi: d.Rows()})
	b.SetBytes(storedBytes(&d.X))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(grad)
		m.Accumulate(grad, theta, rows, f, nil)
	}
	b.ReportMetric(float64(b.N)*float64(d.Rows())/b.Elapsed().Seconds(), "examples/s")
}

// benchCase is one loss of the benchmarks over a shared base dataset.
type benchCase struct {
	name string
	data func() *shard.Dataset
	kind loss.Kind
	k    int
}

// benchCases are the three linear passes the benchmarks measure: logistic
// (the first target column), softmax over benchK classes, benchK sigmoids.
func benchCases(base *shard.Dataset) []benchCase {
	return []benchCase{
		{"logistic", func() *shard.Dataset { return binaryView(base) }, loss.KindLogistic, 1},
		{"softmax10", func() *shard.Dataset { return oneHot(base) }, loss.KindSoftmax, benchK},
		{"sigmoid10", func() *shard.Dataset { return base }, loss.KindSigmoid, benchK},
	}
}

func benchLosses(b *testing.B, base *shard.Dataset) {
	for _, c := range benchCases(base) {
		b.Run(c.name, func(b *testing.B) {
			f := mustLoss(c.kind, c.k, loss.Config{})
			d := c.data()
			benchPass(b, d, Config{Kind: KindLinear, Inputs: d.X.Cols, Outputs: f.Logits()}, f)
		})
	}
}

// BenchmarkLinearDense is one gradient pass over 200,000 × 256 float32.
func BenchmarkLinearDense(b *testing.B) { benchLosses(b, benchDense()) }

// BenchmarkLinearSparse is one gradient pass over 100,000 × 50,000 CSR
// with 100 nonzeros a row.
func BenchmarkLinearSparse(b *testing.B) { benchLosses(b, benchSparse()) }

// BenchmarkMLPDense is one gradient pass of a 256→64→10 ReLU MLP with
// softmax over the first 20,000 dense rows.
func BenchmarkMLPDense(b *testing.B) {
	d := *oneHot(benchDense())
	d.X.Rows = 20_000
	d.X.Dense = d.X.Dense[:20_000*benchDenseCols]
	f := mustLoss(loss.KindSoftmax, benchK, loss.Config{})
	benchPass(b, &d, Config{Kind: KindMLP, Inputs: benchDenseCols, Outputs: benchK, Hidden: []int{64}}, f)
}

// BenchmarkKernels times dotF32 and axpyF32 on in-cache rows.
func BenchmarkKernels(b *testing.B) {
	for _, n := range []int{256, 4096} {
		x := make([]float32, n)
		w := make([]float64, n)
		for i := range x {
			x[i], w[i] = float32(i%7)-3, float64(i%5)-2
		}
		b.Run(fmt.Sprintf("dot/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n) * 4)
			s := 0.0
			for b.Loop() {
				s += dotF32(x, w)
			}
			_ = s
		})
		b.Run(fmt.Sprintf("axpy/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n) * 4)
			for b.Loop() {
				axpyF32(w, 1e-9, x)
			}
		})
	}
}

// BenchmarkLinearDenseInCache is BenchmarkLinearDense over its first 256
// rows (256 KB, in L2): the pass's compute ceiling, without the memory.
func BenchmarkLinearDenseInCache(b *testing.B) {
	base := *benchDense()
	base.X.Rows = 256
	base.X.Dense = base.X.Dense[:256*benchDenseCols]
	base.Y = base.Y[:256*benchK]
	benchLosses(b, &base)
}

// BenchmarkTileKernels times the tile kernels in use on one tile of 256
// features in L1: their compute ceiling.
func BenchmarkTileKernels(b *testing.B) {
	const cols = 256
	x := make([]float32, tileRows*cols)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	w := make([]float64, tileOut*cols)
	for i := range w {
		w[i] = float64(i%5) - 2
	}
	var out, delta [tileRows * tileOut]float64
	off := [tileRows]int{0, cols, 2 * cols, 3 * cols}
	pf := [prefetchRows]int{0, cols}
	for _, nt := range []int{1, tileOut} {
		b.Run(fmt.Sprintf("%v/dot/nt=%d", kernelName(), nt), func(b *testing.B) {
			b.SetBytes(tileRows * cols * 4)
			for b.Loop() {
				dotTile(&out, x, &off, &pf, w, cols, nt, cols)
			}
		})
		b.Run(fmt.Sprintf("%v/axpy/nt=%d", kernelName(), nt), func(b *testing.B) {
			b.SetBytes(tileRows * cols * 4)
			for b.Loop() {
				axpyTile(w, cols, x, &off, &pf, &delta, nt, cols)
			}
		})
	}
}

// BenchmarkReadFloor reads one float32 of every 64-byte line of
// BenchmarkLinearDense's features, the bound a pass that reads them once
// cannot beat: threads=1 on one core, threads=2 with two goroutines each
// reading its half at once, as two workers of a job on two cores do.
func BenchmarkReadFloor(b *testing.B) {
	x := benchDense().X.Dense
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			b.SetBytes(int64(len(x)) * 4)
			sums := make([]float32, threads)
			part := len(x) / threads &^ 63
			for b.Loop() {
				var wg sync.WaitGroup
				for t := range threads {
					wg.Go(func() { sums[t] += readLines(x[t*part : (t+1)*part]) })
				}
				wg.Wait()
			}
			if sums[0] == 1 {
				b.Log(sums)
			}
		})
	}
}

// readLines returns the sum of one float32 of every 64-byte line of x.
func readLines(x []float32) float32 {
	var s0, s1, s2, s3 float32
	for i := 0; i+64 <= len(x); i += 64 {
		s0 += x[i]
		s1 += x[i+16]
		s2 += x[i+32]
		s3 += x[i+48]
	}
	return s0 + s1 + s2 + s3
}
