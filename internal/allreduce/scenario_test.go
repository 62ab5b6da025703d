package allreduce_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/allreduce/allreducetest"
)

// faulty is the network of the fault tests: a fifth of the messages lost,
// a tenth duplicated, delays of up to 3 ticks.
var faulty = allreducetest.Options{Drop: 0.2, Duplicate: 0.1, MaxDelay: 3}

func newNetwork(t testing.TB, cfg allreduce.Config, opts allreducetest.Options, workers int) (*allreducetest.Network, []allreduce.WorkerID) {
	t.Helper()
	c := newCoordinator(t, cfg)
	n := allreducetest.New(c, cfg.Job, opts)
	return n, n.AddWorkers(workers)
}

// runRound starts round s and runs it to its result, which must be
// bit-identical to the reference, with no unexpected error on the way.
func runRound(t *testing.T, n *allreducetest.Network, s allreduce.RoundSpec, maxTicks int, hook func(tick int)) {
	t.Helper()
	if err := n.Start(s); err != nil {
		t.Fatal(err)
	}
	got, err := n.Run(maxTicks, hook)
	if err != nil {
		t.Fatal(err)
	}
	if want := allreducetest.Want(s); !sameBits(got, want) {
		t.Fatalf("round %d: result %v, want %v", s.Round, got, want)
	}
	if u := n.Stats().Unexpected; len(u) > 0 {
		t.Fatalf("unexpected errors: %v", u)
	}
}

func TestRoundsBitIdenticalOverNetwork(t *testing.T) {
	for _, net := range []struct {
		name string
		opts allreducetest.Options
	}{{"perfect", allreducetest.Options{}}, {"faulty", faulty}} {
		for _, w := range []int{1, 2, 3, 5, 8, 64} {
			for _, m := range []int{1, 2, 3, 7, 64, 1000} {
				t.Run(fmt.Sprintf("%s/W=%d/M=%d", net.name, w, m), func(t *testing.T) {
					opts := net.opts
					opts.Seed = uint64(1000*w + m)
					cfg := testConfig()
					cfg.HeartbeatTimeout = 20 // with drops, silence of 20 ticks is rare
					n, _ := newNetwork(t, cfg, opts, w)
					for round := uint64(1); round <= 2; round++ {
						runRound(t, n, allreduce.RoundSpec{Round: round, Kind: allreduce.KindGrad, Shards: m, VecLen: 3}, 2000, nil)
					}
					if st := n.Stats(); net.name == "perfect" && (st.Duplicates != 0 || st.Stale != 0) {
						t.Fatalf("perfect network: %+v", st)
					}
				})
			}
		}
	}
}

func TestDroppedContributionRecovered(t *testing.T) {
	for _, w := range []int{1, 3} {
		cfg := testConfig()
		cfg.HeartbeatTimeout = 1000 // only contributions are lost here
		n, ids := newNetwork(t, cfg, allreducetest.Options{Seed: 5}, w)
		s := spec(1, 16, 2)
		// Lose everything the workers send in the first ticks (heartbeats too,
		// harmless with this timeout): every first result is lost.
		runRound(t, n, s, 500, func(tick int) {
			for _, id := range ids {
				if tick < 3 {
					n.Isolate(id)
				} else {
					n.Heal(id)
				}
			}
		})
		evs := n.Events()
		if len(kinds(evs, allreduce.Resent))+len(kinds(evs, allreduce.Speculative)) == 0 {
			t.Fatalf("W=%d: recovered without re-issue? events %v", w, evs)
		}
	}
}

func TestKilledWorkerDeclaredDeadAndReissued(t *testing.T) {
	cfg := testConfig()
	n, ids := newNetwork(t, cfg, allreducetest.Options{Seed: 1}, 4)
	victim := ids[2]
	n.Kill(victim) // before it computes anything
	s := spec(1, 64, 4)
	runRound(t, n, s, 200, nil)
	dead := false
	for _, e := range n.Events() {
		dead = dead || (e.Kind == allreduce.WorkerDead && e.Worker == victim)
	}
	if !dead {
		t.Fatalf("%s never declared dead: %v", victim, n.Events())
	}
	if got := n.Computed(victim); got != 0 {
		t.Fatalf("killed worker computed %d blocks", got)
	}
	reissued := kinds(n.Events(), allreduce.Reissued)
	if len(reissued) == 0 {
		t.Fatal("no block re-issued")
	}
	if slices.Contains(n.C.Live(), victim) {
		t.Fatal("killed worker still live")
	}
	// It comes back for the next round.
	n.Restart(victim)
	for range 3 {
		n.Tick()
	}
	if !slices.Contains(n.C.Live(), victim) {
		t.Fatal("restarted worker not live")
	}
	runRound(t, n, spec(2, 64, 4), 200, nil)
	if n.Computed(victim) == 0 {
		t.Fatal("restarted worker got no work")
	}
}

