package allreducetest_test

import (
	"math"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/allreduce/allreducetest"
)

func TestLeafDeterministicAndSpread(t *testing.T) {
	a, b := allreducetest.Leaf(3, 5, 1000), allreducetest.Leaf(3, 5, 1000)
	lo, hi := math.Inf(1), 0.0
	neg := 0
	for j := range a {
		if math.Float64bits(a[j]) != math.Float64bits(b[j]) {
			t.Fatalf("element %d differs between calls", j)
		}
		x := math.Abs(a[j])
		lo, hi = min(lo, x), max(hi, x)
		if a[j] < 0 {
			neg++
		}
	}
	// Magnitudes must span many binades so that addition order matters.
	if hi/lo < 1<<40 || neg < 400 || neg > 600 {
		t.Fatalf("magnitudes %g..%g, %d negative of 1000", lo, hi, neg)
	}
	if c := allreducetest.Leaf(4, 5, 1); c[0] == a[0] {
		t.Fatal("leaf does not depend on the round")
	}
}

func newNet(t *testing.T, opts allreducetest.Options) *allreducetest.Network {
	t.Helper()
	cfg := allreduce.DefaultConfig()
	cfg.Job = "j"
	c, err := allreduce.NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := allreducetest.New(c, "j", opts)
	n.AddWorkers(3)
	return n
}

func TestNetworkFaultRates(t *testing.T) {
	s := allreduce.RoundSpec{Round: 1, Kind: allreduce.KindGrad, Shards: 9, VecLen: 2}

	perfect := newNet(t, allreducetest.Options{})
	if err := perfect.Start(s); err != nil {
		t.Fatal(err)
	}
	if _, err := perfect.Run(10, nil); err != nil {
		t.Fatal(err)
	}
	if st := perfect.Stats(); st.Dropped != 0 || st.Duplicated != 0 || st.Sent == 0 || st.Accepted == 0 {
		t.Fatalf("perfect network stats %+v", st)
	}

	dead := newNet(t, allreducetest.Options{Drop: 1})
	if err := dead.Start(s); err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Run(10, nil); err == nil {
		t.Fatal("a round completed on a network that drops everything")
	}
	if st := dead.Stats(); st.Dropped != st.Sent || st.Accepted != 0 {
		t.Fatalf("drop-all stats %+v", st)
	}

	dup := newNet(t, allreducetest.Options{Duplicate: 1})
	if err := dup.Start(s); err != nil {
		t.Fatal(err)
	}
	if _, err := dup.Run(10, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		dup.Tick() // the second copies arrive
	}
	if st := dup.Stats(); st.Duplicated != st.Sent || st.Duplicates != st.Accepted {
		t.Fatalf("duplicate-all stats %+v", st)
	}
}
