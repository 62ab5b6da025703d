package allreduce

import (
	"fmt"
	"math/bits"
	"testing"
)

// TestStoredNodesStayFew checks the memory bound of the eager merge: with
// contributions arriving left to right at most one node per tree level is
// stored, and nothing but the result survives completion.
func TestStoredNodesStayFew(t *testing.T) {
	const m = 64
	cfg := DefaultConfig()
	cfg.Job = "j"
	c, err := NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		c.Join(WorkerID(fmt.Sprintf("w%02d", i)))
	}
	if err := c.Start(RoundSpec{Round: 1, Kind: KindGrad, Shards: m, VecLen: 1}); err != nil {
		t.Fatal(err)
	}
	limit := bits.Len(uint(m)) // levels of the tree
	for i := range m {
		err := c.Deliver(Contribution{Job: "j", Round: 1, Worker: WorkerID(fmt.Sprintf("w%02d", i)),
			Range: Range{i, i + 1}, Vec: []float64{float64(i)}})
		if err != nil {
			t.Fatal(err)
		}
		if i < m-1 && len(c.r.nodes.stored) > limit {
			t.Fatalf("after leaf %d: %d nodes stored, bound %d", i, len(c.r.nodes.stored), limit)
		}
	}
	if c.r.nodes.stored != nil {
		t.Fatalf("%d nodes still stored after completion", len(c.r.nodes.stored))
	}
	if v, ok := c.Result(); !ok || v[0] != m*(m-1)/2 {
		t.Fatalf("result %v", v)
	}
}
