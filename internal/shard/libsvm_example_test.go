package shard_test

import (
	"fmt"
	"strings"

	"github.com/dptrain/dptrain/internal/shard"
)

// A training file fixes the classes; the test file is read with them, the
// two are aligned to the same columns, and maxabs scaling fitted on the
// training set is applied to both.
func ExampleReadLIBSVM() {
	train, _, err := shard.ReadLIBSVM(strings.NewReader("+1 1:2 3:4\n-1 2:1\n-1 1:-8\n"), "train", shard.ReadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	test, _, err := shard.ReadLIBSVM(strings.NewReader("1 4:1\n"), "test",
		shard.ReadOptions{Task: train.Task, Classes: train.Classes})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := shard.Align(train, test); err != nil {
		fmt.Println(err)
		return
	}
	s, _ := shard.FitScaler(shard.ScaleMaxAbs, train)
	_ = s.Apply(train)
	_ = s.Apply(test)
	fmt.Println(train.Task, train.Classes, train.Y, train.X.Cols, s.Scale)

	_, _, err = shard.ReadLIBSVM(strings.NewReader("+1 1:1\n-1 0:1\n"), "a9a", shard.ReadOptions{})
	fmt.Println(err)
	// Output:
	// binary [-1 +1] [1 0 0] 4 [8 1 4 1]
	// shard: a9a:2: feature index "0": expected a 1-based index ≥ 1
}
