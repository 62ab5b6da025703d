package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The kinds of fault a trial injects.
const (
	// None is the fault-free reference run.
	None Kind = "none"
	// WorkerKill is SIGKILL of external worker processes at given steps.
	WorkerKill Kind = "worker-kill"
	// CoordinatorKill is SIGKILL of the coordinator (with its embedded NATS
	// server), then the same command with --resume.
	CoordinatorKill Kind = "coordinator-kill"
	// NATSRestart is SIGKILL of an external `coordinator nats-server`,
	// restarted on the same port and data directory after a pause.
	NATSRestart Kind = "nats-restart"
	// Straggler is SIGSTOP of a worker for a pause, then SIGCONT.
	Straggler Kind = "straggler"
)

// Kinds lists the fault kinds, in the order trials cycle through them.
func Kinds() []Kind { return []Kind{WorkerKill, CoordinatorKill, NATSRestart, Straggler} }

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("chaos: unknown fault kind %q (want one of %v)", s, Kinds())
}

// Env is what trials need: the two binaries, a scratch directory and the
// job. Trials run one at a time.
type Env struct {
	// Coordinator and Worker are the paths of the two binaries.
	Coordinator, Worker string
	// Dir holds each trial's NATS data, reports and checkpoints.
	Dir string
	// Job is the `coordinator train` flags of the job (data, model,
	// optimizer, seed, checkpoint interval), without NATS, worker, report
	// or log flags, which Run adds.
	Job []string
	// Workers is the number of external worker processes (default 3).
	// LocalWorkers run inside the coordinator and die with it.
	Workers, LocalWorkers int
	// TrialTimeout bounds one trial (default 5 minutes).
	TrialTimeout time.Duration
	// Keep keeps every trial's directory; by default only failed ones.
	Keep bool
	// Logf, when set, receives a line per injected fault.
	Logf func(format string, args ...any)
}

func (e *Env) workers() int {
	if e.Workers <= 0 {
		return 3
	}
	return e.Workers
}

func (e *Env) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}

// Reference is what the fault-free run of the job gives.
type Reference struct {
	Hash  string
	Steps uint64
	// StepP99 is the 99th percentile of the time between consecutive
	// completed steps.
	StepP99 time.Duration
	Wall    time.Duration
}

// DetectionBound is the longest a worker's death may go unnoticed:
// max(1 s, 3 × the p99 step time) (issue 4).
func (r Reference) DetectionBound() time.Duration { return max(time.Second, 3*r.StepP99) }

// Trial is one randomized run: a kind of fault, when it strikes and whom.
type Trial struct {
	Index   int
	Kind    Kind
	Workers int
	// At are the completed steps at which faults strike, ascending.
	At []uint64
	// Targets are the workers killed or stopped (by index), one per At.
	Targets []int
	// Pause is how long a stopped worker stays stopped, a killed NATS
	// server stays down, or a killed coordinator stays dead.
	Pause time.Duration
}

// String describes the trial in one line.
func (t Trial) String() string {
	s := fmt.Sprintf("#%d %s workers=%d at=%v", t.Index, t.Kind, t.Workers, t.At)
	if len(t.Targets) > 0 {
		s += fmt.Sprintf(" targets=%v", t.Targets)
	}
	if t.Pause > 0 {
		s += fmt.Sprintf(" pause=%v", t.Pause)
	}
	return s
}

// Plan draws trial index of kind k for a job of ref.Steps steps with the
// given number of external workers, from seed. The same arguments give the
// same trial. Faults strike between 10 % and 70 % of the run (coordinator
// kills between 20 % and 80 %, so that a checkpoint may exist); worker
// kills take one or two distinct workers, never all.
func Plan(k Kind, index int, seed uint64, ref Reference, workers int) Trial {
	rng := rand.New(rand.NewPCG(seed, uint64(index)))
	t := Trial{Index: index, Kind: k, Workers: workers}
	steps := max(ref.Steps, 10)
	at := func(lo, hi float64) uint64 {
		a, b := uint64(lo*float64(steps)), uint64(hi*float64(steps))
		return a + rng.Uint64N(max(b-a, 1))
	}
	switch k {
	case WorkerKill:
		return PlanKills(index, seed, ref, workers, 1+rng.IntN(min(2, workers-1)))
	case CoordinatorKill:
		t.At = []uint64{at(0.2, 0.8)}
		t.Pause = time.Duration(rng.Int64N(int64(500 * time.Millisecond)))
	case NATSRestart:
		t.At = []uint64{at(0.1, 0.7)}
		t.Pause = 200*time.Millisecond + time.Duration(rng.Int64N(int64(1800*time.Millisecond)))
	case Straggler:
		t.At = []uint64{at(0.1, 0.7)}
		t.Targets = []int{rng.IntN(workers)}
		t.Pause = 300*time.Millisecond + time.Duration(rng.Int64N(int64(2700*time.Millisecond)))
	}
	return t
}

