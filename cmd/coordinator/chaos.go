package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dptrain/dptrain/internal/chaos"
)

// defaultChaosJob is the soak's job on --data when --job is not given: a
// small MLP trained with Adam, long enough (several hundred steps) to strike
// mid-run, short enough for a hundred trials in a quarter of an hour.
const defaultChaosJob = "--label-column 64 --model mlp --hidden 64 --optimizer adam --lr 0.003 --batch-size 128 " +
	"--epochs 120 --seed 11 --micro-shards 16"

// runChaos runs randomized fault trials against the binaries and prints
// the table of issue 4.
func runChaos(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("coordinator chaos", flag.ContinueOnError)
	trials := fs.Int("trials", 100, "number of trials")
	seed := fs.Uint64("seed", 1, "seed of the trials' steps, targets and pauses")
	data := fs.String("data", "examples/digits/digits-train.csv.gz", "training file of the job")
	jobFlags := fs.String("job", defaultChaosJob, "the other `coordinator train` flags of the job (space separated)")
	kinds := fs.String("kinds", "worker-kill,coordinator-kill,nats-restart,straggler", "fault kinds, cycled through in this order")
	workers := fs.Int("workers", 3, "external worker processes per trial (at least 2)")
	local := fs.Int("local-workers", 1, "workers inside the coordinator (they die with it)")
	workerBin := fs.String("worker-bin", "", `worker binary (default: "worker" next to this binary, else on PATH)`)
	dir := fs.String("dir", "", "scratch directory (default: a new temporary one, removed at the end)")
	keep := fs.Bool("keep", false, "keep every trial's directory (default: only those of failed trials)")
	timeout := fs.Duration("trial-timeout", 5*time.Minute, "bound on one trial")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *trials < 1 || *workers < 2 {
		return fmt.Errorf("--trials %d and --workers %d: want at least 1 trial and 2 workers", *trials, *workers)
	}
	var ks []chaos.Kind
	for _, s := range strings.Split(*kinds, ",") {
		k, err := chaos.ParseKind(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		ks = append(ks, k)
	}
	if _, err := os.Stat(*data); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("chaos: own binary: %w", err)
	}
	wbin, err := findWorker(*workerBin, self)
	if err != nil {
		return err
	}
	scratch := *dir
	if scratch == "" {
		if scratch, err = os.MkdirTemp("", "dpt-chaos-"); err != nil {
			return err
		}
		if !*keep {
			defer os.RemoveAll(scratch)
		}
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	env := &chaos.Env{Coordinator: self, Worker: wbin, Dir: scratch, Job: append([]string{"--train", *data}, strings.Fields(*jobFlags)...),
		Workers: *workers, LocalWorkers: *local, TrialTimeout: *timeout, Keep: *keep, Logf: logf}
	logf("fault-free reference: %s", chaos.JoinArgs(self, append([]string{"train"}, env.Job...)))
	ref, err := env.Reference(ctx)
	if err != nil {
		return fmt.Errorf("chaos: reference run: %w", err)
	}
	logf("reference: params_sha256 %s, %d steps, p99 step %v, %.1fs; detection bound %v",
		ref.Hash, ref.Steps, ref.StepP99.Round(time.Microsecond), ref.Wall.Seconds(), ref.DetectionBound())

	start := time.Now()
	var results []chaos.Result
	for i := 0; i < *trials && ctx.Err() == nil; i++ {
		t := chaos.Plan(ks[i%len(ks)], i+1, *seed, ref, *workers)
		r := env.Run(ctx, t, ref.Hash)
		results = append(results, r)
		status := "ok"
		switch {
		case r.Err != nil:
			status = "FAILED: " + firstLine(r.Err.Error()) + " (kept " + r.Dir + ")"
		case !r.Match:
			status = "HASH MISMATCH " + r.Hash + " (kept " + r.Dir + ")"
		}
		var times []string
		for _, f := range r.Faults {
			times = append(times, fmt.Sprintf("%s@%d detect %s recover %s", f.Target, f.Step, secs(f.Detection), secs(f.Recovery)))
		}
		logf("trial %d/%d %s (%.1fs): %s; %s", i+1, *trials, t, r.Wall.Seconds(), status, strings.Join(times, ", "))
	}
	s := chaos.Summarize(results)
	fmt.Printf("\n%d trials in %v, seed %d, %d workers; fault-free params_sha256 %s (%d steps, p99 step %v, detection bound %v)\n\n",
		len(results), time.Since(start).Round(time.Second), *seed, *workers, ref.Hash, ref.Steps, ref.StepP99.Round(time.Microsecond), ref.DetectionBound())
	if err := s.Write(os.Stdout); err != nil {
		return err
	}
	if s.Total.Matched != s.Total.Trials {
		return fmt.Errorf("chaos: %d of %d trials did not end with the fault-free hash", s.Total.Trials-s.Total.Matched, s.Total.Trials)
	}
	return ctx.Err()
}

// findWorker returns the worker binary: flag, else "worker" next to self,
// else on PATH.
func findWorker(flagValue, self string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p := filepath.Join(filepath.Dir(self), "worker"); isExecutable(p) {
		return p, nil
	}
	p, err := exec.LookPath("worker")
	if err != nil {
		return "", errors.New(`chaos: no worker binary next to this one or on PATH; give --worker-bin`)
	}
	return p, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func secs(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
