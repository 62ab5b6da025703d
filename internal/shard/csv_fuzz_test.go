package shard

import (
	"bytes"
	"testing"
)

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"2,2,0,3\n3,3,3,2\n1,0,?,1\n",              // dermatology, missing
		"1\t0.869\t-0.635\n0\t0.908\t0.329\n",      // higgs TSV
		"a,class,b\n1,yes,2\n3,no,4\n",             // header
		"\"f 1\",\"l\"\n1.5, \"x\"\n2.5 , \"y\"\n", // quotes
		"u v w\n1  2 1\n  3 4 0\n",                 // whitespace
		"1,,0\n,4,1\n3,8,0\n",
		"1,2,0\n3,\"4,1\n",
	} {
		f.Add([]byte(s), uint8(0), false)
		f.Add([]byte(s), uint8(7), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, skipBad bool) {
		opt := ReadOptions{
			SkipBad: skipBad,
			Missing: MissingPolicy(mode % 3),
			Header:  HeaderMode(mode / 3 % 3),
		}
		if mode&0x40 != 0 {
			opt.LabelColumn = "0"
		}
		d, st, err := ReadCSV(bytes.NewReader(data), "fuzz", opt)
		checkFuzzResult(t, d, st, err)
	})
}