func TestDeathDetectedAfterHeartbeatTimeout(t *testing.T) {
	cfg := testConfig()
	n, ids := newNetwork(t, cfg, allreducetest.Options{Seed: 2}, 2)
	if err := n.Start(spec(1, 1000, 2)); err != nil {
		t.Fatal(err)
	}
	n.Tick() // heartbeats sent in tick 1 arrive in tick 2
	n.Tick()
	n.Kill(ids[1])
	start := n.C.Now()
	for range 3 * cfg.HeartbeatTimeout {
		n.Tick()
		if len(kinds(n.Events(), allreduce.WorkerDead)) > 0 {
			break
		}
	}
	// The last heartbeat, sent in network tick start, reached the coordinator
	// in the next network tick, before its clock moved from start: the worker
	// was last seen at start.
	if got, want := n.C.Now()-start, int64(cfg.HeartbeatTimeout); got != want {
		t.Fatalf("declared dead %d ticks after its last heartbeat, timeout %d", got, want)
	}
}

func TestLateOriginalAndReissueCountOnce(t *testing.T) {
	cfg := testConfig()
	n, ids := newNetwork(t, cfg, allreducetest.Options{Seed: 3}, 3)
	late := ids[1]
	n.Hold(late) // its heartbeats and results wait: it is declared dead
	s := spec(1, 30, 5)
	runRound(t, n, s, 300, nil)
	if len(kinds(n.Events(), allreduce.WorkerDead)) != 1 {
		t.Fatalf("events %v", n.Events())
	}
	before, _ := n.C.Result()
	before = slices.Clone(before)
	n.Release(late) // the originals arrive after the re-issued copies
	for range 5 {
		n.Tick()
	}
	st := n.Stats()
	if st.Duplicates != n.Computed(late) || st.Duplicates == 0 {
		t.Fatalf("%d late originals computed, %d rejected as duplicates", n.Computed(late), st.Duplicates)
	}
	after, _ := n.C.Result()
	if !sameBits(before, after) {
		t.Fatal("late originals changed the result")
	}
	if !slices.Contains(n.C.Live(), late) {
		t.Fatal("released worker's heartbeats did not revive it")
	}
}

func TestStragglerSpeculation(t *testing.T) {
	cfg := testConfig()
	n, ids := newNetwork(t, cfg, allreducetest.Options{Seed: 4}, 4)
	slow := ids[0]
	n.Stall(slow, 1_000_000)
	s := spec(1, 64, 3)
	runRound(t, n, s, 100, nil)
	spec := kinds(n.Events(), allreduce.Speculative)
	if len(spec) == 0 {
		t.Fatal("no speculative copy")
	}
	if len(kinds(n.Events(), allreduce.WorkerDead)) != 0 {
		t.Fatal("a straggler that heartbeats was declared dead")
	}
	if n.Computed(slow) != 0 {
		t.Fatal("stalled worker computed")
	}
}

func TestJoinMidRound(t *testing.T) {
	cfg := testConfig()
	n, ids := newNetwork(t, cfg, allreducetest.Options{Seed: 6}, 2)
	s := spec(1, 40, 3)
	var joined []allreduce.WorkerID
	runRound(t, n, s, 300, func(tick int) {
		if tick == 0 {
			n.Kill(ids[0])
			n.Kill(ids[1])
		}
		if tick == 2 {
			joined = n.AddWorkers(1)
		}
	})
	if n.Computed(joined[0]) == 0 {
		t.Fatal("worker that joined mid-round computed nothing")
	}
}

func TestAbandonedRoundContributionsAreStale(t *testing.T) {
	cfg := testConfig()
	n, _ := newNetwork(t, cfg, allreducetest.Options{Seed: 7, MaxDelay: 5}, 3)
	if err := n.Start(spec(1, 64, 3)); err != nil {
		t.Fatal(err)
	}
	n.Tick()
	n.Tick() // round 1's results are computed and in flight
	runRound(t, n, spec(2, 64, 3), 300, nil)
	if n.Stats().Stale == 0 {
		t.Fatal("no stale contribution from the abandoned round")
	}
	if len(kinds(n.Events(), allreduce.Abandoned)) != 1 {
		t.Fatal("no Abandoned event")
	}
}

func TestIsolatedWorkerRejoins(t *testing.T) {
	cfg := testConfig()
	n, ids := newNetwork(t, cfg, allreducetest.Options{Seed: 8}, 3)
	runRound(t, n, spec(1, 30, 3), 300, func(tick int) {
		if tick == 0 {
			n.Isolate(ids[2])
		}
	})
	n.Heal(ids[2])
	for range 3 {
		n.Tick()
	}
	if !reflect.DeepEqual(n.C.Live(), ids) {
		t.Fatalf("live %v after heal", n.C.Live())
	}
	runRound(t, n, spec(2, 30, 3), 300, nil)
}

