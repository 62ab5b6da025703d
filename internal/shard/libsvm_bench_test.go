package shard

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
)

// genLIBSVM returns about size bytes of binary LIBSVM text: rows of ~40
// ascending indices below 10,000 with 6-digit values, in the style of the
// LIBSVM data page files.
func genLIBSVM(size int) []byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < size {
		if rnd.IntN(2) == 0 {
			b.WriteString("+1")
		} else {
			b.WriteString("-1")
		}
		idx := 0
		for range 40 {
			idx += 1 + rnd.IntN(250)
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(idx))
			b.WriteByte(':')
			b.WriteString(strconv.FormatFloat(rnd.Float64(), 'f', 6, 64))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func BenchmarkLoadLIBSVM(b *testing.B) {
	data := genLIBSVM(8 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ReadLIBSVM(bytes.NewReader(data), "bench", ReadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