// PlanKills is Plan for a WorkerKill trial with a given number of kills
// (at most workers − 1): distinct targets, steps between 10 % and 70 % of
// the run.
func PlanKills(index int, seed uint64, ref Reference, workers, kills int) Trial {
	rng := rand.New(rand.NewPCG(seed, uint64(index)))
	steps := max(ref.Steps, 10)
	kills = max(1, min(kills, workers-1))
	t := Trial{Index: index, Kind: WorkerKill, Workers: workers}
	perm := rng.Perm(workers)
	type strike struct {
		at     uint64
		target int
	}
	var ss []strike
	for i := 0; i < kills; i++ {
		lo, hi := steps/10, 7*steps/10
		ss = append(ss, strike{lo + rng.Uint64N(hi-lo), perm[i]})
	}
	slices.SortStableFunc(ss, func(a, b strike) int { return compare(a.at, b.at) })
	for _, s := range ss {
		t.At, t.Targets = append(t.At, s.at), append(t.Targets, s.target)
	}
	return t
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Fault is one injected fault and what it cost.
type Fault struct {
	Kind   Kind
	Target string // worker name, "coordinator" or "nats"
	Step   uint64 // steps completed when it struck
	At     time.Time
	// Detection is from the fault to the coordinator's "worker declared
	// dead" line for the target (worker kills; stragglers stopped past the
	// heartbeat timeout), or to the first straggler re-issue; −1 when not
	// applicable or not observed.
	Detection time.Duration
	// Recovery is from the fault to the first step completed after it was
	// detected (worker kill, straggler: or after SIGCONT, if earlier), the
	// NATS server was back, or the resumed coordinator started; −1 when no
	// step completed after that.
	Recovery time.Duration
	// Redone is, for a coordinator kill, the steps the resumed coordinator
	// computed again (those since the last checkpoint).
	Redone uint64
}

// Result is the outcome of a trial.
type Result struct {
	Trial    Trial
	Hash     string
	Match    bool
	Faults   []Fault
	Wall     time.Duration
	Rejected map[string]uint64
	Dead     uint64
	Reissued uint64
	Err      error
	Dir      string
}

// report is the part of the coordinator's --report JSON a trial reads.
type report struct {
	ParamsSHA256 string            `json:"params_sha256"`
	Steps        uint64            `json:"steps"`
	Rejected     map[string]uint64 `json:"rejected"`
	Reissued     uint64            `json:"reissued"`
	WorkersDead  uint64            `json:"workers_dead"`
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("chaos: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// trialRun is the processes of one trial.
type trialRun struct {
	e       *Env
	t       Trial
	dir     string
	addr    string
	procs   []*Proc
	workers []*Proc
	coord   *Proc
	nats    *Proc
}

func (r *trialRun) start(name, bin string, args ...string) (*Proc, error) {
	logName := strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(name) + ".log"
	p, err := StartLogged(name, filepath.Join(r.dir, logName), bin, args...)
	if err != nil {
		return nil, err
	}
	r.procs = append(r.procs, p)
	return p, nil
}

func (r *trialRun) coordinatorArgs(resume bool) []string {
	args := append([]string{"train"}, r.e.Job...)
	args = append(args, "--report", filepath.Join(r.dir, "report.json"), "--log-format", "json", "--log-level", "debug",
		"--local-workers", fmt.Sprint(r.e.LocalWorkers), "--workers", fmt.Sprint(r.t.Workers), "--join-timeout", "60s")
	if r.t.Kind == NATSRestart {
		args = append(args, "--nats", "nats://"+r.addr)
	} else {
		args = append(args, "--nats-listen", r.addr, "--nats-data", filepath.Join(r.dir, "nats"))
	}
	if resume {
		args = append(args, "--resume")
	}
	return args
}

func (r *trialRun) startNATS() (*Proc, error) {
	p, err := r.start("nats-server", r.e.Coordinator, "nats-server", "--listen", r.addr, "--data", filepath.Join(r.dir, "nats"),
		"--log-format", "json")
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Run runs trial t and compares its final params_sha256 with want (when
// not empty). It never panics on a failed run: the error is in Result.Err.
func (e *Env) Run(ctx context.Context, t Trial, want string) (res Result) {
	start := time.Now()
	if t.Workers <= 0 {
		t.Workers = e.workers()
	}
	res.Trial = t
	timeout := e.TrialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res.Dir = filepath.Join(e.Dir, fmt.Sprintf("trial-%03d-%s", t.Index, t.Kind))
	r := &trialRun{e: e, t: t, dir: res.Dir}
	defer func() {
		for _, p := range r.procs {
			p.Stop(3 * time.Second)
		}
		res.Wall = time.Since(start)
		if res.Err == nil && res.Match && !e.Keep {
			_ = os.RemoveAll(res.Dir)
		}
	}()
	if err := os.MkdirAll(res.Dir, 0o755); err != nil {
		res.Err = fmt.Errorf("chaos: %w", err)
		return res
	}
	var err error
	if r.addr, err = FreeAddr(); err != nil {
		res.Err = err
		return res
	}
	res.Faults, res.Err = r.run(ctx)
	if res.Err != nil {
		return res
	}
	b, err := os.ReadFile(filepath.Join(res.Dir, "report.json"))
	if err != nil {
		res.Err = fmt.Errorf("chaos: report: %w", err)
		return res
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		res.Err = fmt.Errorf("chaos: report: %w", err)
		return res
	}
	res.Hash, res.Rejected, res.Dead, res.Reissued = rep.ParamsSHA256, rep.Rejected, rep.WorkersDead, rep.Reissued
	res.Match = want == "" || rep.ParamsSHA256 == want
	return res
}

// run starts the processes, injects the faults and waits for the end of
// the job.
func (r *trialRun) run(ctx context.Context) ([]Fault, error) {
	var err error
	if r.t.Kind == NATSRestart {
		if r.nats, err = r.startNATS(); err != nil {
			return nil, err
		}
		if _, _, err := r.nats.WaitFor(ctx, 0, func(l Line) bool { return l.Msg == "NATS server ready" }); err != nil {
			return nil, fmt.Errorf("%w\n%s", err, r.nats.Tail())
		}
	}
	if r.coord, err = r.start("coordinator", r.e.Coordinator, r.coordinatorArgs(false)...); err != nil {
		return nil, err
	}
	for i := 0; i < r.t.Workers; i++ {
		w, err := r.start(workerName(i), r.e.Worker, "--nats", "nats://"+r.addr, "--name", workerName(i),
			"--threads", "1", "--log-format", "json", "--nats-reconnect-wait", "100ms")
		if err != nil {
			return nil, err
		}
		r.workers = append(r.workers, w)
	}
	var faults []Fault
	for i, step := range r.t.At {
		f, ok, err := r.inject(ctx, i, step)
		if err != nil {
			return faults, err
		}
		if !ok {
			break // the job ended first
		}
		faults = append(faults, f)
	}
	if err := r.coord.Wait(ctx); err != nil {
		return faults, fmt.Errorf("chaos: coordinator: %w\n%s", err, r.coord.Tail())
	}
	r.measure(faults)
	return faults, nil
}

func workerName(i int) string { return fmt.Sprintf("w%d", i) }

// waitStep waits until the coordinator has completed step steps; ok is
// false if it exited first.
func (r *trialRun) waitStep(ctx context.Context, step uint64) (bool, error) {
	_, _, err := r.coord.WaitFor(ctx, 0, func(l Line) bool {
		s, ok := Progress(l)
		return ok && s >= step
	})
	if errors.Is(err, ErrExited) {
		return false, nil
	}
	return err == nil, err
}

// inject waits for the i-th strike's step and injects the fault.
func (r *trialRun) inject(ctx context.Context, i int, step uint64) (Fault, bool, error) {
	if ok, err := r.waitStep(ctx, step); !ok || err != nil {
		return Fault{}, false, err
	}
	f := Fault{Kind: r.t.Kind, Step: step, Detection: -1, Recovery: -1}
	switch r.t.Kind {
	case WorkerKill:
		w := r.workers[r.t.Targets[i]]
		f.Target, f.At = w.Name, time.Now()
		w.Kill()
	case Straggler:
		w := r.workers[r.t.Targets[i]]
		f.Target, f.At = w.Name, time.Now()
		if err := w.Signal(syscall.SIGSTOP); err != nil {
			return f, false, err
		}
		sleep(ctx, r.t.Pause)
		if err := w.Signal(syscall.SIGCONT); err != nil {
			return f, false, err
		}
	case CoordinatorKill:
		f.Target, f.At = "coordinator", time.Now()
		r.coord.Kill()
		sleep(ctx, r.t.Pause)
		c, err := r.start("coordinator (resumed)", r.e.Coordinator, r.coordinatorArgs(true)...)
		if err != nil {
			return f, false, err
		}
		r.coord = c
	case NATSRestart:
		f.Target, f.At = "nats", time.Now()
		r.nats.Kill()
		sleep(ctx, r.t.Pause)
		n, err := r.startNATS()
		if err != nil {
			return f, false, err
		}
		if _, _, err := n.WaitFor(ctx, 0, func(l Line) bool { return l.Msg == "NATS server ready" }); err != nil {
			return f, false, fmt.Errorf("%w\n%s", err, n.Tail())
		}
		r.nats = n
	}
	r.e.logf("trial %d: %s %s at step %d", r.t.Index, r.t.Kind, f.Target, step)
	return f, true, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// measure fills in detection and recovery times from the coordinator's log
// (the last coordinator's, and for a coordinator kill the resumed one's).
func (r *trialRun) measure(faults []Fault) {
	lines := r.coord.Lines()
	for i := range faults {
		f := &faults[i]
		var handled time.Time // when the fault was detected or repaired
		switch f.Kind {
		case WorkerKill, Straggler:
			for _, l := range lines {
				if l.TS.Before(f.At) {
					continue
				}
				dead := l.Msg == "worker declared dead" && l.Str("worker") == f.Target
				spec := f.Kind == Straggler && l.Msg == "micro-shards re-issued" && l.Str("reason") == "straggler"
				if dead || spec {
					f.Detection, handled = l.TS.Sub(f.At), l.TS
					break
				}
			}
			if f.Kind == Straggler {
				if cont := f.At.Add(r.t.Pause); handled.IsZero() || cont.Before(handled) {
					handled = cont
				}
			}
		case NATSRestart:
			handled = f.At.Add(r.t.Pause)
		case CoordinatorKill:
			handled = f.At
			f.Redone = f.Step // unless a checkpoint was found
			for _, l := range lines {
				if s, ok := l.Uint("step"); ok && l.Msg == "resuming" {
					f.Redone = f.Step - min(s, f.Step)
				}
			}
		}
		if handled.IsZero() {
			continue
		}
		for _, l := range lines {
			if _, ok := Progress(l); ok && l.TS.After(handled) {
				f.Recovery = l.TS.Sub(f.At)
				break
			}
		}
	}
}

// Reference runs the job without faults and returns its hash, its step
// count and its p99 step time.
func (e *Env) Reference(ctx context.Context) (Reference, error) {
	start := time.Now()
	t := Trial{Index: 0, Kind: None, Workers: e.workers()}
	r := &trialRun{e: e, t: t, dir: filepath.Join(e.Dir, "reference")}
	defer func() {
		for _, p := range r.procs {
			p.Stop(3 * time.Second)
		}
	}()
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return Reference{}, fmt.Errorf("chaos: %w", err)
	}
	var err error
	if r.addr, err = FreeAddr(); err != nil {
		return Reference{}, err
	}
	timeout := e.TrialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := r.run(ctx); err != nil {
		return Reference{}, err
	}
	b, err := os.ReadFile(filepath.Join(r.dir, "report.json"))
	if err != nil {
		return Reference{}, fmt.Errorf("chaos: reference report: %w", err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return Reference{}, fmt.Errorf("chaos: reference report: %w", err)
	}
	ref := Reference{Hash: rep.ParamsSHA256, Steps: rep.Steps, Wall: time.Since(start), StepP99: StepP99(r.coord.Lines())}
	if !e.Keep {
		_ = os.RemoveAll(r.dir)
	}
	return ref, nil
}

// StepP99 returns the 99th percentile (the ⌈0.99·n⌉-th smallest) of the
// times between consecutive completed steps in a coordinator's log; 0
// with fewer than two steps.
func StepP99(lines []Line) time.Duration {
	var last time.Time
	var lastStep uint64
	var d []time.Duration
	for _, l := range lines {
		s, ok := Progress(l)
		if !ok || s <= lastStep {
			continue // an "epoch" line repeating a "step" line's count
		}
		if !last.IsZero() {
			d = append(d, l.TS.Sub(last)/time.Duration(s-lastStep))
		}
		last, lastStep = l.TS, s
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[(99*len(d)+99)/100-1]
}

// JoinArgs formats a command line for logs and docs.
func JoinArgs(bin string, args []string) string {
	return strings.Join(append([]string{filepath.Base(bin)}, args...), " ")
}
