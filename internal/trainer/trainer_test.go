package trainer

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/loss"
	"github.com/dptrain/dptrain/internal/model"
	"github.com/dptrain/dptrain/internal/modelfile"
	"github.com/dptrain/dptrain/internal/natsbus"
	"github.com/dptrain/dptrain/internal/optim"
	"github.com/dptrain/dptrain/internal/shard"
)

// writeLIBSVM writes n rows of a random sparse classification problem with
// the given number of classes (2 = binary ±1 labels) and returns the path.
func writeLIBSVM(t testing.TB, dir, name string, n, d, classes int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	w := make([][]float64, classes)
	for c := range w {
		w[c] = make([]float64, d)
		for j := range w[c] {
			w[c][j] = rng.NormFloat64()
		}
	}
	path := filepath.Join(dir, name)
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	bw := bufio.NewWriter(fh)
	for i := 0; i < n; i++ {
		x := map[int]float64{}
		for q := 0; q < 1+rng.IntN(6); q++ {
			x[rng.IntN(d)] = float64(rng.IntN(1000)) / 997
		}
		best, bestScore := 0, -1e300
		for c := range w {
			s := rng.NormFloat64()
			for j, v := range x {
				s += w[c][j] * v
			}
			if s > bestScore {
				best, bestScore = c, s
			}
		}
		label := fmt.Sprint(best + 1)
		if classes == 2 {
			label = map[int]string{0: "-1", 1: "+1"}[best]
		}
		fmt.Fprint(bw, label)
		for j := 0; j < d; j++ {
			if v, ok := x[j]; ok {
				fmt.Fprintf(bw, " %d:%g", j+1, v)
			}
		}
		fmt.Fprintln(bw)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

// cluster is an embedded NATS server with a coordinator connection.
type cluster struct {
	srv *natsbus.Server
	bus *natsbus.Bus
	log *zap.Logger
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	srv, err := natsbus.StartServer(natsbus.ServerConfig{Listen: "127.0.0.1:-1", DataDir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 1 << 30, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	c := &cluster{srv: srv, log: log}
	c.bus = c.connect(t, "coordinator")
	return c
}

func (c *cluster) connect(t testing.TB, name string) *natsbus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := natsbus.Connect(ctx, natsbus.ConnConfig{URL: c.srv.ClientURL(), Name: name, MaxReconnects: -1,
		ConnectTimeout: 5 * time.Second, ReconnectWait: 50 * time.Millisecond}, c.log, natsbus.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// startWorkers runs workers of the default configuration until the test
// ends.
func (c *cluster) startWorkers(t testing.TB, ctx context.Context, names ...string) {
	t.Helper()
	c.startWorkersWith(t, ctx, DefaultWorkerConfig, names...)
}

// startWorkersWith runs workers configured by cfg until the test ends.
func (c *cluster) startWorkersWith(t testing.TB, ctx context.Context, cfg func(name string) WorkerConfig, names ...string) {
	t.Helper()
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	for _, name := range names {
		w, err := NewWorker(cfg(name), c.connect(t, name), c.log, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(wctx); err != nil {
				t.Errorf("worker %s: %v", name, err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// coordinator starts a coordinator of prep's job on c with the default
// configuration, closed when the test ends.
func (c *cluster) coordinator(t testing.TB, prep *Prepared) *Coordinator {
	t.Helper()
	coord, err := NewCoordinator(DefaultCoordinatorConfig(), prep.Spec, prep.Prob, c.bus, c.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coord.Close)
	return coord
}

// sharing configures workers that use the datasets sh.
func sharing(sh *SharedData) func(name string) WorkerConfig {
	return func(name string) WorkerConfig {
		wc := DefaultWorkerConfig(name)
		wc.Shared = sh
		return wc
	}
}

func workerNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("w%d", i)
	}
	return names
}

// trainDistributed trains prep over an embedded NATS server with n workers.
func trainDistributed(t *testing.T, prep *Prepared, tc TrainConfig, n int) *Result {
	t.Helper()
	res, _ := trainGroups(t, prep, tc, n, 0)
	return res
}

// trainGroups is trainDistributed with the workers in groups of
// groupSize (CoordinatorConfig.GroupSize); it also returns the number of
// contributions the coordinator added.
func trainGroups(t *testing.T, prep *Prepared, tc TrainConfig, n, groupSize int) (*Result, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newCluster(t)
	cfg := DefaultCoordinatorConfig()
	cfg.GroupSize = groupSize
	coord, err := NewCoordinator(cfg, prep.Spec, prep.Prob, c.bus, c.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coord.Close)
	c.startWorkers(t, ctx, workerNames(n)...)
	res := trainWhenJoined(t, ctx, coord, prep, tc, n)
	return res, coord.Stats.Contributions
}

// trainWhenJoined waits until n workers have joined coord, then trains prep
// on them from the model's initial θ.
func trainWhenJoined(t testing.TB, ctx context.Context, coord *Coordinator, prep *Prepared, tc TrainConfig, n int) *Result {
	t.Helper()
	if err := coord.WaitForWorkers(ctx, n, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := Train(ctx, coord, prep.Prob, tc, initTheta(t, prep))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func initTheta(t testing.TB, prep *Prepared) []float64 {
	theta := make([]float64, prep.Prob.P)
	prep.Prob.Model.Init(theta, prep.Spec.Seed)
	return theta
}

func trainLocal(t *testing.T, prep *Prepared, tc TrainConfig) *Result {
	t.Helper()
	l, err := NewLocal(prep.Prob, prep.Train, prep.Test)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Train(context.Background(), l, prep.Prob, tc, initTheta(t, prep))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func prepareSynthetic(t *testing.T, classes int, jc JobConfig, microShards int) *Prepared {
	t.Helper()
	dir := t.TempDir()
	train := writeLIBSVM(t, dir, "train.svm", 1500, 40, classes, 1)
	test := writeLIBSVM(t, dir, "test.svm", 300, 40, classes, 2)
	prep, err := Prepare(DataConfig{Train: train, Test: test, Scale: "maxabs", MicroShards: microShards}, jc)
	if err != nil {
		t.Fatal(err)
	}
	return prep
}

// TestDistributedMatchesLocal is promise 2: the parameters after training
// are the same bits for 1, 2, 3 and 5 workers over NATS, for 5 workers
// under group leaders (groups of 2, and of ⌈√5⌉ = 3), and for the
// single-process reference.
func TestDistributedMatchesLocal(t *testing.T) {
	lbfgs := optim.DefaultLBFGSConfig()
	for _, tc := range []struct {
		name    string
		classes int
		jc      JobConfig
		train   TrainConfig
	}{
		{"binary-lbfgs", 2, JobConfig{Seed: 3}, TrainConfig{Optimizer: "lbfgs", Epochs: 8, L2: 1e-3, LBFGS: lbfgs, EvalEvery: 4, HasTest: true}},
		{"softmax-adam", 4, JobConfig{Seed: 5, BatchSize: 128, LossCfg: loss.Config{Smoothing: 0.1}},
			TrainConfig{Optimizer: "adam", Epochs: 2, L2: 1e-4, Schedule: optim.Schedule{Kind: "constant", Base: 0.05}, EvalEvery: 1, HasTest: true}},
		{"mlp-momentum", 3, JobConfig{Seed: 9, BatchSize: 200, Model: model.Config{Kind: "mlp", Hidden: []int{8}, Activation: "tanh"}},
			TrainConfig{Optimizer: "momentum", Epochs: 1, L2: 1e-4, Schedule: optim.Schedule{Kind: "constant", Base: 0.1}, Optim: optim.Config{Momentum: 0.9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.jc.Model.Kind == "" {
				tc.jc.Model.Kind = "linear"
			}
			prep := prepareSynthetic(t, tc.classes, tc.jc, 13)
			want := trainLocal(t, prep, tc.train)
			wantHash := modelfile.ParamsSHA256(want.Theta)
			type run struct{ workers, groupSize int }
			runs := []run{{1, 0}, {2, 0}, {3, 0}, {5, 0}, {5, 2}, {5, allreduce.GroupSqrt}}
			if testing.Short() {
				runs = []run{{2, 0}, {3, 0}, {3, 2}}
			}
			flat := map[int]uint64{} // contributions without groups, by workers
			for _, r := range runs {
				got, contributions := trainGroups(t, prep, tc.train, r.workers, r.groupSize)
				if h := modelfile.ParamsSHA256(got.Theta); h != wantHash {
					t.Errorf("%+v: params_sha256 %s, single process %s", r, h, wantHash)
				}
				if got.Steps != want.Steps || got.Objective != want.Objective {
					t.Errorf("%+v: %d steps J=%v, single process %d steps J=%v", r, got.Steps, got.Objective, want.Steps, want.Objective)
				}
				if r.groupSize == 0 {
					flat[r.workers] = contributions
				} else if contributions >= flat[r.workers] {
					t.Errorf("%+v: the coordinator added %d contributions, %d without groups", r, contributions, flat[r.workers])
				}
			}
		})
	}
}

// TestObjectStoreData: workers that cannot read the training file fetch
// their micro-shards from the object store and compute the same bits.
func TestObjectStoreData(t *testing.T) {
	prep := prepareSynthetic(t, 2, JobConfig{Seed: 1, Model: model.Config{Kind: "linear"}}, 9)
	tc := TrainConfig{Optimizer: "lbfgs", Epochs: 5, L2: 1e-3, LBFGS: optim.DefaultLBFGSConfig(), HasTest: true}
	want := modelfile.ParamsSHA256(trainLocal(t, prep, tc).Theta)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newCluster(t)
	if _, err := PublishShards(ctx, c.bus, prep); err != nil {
		t.Fatal(err)
	}
	// Workers on another machine: the path does not exist there.
	prep.Spec.Train.Path = filepath.Join(t.TempDir(), "absent", "train.svm")
	prep.Spec.Test.Path = ""
	coord := c.coordinator(t, prep)
	c.startWorkers(t, ctx, "far-0", "far-1", "far-2")
	res := trainWhenJoined(t, ctx, coord, prep, tc, 3)
	if got := modelfile.ParamsSHA256(res.Theta); got != want {
		t.Errorf("object-store workers: params_sha256 %s, single process %s", got, want)
	}
}

// TestSharedData: workers given the coordinator's datasets (workers in its
// process) use them, without the file or the object store, and compute the
// same bits; datasets that do not fit the job are refused with a clear
// error.
func TestSharedData(t *testing.T) {
	prep := prepareSynthetic(t, 3, JobConfig{Seed: 2, BatchSize: 100, Model: model.Config{Kind: "linear"}}, 7)
	tc := TrainConfig{Optimizer: "adam", Epochs: 1, L2: 1e-4, Schedule: optim.Schedule{Kind: "constant", Base: 0.05}, EvalEvery: 1, HasTest: true}
	want := modelfile.ParamsSHA256(trainLocal(t, prep, tc).Theta)
	// Nothing else to read the data from.
	prep.Spec.Train.Path = filepath.Join(t.TempDir(), "absent", "train.svm")
	prep.Spec.Test.Path = ""

	t.Run("same bits", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := newCluster(t)
		coord := c.coordinator(t, prep)
		c.startWorkersWith(t, ctx, sharing(&SharedData{Job: prep.Spec.Job, Train: prep.Train, Test: prep.Test}), "local-0", "local-1")
		res := trainWhenJoined(t, ctx, coord, prep, tc, 2)
		if got := modelfile.ParamsSHA256(res.Theta); got != want {
			t.Errorf("workers on shared data: params_sha256 %s, single process %s", got, want)
		}
	})
	t.Run("rows that do not fit", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := newCluster(t)
		coord := c.coordinator(t, prep)
		c.startWorkersWith(t, ctx, sharing(&SharedData{Job: prep.Spec.Job, Train: prep.Test, Test: prep.Test}), "local-0")
		err := coord.WaitForWorkers(ctx, 1, 20*time.Second)
		if err == nil || !strings.Contains(err.Error(), "shared training set") {
			t.Fatalf("a worker with the wrong shared rows: %v", err)
		}
	})
}

// TestBadDataStopsJob: a worker whose copy of the data is bad reports it
// and the coordinator stops with the worker's error instead of waiting.
func TestBadDataStopsJob(t *testing.T) {
	prep := prepareSynthetic(t, 2, JobConfig{Seed: 1, Model: model.Config{Kind: "linear"}}, 4)
	// The worker sees a different file at the same path with no checksum
	// to tell: a malformed row.
	bad := filepath.Join(t.TempDir(), "bad.svm")
	if err := os.WriteFile(bad, []byte("+1 1:0.5\n-1 3:abc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prep.Spec.Train.Path, prep.Spec.Train.SHA256 = bad, ""
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newCluster(t)
	coord := c.coordinator(t, prep)
	c.startWorkers(t, ctx, "w0")
	err := coord.WaitForWorkers(ctx, 1, 20*time.Second)
	if err == nil {
		t.Fatal("the job started with a worker whose data is bad")
	}
	if want := "bad.svm:2"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

// A block computed with the model's own gradient order (model.GradOrder:
// the linear model's ∂W output-major on dense rows) and put back in θ's
// order once has the bits of the same block summed in θ's order leaf by
// leaf: for full-batch and mini-batch rounds, several blocks, and one and
// several outputs.
func TestPermutedBlockSameBits(t *testing.T) {
	for _, classes := range []int{2, 5} {
		dir := t.TempDir()
		prep, err := Prepare(DataConfig{Train: writeLIBSVM(t, dir, "train.svm", 900, 37, classes, 3), MicroShards: 11,
			Read: shard.ReadOptions{Storage: shard.StorageDense}}, JobConfig{Seed: 4, BatchSize: 120, Model: model.Config{Kind: "linear"}})
		if err != nil {
			t.Fatal(err)
		}
		prob, set := prep.Prob, wholeSet(prep.Train, prep.Spec.Train.Shards)
		if got, want := prob.Model.(model.GradOrder).Permutes(prep.Train), classes > 2; got != want {
			t.Fatalf("%d classes: Permutes = %v, want %v (dense storage: %v)", classes, got, want, !prep.Train.X.Sparse())
		}
		theta := initTheta(t, prep)
		for i := range theta {
			theta[i] = float64(i%13-6) / 50
		}
		m, _ := prob.NewModel()
		for _, epoch := range []int{-1, 0, 1} {
			for _, block := range []allreduce.Range{{Lo: 0, Hi: 11}, {Lo: 0, Hi: 8}, {Lo: 8, Hi: 10}, {Lo: 10, Hi: 11}} {
				var sc scratch
				got, err := computeBlock(context.Background(), prob, m, &sc, set, allreduce.KindGrad, epoch, 3, theta, block, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				// The reference: every leaf in θ's order.
				var ref scratch
				want := make([]float64, prob.VecLen(allreduce.KindGrad))
				var sched *shard.Schedule
				if epoch >= 0 {
					sched = &shard.Schedule{Seed: prob.Spec.Seed, Shards: set.ranges, BatchSize: prob.Spec.BatchSize}
				}
				ref.summer.SumInto(want, block, len(set.ranges), func(i int, v []float64) {
					var index []int32
					if sched != nil {
						index = ref.batches.Batch(*sched, epoch, 3%sched.StepsPerEpoch(), i)
					}
					rows, err := set.rows(context.Background(), i, index)
					if err != nil {
						t.Fatal(err)
					}
					prob.Leaf(v, allreduce.KindGrad, m, nil, theta, rows)
				})
				for i := range want {
					if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%d classes, epoch %d, block %v: [%d] = %v, in θ's order %v", classes, epoch, block, i, got[i], want[i])
					}
				}
			}
		}
	}
}
