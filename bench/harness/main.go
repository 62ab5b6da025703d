// Command harness runs the performance benchmark of issue 7: the project's
// trainer (2 local workers over the embedded NATS server) against PyTorch
// DistributedDataParallel with the gloo backend (2 processes × 1 thread,
// ../shared/bench/bench_torch.py) on the same workload shape, the two
// alternated round by round, and prints a table of medians and ratios.
//
//	harness -data DIR -trainer NAME=COORDINATOR_BINARY [-trainer ...] [-rounds 3]
//	        [-torch ../shared/bench] [-results FILE]
//
// DIR holds synth_N200000_d256.{bin,cls,ml}.svm (bench/gensynth) and, for
// PyTorch, synth_N200000_d256.npz (gen_synth.py); the PyTorch runs are
// skipped when python3 cannot import torch and numpy.
//
// Workloads, as in bench_torch.py: logistic (binary, 1 logit), softmax10
// (10 classes), multilabel10 (10 sigmoid labels); "full" is one gradient
// step over all rows per epoch (each worker its half: --optimizer sgd with
// --batch-size = rows), "sgd" steps of 1024 rows per worker (--batch-size
// 2048 with 2 workers). The trainer's epoch time is the median of its
// epochs after the first (warm-up); PyTorch reports its own median.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type trainerFlag []string

func (t *trainerFlag) String() string     { return strings.Join(*t, ",") }
func (t *trainerFlag) Set(v string) error { *t = append(*t, v); return nil }

type task struct {
	name, file, taskName, loss string
	extra                      []string
}

var tasks = []task{
	{"logistic", "bin", "binary", "logistic", nil},
	{"softmax10", "cls", "multiclass", "softmax", nil},
	{"multilabel10", "ml", "multilabel", "sigmoid", []string{"--labels", "10"}},
}

type regime struct {
	name   string
	batch  int // examples per step over both workers; 0: all rows
	epochs int // the first is a warm-up
}

var regimes = []regime{{"full", 0, 12}, {"sgd", 2048, 8}}

// result is one measured epoch time.
type result struct {
	Runner   string  `json:"runner"`
	Task     string  `json:"task"`
	Regime   string  `json:"regime"`
	Round    int     `json:"round"`
	Seconds  float64 `json:"sec_per_epoch"`
	Hash     string  `json:"params_sha256,omitempty"`
	Load     float64 `json:"load_average"`
	Measured string  `json:"measured"`
}

func main() {
	var trainers trainerFlag
	data := flag.String("data", "", "directory of the data files (required)")
	flag.Var(&trainers, "trainer", "NAME=PATH of a coordinator binary (repeatable; the first is the reference of the ratios)")
	rounds := flag.Int("rounds", 3, "alternating rounds")
	torchDir := flag.String("torch", filepath.Join("..", "shared", "bench"), "directory of bench_torch.py")
	resultsPath := flag.String("results", "", "append every measurement as JSON lines here")
	n := flag.Int("n", 200_000, "rows of the data set")
	d := flag.Int("d", 256, "features of the data set")
	only := flag.String("tasks", "logistic,softmax10,multilabel10", "tasks to run")
	flag.Parse()
	if *data == "" || len(trainers) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	h := &harness{data: *data, n: *n, d: *d, torchDir: *torchDir}
	for _, t := range trainers {
		name, path, ok := strings.Cut(t, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "harness: -trainer %q: want NAME=PATH\n", t)
			os.Exit(2)
		}
		h.trainers = append(h.trainers, [2]string{name, path})
	}
	if *resultsPath != "" {
		f, err := os.OpenFile(*resultsPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "harness:", err)
			os.Exit(1)
		}
		defer f.Close()
		h.results = f
	}
	h.torch = h.torchAvailable()
	if !h.torch {
		fmt.Fprintln(os.Stderr, "harness: python3 with torch and numpy, or the .npz, not found: PyTorch runs skipped")
	}
	selected := strings.Split(*only, ",")
	for r := range *rounds {
		for _, t := range tasks {
			if !slices.Contains(selected, t.name) {
				continue
			}
			for _, tr := range h.trainers {
				for _, rg := range regimes {
					if err := h.runTrainer(r, tr[0], tr[1], t, rg); err != nil {
						fmt.Fprintf(os.Stderr, "harness: %s %s %s: %v\n", tr[0], t.name, rg.name, err)
					}
				}
			}
			if h.torch {
				if err := h.runTorch(r, t); err != nil {
					fmt.Fprintf(os.Stderr, "harness: torch %s: %v\n", t.name, err)
				}
			}
		}
	}
	h.table(selected)
}

type harness struct {
	data, torchDir string
	n, d           int
	trainers       [][2]string
	torch          bool
	results        *os.File
	all            []result
}

func (h *harness) base() string {
	return filepath.Join(h.data, fmt.Sprintf("synth_N%d_d%d", h.n, h.d))
}

func (h *harness) torchAvailable() bool {
	if _, err := os.Stat(h.base() + ".npz"); err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(h.torchDir, "bench_torch.py")); err != nil {
		return false
	}
	return exec.Command("/usr/bin/python3", "-c", "import torch, numpy").Run() == nil
}

