package shard

import (
	"bytes"
	"testing"
)

func FuzzARFF(f *testing.F) {
	for _, s := range []string{
		arffHeader + "1.5,2,1,3,0,1\n% c\n\n-1,0,0,4,1,0\n",
		arffHeader + "{0 1.5,2 1,3 3}\n{4 1, 1 -2}\n{}\n",
		arffHeader + "{0 1,0 2}\n{6 1}\n{0 1}, {3}\n",
		"@relation r\n@attribute a numeric\n@attribute class {pos,neg}\n@data\n1,neg\n3,pos\n{0 2}\n",
		"@relation r\n@attribute a numeric\n@attribute l {0,1}\n@data\n?,1\n4,0\n",
	} {
		f.Add([]byte(s), uint8(0), false)
		f.Add([]byte(s), uint8(2), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, skipBad bool) {
		opt := ReadOptions{SkipBad: skipBad, Labels: int(mode % 4), Missing: MissingPolicy(mode / 4 % 3)}
		if mode&0x80 != 0 {
			opt.LabelNames = []string{"labB", `lab"A`}
		}
		d, st, err := ReadARFF(bytes.NewReader(data), "fuzz", opt)
		checkFuzzResult(t, d, st, err)
	})
}
