package allreduce_test

import (
	"fmt"

	"github.com/dptrain/dptrain/internal/allreduce"
)

// Example runs one round by hand: two workers, five micro-shards whose
// contributions are the vectors (i, 1), reduced along the fixed tree.
func Example() {
	cfg := allreduce.DefaultConfig()
	cfg.Job = "demo"
	c, err := allreduce.NewCoordinator(cfg)
	if err != nil {
		panic(err)
	}
	c.Join("w1")
	c.Join("w0")
	spec := allreduce.RoundSpec{Round: 1, Kind: allreduce.KindGrad, Shards: 5, VecLen: 2}
	if err := c.Start(spec); err != nil {
		panic(err)
	}
	plan := c.Outbox()[0]
	leaf := func(i int) []float64 { return []float64{float64(i), 1} }
	for _, a := range plan.Assign {
		w := allreduce.NewWorker("demo", a.Worker)
		if _, err := w.Apply(&plan); err != nil {
			panic(err)
		}
		for r, ok := w.Next(); ok; r, ok = w.Next() {
			v := make([]float64, spec.VecLen)
			allreduce.TreeSum(v, r, spec.Shards, leaf)
			fmt.Printf("%s sends %v = %v\n", a.Worker, r, v)
			if err := c.Deliver(allreduce.Contribution{Job: "demo", Round: 1, Worker: a.Worker, Range: r, Vec: v}); err != nil {
				panic(err)
			}
			w.Sent(1, r)
		}
	}
	sum, ok := c.Result()
	fmt.Println(sum, ok)
	// Output:
	// w0 sends [0,2) = [1 2]
	// w1 sends [2,4) = [5 2]
	// w1 sends [4,5) = [4 1]
	// [10 5] true
}

// ExampleRelay is the same round with the two workers in one group
// (Config.GroupSize): w1 sends its blocks to its leader w0, whose relay
// adds the group's blocks along the tree and hands the coordinator one
// vector, the root, with the same bits.
func ExampleRelay() {
	cfg := allreduce.DefaultConfig()
	cfg.Job, cfg.GroupSize = "demo", 2
	c, err := allreduce.NewCoordinator(cfg)
	if err != nil {
		panic(err)
	}
	c.Join("w1")
	c.Join("w0")
	spec := allreduce.RoundSpec{Round: 1, Kind: allreduce.KindGrad, Shards: 5, VecLen: 2}
	if err := c.Start(spec); err != nil {
		panic(err)
	}
	plan := c.Outbox()[0]
	leader := allreduce.NewRelay("demo", "w0")
	if _, err := leader.Apply(&plan); err != nil {
		panic(err)
	}
	leaf := func(i int) []float64 { return []float64{float64(i), 1} }
	for _, a := range plan.Assign {
		for _, r := range a.Ranges {
			v := make([]float64, spec.VecLen)
			allreduce.TreeSum(v, r, spec.Shards, leaf)
			fmt.Printf("%s sends %v = %v to %s\n", a.Worker, r, v, plan.Route(a.Worker, r))
			if err := leader.Add(allreduce.Contribution{Job: "demo", Round: 1, Worker: a.Worker, Range: r, Vec: v}); err != nil {
				panic(err)
			}
		}
	}
	for _, x := range leader.Outbox() {
		fmt.Printf("%s hands on %v = %v\n", x.Worker, x.Range, x.Vec)
		if err := c.Deliver(x); err != nil {
			panic(err)
		}
	}
	sum, ok := c.Result()
	fmt.Println(sum, ok)
	// Output:
	// w0 sends [0,2) = [1 2] to w0
	// w1 sends [2,4) = [5 2] to w0
	// w1 sends [4,5) = [4 1] to w0
	// w0 hands on [0,5) = [10 5]
	// [10 5] true
}