func (h *harness) record(r result) {
	r.Load = loadAverage()
	r.Measured = time.Now().UTC().Format(time.RFC3339)
	h.all = append(h.all, r)
	fmt.Printf("%-8s %-13s %-4s round %d: %.4f s/epoch (load %.1f)\n", r.Runner, r.Task, r.Regime, r.Round, r.Seconds, r.Load)
	if h.results != nil {
		b, _ := json.Marshal(r)
		_, _ = h.results.Write(append(b, '\n'))
	}
}

func (h *harness) runTrainer(round int, name, bin string, t task, rg regime) error {
	dir, err := os.MkdirTemp("", "dptbench-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return err
	}
	batch := rg.batch
	if batch == 0 {
		batch = h.n
	}
	report := filepath.Join(dir, "report.json")
	args := []string{"train",
		"--train", h.base() + "." + t.file + ".svm", "--task", t.taskName, "--loss", t.loss,
		"--scale", "none", "--l2", "0", "--optimizer", "sgd", "--lr", "0.5",
		"--batch-size", fmt.Sprint(batch), "--epochs", fmt.Sprint(rg.epochs),
		"--local-workers", "2", "--worker-threads", "1", "--data-via", "path",
		"--checkpoint-every", "0", "--checkpoint-dir", filepath.Join(dir, "ckpt"),
		"--nats-listen", fmt.Sprintf("127.0.0.1:%d", port), "--nats-data", filepath.Join(dir, "nats"),
		"--report", report, "--log-level", "warn"}
	args = append(args, t.extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return err
	}
	b, err := os.ReadFile(report)
	if err != nil {
		return err
	}
	var rep struct {
		ParamsSHA256 string    `json:"params_sha256"`
		EpochSeconds []float64 `json:"epoch_seconds"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return err
	}
	if len(rep.EpochSeconds) < 2 {
		return fmt.Errorf("report has %d epochs", len(rep.EpochSeconds))
	}
	h.record(result{Runner: name, Task: t.name, Regime: rg.name, Round: round, Seconds: median(rep.EpochSeconds[1:]), Hash: rep.ParamsSHA256})
	return nil
}

func (h *harness) runTorch(round int, t task) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.Command("/usr/bin/python3", filepath.Join(h.torchDir, "bench_torch.py"),
		"--data", h.base()+".npz", "--mode", "ddp", "--world", "2", "--threads", "1",
		"--tasks", t.name, "--port", fmt.Sprint(port))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	found := 0
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "RESULT ")
		if !ok {
			continue
		}
		var rec struct {
			Task   string  `json:"task"`
			Regime string  `json:"regime"`
			Sec    float64 `json:"sec_per_epoch"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil {
			h.record(result{Runner: "ddp-gloo", Task: rec.Task, Regime: rec.Regime, Round: round, Seconds: rec.Sec})
			found++
		}
	}
	if err := cmd.Wait(); err != nil {
		return err
	}
	if found == 0 {
		return errors.New("no RESULT lines")
	}
	return nil
}

// table prints, per workload, the median over rounds of each runner and
// the ratio DDP / runner (above 1: the runner is faster).
func (h *harness) table(selected []string) {
	runners := []string{}
	for _, tr := range h.trainers {
		runners = append(runners, tr[0])
	}
	if h.torch {
		runners = append(runners, "ddp-gloo")
	}
	fmt.Printf("\n| workload |")
	for _, r := range runners {
		fmt.Printf(" %s s/epoch |", r)
	}
	for _, r := range h.trainers {
		if h.torch {
			fmt.Printf(" DDP ÷ %s |", r[0])
		}
	}
	fmt.Printf("\n|---|")
	for range len(runners) + len(h.trainers)*boolInt(h.torch) {
		fmt.Printf("---|")
	}
	fmt.Println()
	for _, t := range tasks {
		if !slices.Contains(selected, t.name) {
			continue
		}
		for _, rg := range regimes {
			med := map[string]float64{}
			for _, r := range runners {
				var xs []float64
				for _, res := range h.all {
					if res.Runner == r && res.Task == t.name && res.Regime == rg.name {
						xs = append(xs, res.Seconds)
					}
				}
				if len(xs) > 0 {
					med[r] = median(xs)
				}
			}
			fmt.Printf("| %s, %s |", t.name, rg.name)
			for _, r := range runners {
				if v, ok := med[r]; ok {
					fmt.Printf(" %.4f |", v)
				} else {
					fmt.Printf(" – |")
				}
			}
			for _, tr := range h.trainers {
				if !h.torch {
					continue
				}
				if a, b := med["ddp-gloo"], med[tr[0]]; a > 0 && b > 0 {
					fmt.Printf(" %.2f× |", a/b)
				} else {
					fmt.Printf(" – |")
				}
			}
			fmt.Println()
		}
	}
	fmt.Printf("\nload average at the end: %.2f\n", loadAverage())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// freePort returns a TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// loadAverage returns the 1-minute load average (0 where unavailable).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	_, _ = fmt.Sscan(string(b), &l)
	return l
}
