package shard

import (
	"bytes"
	"errors"
	"testing"
)

// checkFuzzResult asserts the contract of any reader on arbitrary input:
// an error is reported as such (never a panic), and a dataset satisfies
// the structural invariants with stats that agree with it.
func checkFuzzResult(t *testing.T, d *Dataset, st LoadStats, err error) {
	t.Helper()
	if err != nil {
		if d != nil {
			t.Fatalf("dataset returned with error %v", err)
		}
		var pe *ParseError
		if errors.As(err, &pe) && pe.File == "" {
			t.Fatalf("ParseError without a file name: %v", err)
		}
		return
	}
	if err := checkInvariants(d); err != nil {
		t.Fatalf("invariant: %v", err)
	}
	if st.Rows != d.Rows() || st.Sparse != d.X.Sparse() || st.SkippedRows < len(st.SkippedSamples) {
		t.Fatalf("stats %+v for %d rows (sparse %v)", st, d.Rows(), d.X.Sparse())
	}
}

func FuzzLIBSVM(f *testing.F) {
	for _, s := range []string{
		"+1 3:1 10:1 \n-1 \n-1 2:1\n\n",    // a9a/w8a trailing spaces, blank lines, empty rows
		"-1.0 1:0.5 13:0.0\n1.0 2:-0.25\n", // ijcnn1 float labels, explicit zero
		"1 1:1\n0 2:1\n",                   // mushrooms 0/1
		"105 55197:0.01\n1 1:0.2\n3 7:1\n", // sector class ids
		"1,3 1:1\n 2:1\n4:1 5:2\n",         // delicious empty label lists
		"# c\r\n+1 qid:3 5:2\t2:1 # t\r\n-1\t1:3\r\n",
		"+1 0:1\n-1 1:nan\n+1 1:1e39\n",
		"+1 3:1 1:1 3:2\n",
	} {
		f.Add([]byte(s), false, uint8(0))
		f.Add([]byte(s), true, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, skipBad bool, numLabels uint8) {
		opt := ReadOptions{SkipBad: skipBad, NumLabels: int(numLabels % 8)}
		d, st, err := ReadLIBSVM(bytes.NewReader(data), "fuzz", opt)
		checkFuzzResult(t, d, st, err)
	})
}
