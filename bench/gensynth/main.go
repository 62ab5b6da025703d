// Command gensynth writes the benchmark's synthetic data: the shape of
// ../shared/bench/gen_synth.py (N × d dense float32 features, iid N(0,1);
// a binary, a 10-class and a 10-label target drawn from linear models) from
// its own fixed-seed generator, as LIBSVM text the trainer reads.
//
//	gensynth -out DIR [-n 200000] [-d 256] [-seed 20240601]
//
// writes DIR/synth_N{n}_d{d}.{bin,cls,ml}.svm, skipping files that exist.
// With s = 2/√d and w, W, V standard normal (d, d×10, d×10):
//
//	bin: y = +1 with probability σ(s·x·w), else −1
//	cls: y = argmax_k (s·x·W_k + Gumbel noise), a draw from softmax(s·x·W)
//	ml:  label k present with probability σ(s·x·V_k − 1)
//
// Labels are drawn, so no problem is separable. Feature values are written
// in the shortest form that reads back as the same float32.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

func main() {
	out := flag.String("out", "", "output directory (required)")
	n := flag.Int("n", 200_000, "rows")
	d := flag.Int("d", 256, "features")
	seed := flag.Uint64("seed", 20240601, "seed of the generator")
	flag.Parse()
	if *out == "" || *n < 1 || *d < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *n, *d, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gensynth:", err)
		os.Exit(1)
	}
}

// classes is the number of classes and of labels.
const classes = 10

func run(dir string, n, d int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, fmt.Sprintf("synth_N%d_d%d", n, d))
	paths := map[string]string{"bin": base + ".bin.svm", "cls": base + ".cls.svm", "ml": base + ".ml.svm"}
	missing := false
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	rnd := rand.New(rand.NewPCG(seed, 1))
	normals := func(k int) []float64 {
		v := make([]float64, k)
		for i := range v {
			v[i] = rnd.NormFloat64()
		}
		return v
	}
	w, W, V := normals(d), normals(d*classes), normals(d*classes)
	s := 2 / math.Sqrt(float64(d))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rnd.NormFloat64())
	}
	yBin := make([]bool, n)
	yCls := make([]int, n)
	yML := make([][classes]bool, n)
	for i := range n {
		row := x[i*d : (i+1)*d]
		zb := s * dot(row, w, 1, 0)
		yBin[i] = rnd.Float64() < sigmoid(zb)
		best, arg := math.Inf(-1), 0
		for k := range classes {
			g := -math.Log(-math.Log(1 - rnd.Float64())) // Gumbel(0, 1)
			if z := s*dot(row, W, classes, k) + g; z > best {
				best, arg = z, k
			}
		}
		yCls[i] = arg
		for k := range classes {
			yML[i][k] = rnd.Float64() < sigmoid(s*dot(row, V, classes, k)-1)
		}
	}
	label := map[string]func(i int, b []byte) []byte{
		"bin": func(i int, b []byte) []byte {
			if yBin[i] {
				return append(b, "+1"...)
			}
			return append(b, "-1"...)
		},
		"cls": func(i int, b []byte) []byte { return strconv.AppendInt(b, int64(yCls[i]), 10) },
		"ml": func(i int, b []byte) []byte {
			first := true
			for k, on := range yML[i] {
				if on {
					if !first {
						b = append(b, ',')
					}
					b, first = strconv.AppendInt(b, int64(k), 10), false
				}
			}
			return b
		},
	}
	for _, task := range []string{"bin", "cls", "ml"} {
		if _, err := os.Stat(paths[task]); err == nil {
			continue
		}
		if err := write(paths[task], x, n, d, label[task]); err != nil {
			return err
		}
		fmt.Println(paths[task])
	}
	return nil
}

// dot returns Σ_j x_j·w[j·stride+k].
func dot(x []float32, w []float64, stride, k int) float64 {
	s := 0.0
	for j, v := range x {
		s += float64(v) * w[j*stride+k]
	}
	return s
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// write writes the rows as LIBSVM text to path, through a temporary file
// renamed at the end so that a partial file is never left behind.
func write(path string, x []float32, n, d int, label func(int, []byte) []byte) (err error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	var b []byte
	for i := range n {
		b = label(i, b[:0])
		for j, v := range x[i*d : (i+1)*d] {
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(j+1), 10)
			b = append(b, ':')
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
		}
		b = append(b, '\n')
		if _, err = bw.Write(b); err != nil {
			return err
		}
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