// TestSameInputsSameRun: the network and the coordinator are deterministic,
// so a run is a function of its seed.
func TestSameInputsSameRun(t *testing.T) {
	run := func() ([]allreduce.Event, allreducetest.Stats) {
		n, ids := newNetwork(t, testConfig(), allreducetest.Options{Seed: 9, Drop: 0.3, Duplicate: 0.2, MaxDelay: 4}, 5)
		runRound(t, n, spec(1, 100, 2), 2000, func(tick int) {
			if tick == 3 {
				n.Kill(ids[1])
				n.Stall(ids[3], 20)
			}
		})
		return n.Events(), n.Stats()
	}
	e1, s1 := run()
	e2, s2 := run()
	if !reflect.DeepEqual(e1, e2) || !reflect.DeepEqual(s1, s2) {
		t.Fatal("two runs with the same seed differ")
	}
}

// TestRandomFaultSchedules is the property test: under random networks and
// random kills, restarts, stalls, isolations and holds of every worker but
// one, every round completes and its result is bit-identical to the
// reference.
func TestRandomFaultSchedules(t *testing.T) {
	trials := 400
	if testing.Short() {
		trials = 40
	}
	randomFaultSchedules(t, trials, 8, 11)
}

// TestRandomFaultSchedulesManyWorkers is the same with up to 40 workers,
// so that rounds have several groups of up to 7.
func TestRandomFaultSchedulesManyWorkers(t *testing.T) {
	trials := 150
	if testing.Short() {
		trials = 15
	}
	randomFaultSchedules(t, trials, 40, 77)
}

// randomFaultSchedules runs trials of 1 to maxWorkers workers from seed.
func randomFaultSchedules(t *testing.T, trials, maxWorkers int, seed uint64) {
	seen := make(map[allreduce.EventKind]int)
	relayed := 0
	rnd := rand.New(rand.NewPCG(seed, 12))
	for trial := range trials {
		w := 1 + rnd.IntN(maxWorkers)
		m := 1 + rnd.IntN(200)
		opts := allreducetest.Options{
			Seed:      rnd.Uint64(),
			Drop:      0.3 * rnd.Float64(),
			Duplicate: 0.3 * rnd.Float64(),
			MaxDelay:  rnd.IntN(4),
		}
		cfg := testConfig()
		cfg.HeartbeatTimeout = 8 + rnd.IntN(8)
		cfg.GroupSize = []int{0, 0, 2, 3, 4, allreduce.GroupSqrt}[rnd.IntN(6)]
		n, ids := newNetwork(t, cfg, opts, w)
		faultRate := 0.2 * rnd.Float64()
		hook := func(int) {
			if rnd.Float64() >= faultRate || w == 1 {
				return
			}
			id := ids[1+rnd.IntN(w-1)] // ids[0] survives
			switch rnd.IntN(8) {
			case 0:
				n.Kill(id)
			case 1:
				n.Restart(id)
			case 2:
				n.Stall(id, rnd.IntN(30))
			case 3:
				n.Isolate(id)
			case 4:
				n.Heal(id)
			case 5:
				n.Hold(id)
			case 6:
				n.Release(id)
			case 7:
				n.Stall(ids[0], rnd.IntN(10)) // even the survivor straggles
			}
		}
		for round := uint64(1); round <= 3; round++ {
			s := allreduce.RoundSpec{Round: round, Kind: allreduce.KindEval, Shards: m, VecLen: 2}
			if err := n.Start(s); err != nil {
				t.Fatalf("trial %d (W=%d M=%d %+v): %v", trial, w, m, opts, err)
			}
			got, err := n.Run(5000, hook)
			if err != nil {
				t.Fatalf("trial %d (W=%d M=%d %+v) round %d: %v", trial, w, m, opts, round, err)
			}
			if want := allreducetest.Want(s); !sameBits(got, want) {
				t.Fatalf("trial %d round %d: result differs", trial, round)
			}
		}
		if u := n.Stats().Unexpected; len(u) > 0 {
			t.Fatalf("trial %d: unexpected errors %v", trial, errors.Join(u...))
		}
		relayed += n.Stats().Relayed
		for _, e := range n.Events() {
			seen[e.Kind]++
		}
	}
	// The schedules must have exercised every recovery path.
	for _, k := range []allreduce.EventKind{allreduce.WorkerDead, allreduce.WorkerJoined, allreduce.Reissued,
		allreduce.Speculative, allreduce.Resent, allreduce.Stale, allreduce.Duplicate} {
		if seen[k] == 0 {
			t.Errorf("no %v event in %d trials", k, trials)
		}
	}
	if relayed == 0 {
		t.Errorf("no contribution went through a relay in %d trials", trials)
	}
	t.Logf("events: %v, relayed %d", seen, relayed)
}
