package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dptrain/dptrain/internal/allreduce"
	"github.com/dptrain/dptrain/internal/chaos"
	"github.com/dptrain/dptrain/internal/natsbus"
)

// The fault tests run the real binaries on loopback (see e2e_test.go),
// inject real faults with package chaos, and check that every run ends
// with the params_sha256 of the fault-free run of the same job (DESIGN.md
// promises 2–4; issue 4). Each takes a few seconds; they skip under -short.

// faultJob is the job of the fault tests: a small MLP on the shipped digits
// with Adam, 720 steps of about 2 ms each, so that faults strike mid-run,
// and a checkpoint every 50 steps (the default), so that a resumed
// coordinator redoes at most 50.
var faultJob = []string{"--train", digitsTrain, "--label-column", "64", "--model", "mlp", "--hidden", "64",
	"--optimizer", "adam", "--lr", "0.003", "--batch-size", "128", "--epochs", "60", "--seed", "11", "--micro-shards", "16"}

const (
	// checkpointEvery is the coordinator's default --checkpoint-every.
	checkpointEvery = 50
	// detectionSlack is added to the detection bound max(1 s, 3 × p99 step
	// time): the coordinator checks for silent workers once per 50 ms tick
	// and logs the death a moment later; two ticks, plus 200 ms for a
	// 2-core machine running five processes and other test packages.
	detectionSlack = 300 * time.Millisecond
	// faultSeed seeds the steps, targets and pauses of the trials.
	faultSeed = 4
)

var (
	refOnce sync.Once
	ref     chaos.Reference
	refErr  error
)

// faultEnv returns the environment of the fault tests and the fault-free
// reference run of faultJob, computed once per test binary.
func faultEnv(t *testing.T, workers int) (*chaos.Env, chaos.Reference) {
	t.Helper()
	coordBin, workerBin := binaries(t)
	env := &chaos.Env{Coordinator: coordBin, Worker: workerBin, Dir: t.TempDir(), Job: faultJob, Workers: workers,
		LocalWorkers: 1, TrialTimeout: 2 * time.Minute, Logf: t.Logf}
	refOnce.Do(func() {
		renv := *env
		renv.Dir, renv.Workers = t.TempDir(), 2
		ref, refErr = renv.Reference(context.Background())
	})
	if refErr != nil {
		t.Fatalf("fault-free run: %v", refErr)
	}
	t.Logf("fault-free: params_sha256 %s, %d steps, p99 step %v, detection bound %v", ref.Hash, ref.Steps, ref.StepP99, ref.DetectionBound())
	return env, ref
}

// runTrial runs t and checks what every trial must give: no error, every
// fault injected, the fault-free hash, and a completed step after each
// fault.
func runTrial(t *testing.T, env *chaos.Env, ref chaos.Reference, tr chaos.Trial) chaos.Result {
	t.Helper()
	t.Logf("trial %s", tr)
	r := env.Run(context.Background(), tr, ref.Hash)
	if r.Err != nil {
		t.Fatalf("trial %s: %v", tr, r.Err)
	}
	for _, f := range r.Faults {
		t.Logf("%s %s at step %d: detection %v, recovery %v, redone %d", f.Kind, f.Target, f.Step, f.Detection, f.Recovery, f.Redone)
	}
	t.Logf("%.1fs; workers declared dead %d, micro-shard blocks re-issued %d, rejected %v", r.Wall.Seconds(), r.Dead, r.Reissued, r.Rejected)
	if !r.Match {
		t.Errorf("params_sha256 %s, the fault-free run gave %s", r.Hash, ref.Hash)
	}
	if len(r.Faults) != len(tr.At) {
		t.Fatalf("%d of %d faults injected: the job ended first", len(r.Faults), len(tr.At))
	}
	for _, f := range r.Faults {
		if f.Recovery < 0 {
			t.Errorf("%s %s: no step completed after the fault", f.Kind, f.Target)
		}
	}
	return r
}

// checkDetection checks that every killed worker was declared dead within
// the bound of issue 4.
func checkDetection(t *testing.T, ref chaos.Reference, r chaos.Result) {
	t.Helper()
	bound := ref.DetectionBound() + detectionSlack
	for _, f := range r.Faults {
		switch {
		case f.Detection < 0:
			t.Errorf("%s: never declared dead", f.Target)
		case f.Detection > bound:
			t.Errorf("%s: declared dead %v after the kill, bound max(1s, 3×p99 step %v) + %v = %v",
				f.Target, f.Detection, ref.StepP99, detectionSlack, bound)
		}
	}
}

// TestFaultWorkerKill kills one external worker at a seeded random step,
// then, in a second run with four workers, two of them: their micro-shards
// are re-issued within the step and the result does not change.
func TestFaultWorkerKill(t *testing.T) {
	for _, tc := range []struct{ workers, kills int }{{3, 1}, {4, 2}} {
		env, ref := faultEnv(t, tc.workers)
		tr := chaos.PlanKills(tc.kills, faultSeed, ref, tc.workers, tc.kills)
		r := runTrial(t, env, ref, tr)
		checkDetection(t, ref, r)
		if r.Dead < uint64(tc.kills) {
			t.Errorf("report: %d workers dead, want at least %d", r.Dead, tc.kills)
		}
	}
}

// TestFaultGroupLeaderKill runs faultJob with --group-size 2 over the
// local worker and four external ones, grouped by name as (local-0, w0),
// (w1, w2) and w3 alone. It kills the leader w1 mid-run, then, in a second
// run, the member w0, whose leader local-0 holds the sums it has: each is
// declared dead within the bound, the group's blocks are computed again in
// the step, and the result is the bits of the fault-free run, which ran
// without groups.
func TestFaultGroupLeaderKill(t *testing.T) {
	env, ref := faultEnv(t, 4)
	env.Job = append(slices.Clone(env.Job), "--group-size", "2")
	for i, target := range []int{1, 0} {
		tr := chaos.PlanKills(10+i, faultSeed, ref, 4, 1)
		tr.Targets = []int{target}
		r := runTrial(t, env, ref, tr)
		checkDetection(t, ref, r)
		if r.Dead < 1 {
			t.Errorf("report: %d workers dead, want 1", r.Dead)
		}
	}
}

// TestFaultCoordinatorKillResume kills the coordinator (with its embedded
// NATS server and its local worker) mid-run and runs the same command with
// --resume: the external workers reconnect, at most checkpointEvery steps
// are computed again, and the result does not change.
func TestFaultCoordinatorKillResume(t *testing.T) {
	env, ref := faultEnv(t, 3)
	r := runTrial(t, env, ref, chaos.Plan(chaos.CoordinatorKill, 1, faultSeed, ref, 3))
	for _, f := range r.Faults {
		if f.Redone > checkpointEvery {
			t.Errorf("the resumed coordinator redid %d steps, more than the checkpoint interval %d", f.Redone, checkpointEvery)
		}
	}
}

// TestFaultNATSRestart kills an external `coordinator nats-server` mid-run
// and restarts it on the same port and data directory: the coordinator and
// the workers reconnect, the step in flight completes, and the result does
// not change. The job checkpoints after every step, to the object store of
// that server, so that the kill catches a checkpoint in flight, which must
// be retried, not stop the job.
func TestFaultNATSRestart(t *testing.T) {
	env, ref := faultEnv(t, 3)
	env.Job = append(append([]string(nil), env.Job...), "--checkpoint-every", "1")
	runTrial(t, env, ref, chaos.Plan(chaos.NATSRestart, 1, faultSeed, ref, 3))
}

// TestFaultStraggler stops a worker (SIGSTOP) for longer than the heartbeat
// timeout, then lets it go on: it is declared dead within the bound, its
// blocks are recomputed by others, its late contributions count once, and
// it rejoins.
func TestFaultStraggler(t *testing.T) {
	env, ref := faultEnv(t, 3)
	tr := chaos.Plan(chaos.Straggler, 1, faultSeed, ref, 3)
	tr.Pause = 2 * time.Second
	r := runTrial(t, env, ref, tr)
	checkDetection(t, ref, r)
}

// TestHostileInput publishes, with a raw nats.go connection and an
// unauthenticated natsbus client, every kind of bad contribution and
// heartbeat to a running job whose workers are stopped (so that the round
// the messages aim at stays current), then lets the workers go on. The job
// must end with the fault-free hash, and the coordinator must have counted
// each message under its reason, in dpt_messages_rejected_total and in the
// report.
func TestHostileInput(t *testing.T) {
	env, ref := faultEnv(t, 2)
	dir := t.TempDir()
	addr, err := chaos.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr, err := chaos.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.json")
	args := append([]string{"train"}, faultJob...)
	args = append(args, "--local-workers", "0", "--workers", "2", "--nats-listen", addr, "--nats-data", filepath.Join(dir, "nats"),
		"--metrics-addr", metricsAddr, "--report", report, "--log-format", "json", "--log-level", "debug")
	coord, err := chaos.Start("coordinator", env.Coordinator, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer coord.Stop(3 * time.Second)
	var workers []*chaos.Proc
	for _, name := range []string{"w0", "w1"} {
		w, err := chaos.Start(name, env.Worker, "--nats", "nats://"+addr, "--name", name, "--threads", "1", "--log-format", "json")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop(3 * time.Second)
		workers = append(workers, w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if _, _, err := coord.WaitFor(ctx, 0, func(l chaos.Line) bool { return l.Msg == "embedded NATS server" }); err != nil {
		t.Fatalf("%v\n%s", err, coord.Tail())
	}
	// A raw connection for frames the natsbus encoder would never write,
	// and a natsbus client for well-framed bad payloads.
	nc, err := nats.Connect("nats://"+addr, nats.Name("intruder"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bus, err := natsbus.Connect(ctx, natsbus.ConnConfig{URL: "nats://" + addr, Name: "intruder-bus"}, nil, natsbus.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	subj := natsbus.Subjects{}
	plans, err := bus.Subscribe(subj.Plan(), 64)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		plan allreduce.Plan // the newest
	)
	go func() {
		for m := range plans.C {
			var p allreduce.Plan
			if p.UnmarshalBinary(m.Data) == nil {
				mu.Lock()
				if p.Round >= plan.Round {
					plan = p
				}
				mu.Unlock()
			}
		}
	}()

	// Let the job run a while, then freeze the round: stop both workers.
	if _, _, err := coord.WaitFor(ctx, 0, func(l chaos.Line) bool { s, ok := chaos.Progress(l); return ok && s >= 100 }); err != nil {
		t.Fatalf("%v\n%s", err, coord.Tail())
	}
	for _, w := range workers {
		if err := w.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // contributions in flight land; the last plan arrives
	mu.Lock()
	p := plan
	mu.Unlock()
	if p.Round == 0 || len(p.Assign) == 0 {
		t.Fatalf("no plan with assignments seen: %+v", p)
	}
	block := p.Assign[0].Ranges[0]
	contrib := func(c allreduce.Contribution) []byte {
		t.Helper()
		if c.Vec == nil {
			c.Vec = make([]float64, p.VecLen)
		}
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := allreduce.Contribution{Job: p.Job, Round: p.Round, Worker: "w0", Range: block}
	with := func(f func(*allreduce.Contribution)) []byte {
		c := good
		f(&c)
		return contrib(c)
	}
	// frame returns the single frame natsbus makes of payload, captured
	// on a private subject.
	frame := func(payload []byte) []byte {
		t.Helper()
		sub, err := nc.SubscribeSync("intruder.capture")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := bus.Publish("intruder.capture", payload); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return m.Data
	}
	crc := func(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }
	const hdrCRC, offCount, offStride, offTotal = 48, 28, 32, 40

	want := map[string]uint64{}
	send := func(reason, subject string, payload []byte, raw bool) {
		t.Helper()
		var err error
		if raw {
			err = nc.Publish(subject, payload)
		} else {
			err = bus.Publish(subject, payload)
		}
		if err != nil {
			t.Fatalf("%s: %v", reason, err)
		}
		want[reason]++
	}
	w0, hb0 := subj.Contrib("w0"), subj.Heartbeat("w0")

	send("malformed", w0, []byte("not a frame"), true)
	send("malformed", w0, []byte{0xA2, 2, 1, 2, 3}, false) // framed, not a contribution
	whole := contrib(good)
	send("malformed", w0, whole[:len(whole)-9], false) // truncated
	send("length", w0, with(func(c *allreduce.Contribution) { c.Vec = make([]float64, p.VecLen+1) }), false)
	nan := with(func(c *allreduce.Contribution) { // dense: no element is +0
		c.Vec = make([]float64, p.VecLen)
		for i := range c.Vec {
			c.Vec[i] = 1
		}
	})
	binary.LittleEndian.PutUint64(nan[len(nan)-4-8:], math.Float64bits(math.NaN())) // the last element
	binary.LittleEndian.PutUint32(nan[len(nan)-4:], crc(nan[:len(nan)-4]))
	send("not_finite", w0, nan, false)
	send("job", w0, with(func(c *allreduce.Contribution) { c.Job = "jintruder" }), false)
	send("stale", w0, with(func(c *allreduce.Contribution) { c.Round-- }), false)
	send("unknown_worker", subj.Contrib("intruder"), with(func(c *allreduce.Contribution) { c.Worker = "intruder" }), false)
	send("unknown_worker", w0, with(func(c *allreduce.Contribution) { c.Worker = "w1" }), false) // spoofed sender
	send("range", w0, with(func(c *allreduce.Contribution) { c.Range = allreduce.Range{Lo: 1, Hi: 3} }), false)

	dup := frame([]byte("framed garbage"))
	send("malformed", w0, dup, true)
	send("duplicate", w0, dup, true) // the same frame again
	bad := frame(contrib(good))
	bad[len(bad)-1] ^= 0xff
	send("checksum", w0, bad, true)
	big := frame(make([]byte, 100)) // rewritten to claim 2 GiB
	binary.LittleEndian.PutUint32(big[offStride:], 100)
	binary.LittleEndian.PutUint64(big[offTotal:], 1<<31)
	binary.LittleEndian.PutUint32(big[offCount:], (1<<31+99)/100)
	binary.LittleEndian.PutUint32(big[hdrCRC:], crc(big[:hdrCRC]))
	send("oversized", w0, big, true)
	if err := nc.Publish(w0, make([]byte, 2*int(nc.MaxPayload()))); err == nil {
		t.Errorf("a message above max_payload (%d bytes) was accepted by the client", nc.MaxPayload())
	}

	send("malformed", hb0, []byte("{not json"), false)
	send("job", hb0, []byte(`{"job":"jintruder","worker":"w0"}`), false)
	send("unknown_worker", hb0, []byte(`{"job":"`+p.Job+`","worker":"w1"}`), false) // spoofed heartbeat

	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bus.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // transport drops are counted once per 50 ms tick
	got := scrapeRejected(t, metricsAddr)
	for reason, n := range want {
		exact := reason != "stale" && reason != "duplicate" // also caused by the workers' own late messages
		if got[reason] < n || (exact && got[reason] != n) {
			t.Errorf("dpt_messages_rejected_total{reason=%q} = %d, sent %d", reason, got[reason], n)
		}
	}

	for _, w := range workers {
		if err := w.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	if err := coord.Wait(ctx); err != nil {
		t.Fatalf("coordinator: %v\n%s", err, coord.Tail())
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		ParamsSHA256 string            `json:"params_sha256"`
		Rejected     map[string]uint64 `json:"rejected"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("rejected: metrics %v, report %v", got, rep.Rejected)
	if rep.ParamsSHA256 != ref.Hash {
		t.Errorf("params_sha256 %s after hostile input, the fault-free run gave %s", rep.ParamsSHA256, ref.Hash)
	}
	for reason, n := range want {
		if rep.Rejected[reason] < n {
			t.Errorf("report: rejected[%q] = %d, sent %d", reason, rep.Rejected[reason], n)
		}
	}
}

// scrapeRejected reads dpt_messages_rejected_total{reason} from a
// coordinator's /metrics.
func scrapeRejected(t *testing.T, addr string) map[string]uint64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	re := regexp.MustCompile(`(?m)^dpt_messages_rejected_total\{reason="([a-z_]+)"\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("metric %q: %v", m[0], err)
		}
		out[m[1]] = uint64(v)
	}
	if len(out) == 0 {
		t.Fatalf("no dpt_messages_rejected_total series in /metrics")
	}
	return out
}

// TestWorkerPermissions runs a job on `coordinator nats-server --users`,
// the least-privilege setup of docs/faults.md: the job trains to the
// fault-free hash with authenticated workers in a group (w0 leads, w1
// sends it its blocks), a client without credentials is refused, and a
// worker's credentials can neither publish another worker's contributions,
// heartbeats or relayed blocks nor read other workers' messages.
func TestWorkerPermissions(t *testing.T) {
	env, ref := faultEnv(t, 2)
	dir := t.TempDir()
	addr, err := chaos.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + addr
	users := UsersFile{Coordinator: Credential{User: "coordinator", Password: "c-secret"},
		Workers: []Credential{{User: "w0", Password: "w0-secret"}, {User: "w1", Password: "w1-secret"}}}
	b, err := json.Marshal(users)
	if err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(dir, "users.json")
	if err := os.WriteFile(usersFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := chaos.Start("nats-server", env.Coordinator, "nats-server", "--listen", addr, "--data", filepath.Join(dir, "nats"),
		"--users", usersFile, "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, _, err := srv.WaitFor(ctx, 0, func(l chaos.Line) bool { return l.Msg == "NATS server ready" }); err != nil {
		t.Fatalf("%v\n%s", err, srv.Tail())
	}

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Error("a client without credentials was let in")
	}

	report := filepath.Join(dir, "report.json")
	args := append([]string{"train"}, faultJob...)
	args = append(args, "--nats", url, "--nats-user", "coordinator", "--nats-password", "c-secret", "--local-workers", "0",
		"--workers", "2", "--group-size", "2", "--report", report, "--log-format", "json")
	coord, err := chaos.Start("coordinator", env.Coordinator, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer coord.Stop(3 * time.Second)
	for _, u := range users.Workers {
		w, err := chaos.Start(u.User, env.Worker, "--nats", url, "--name", u.User, "--nats-user", u.User, "--nats-password", u.Password,
			"--threads", "1", "--log-format", "json")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop(3 * time.Second)
	}

	// w0's credentials, used by an intruder.
	violations := make(chan error, 16)
	nc, err := nats.Connect(url, nats.UserInfo("w0", "w0-secret"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case violations <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subj := natsbus.Subjects{}
	expectViolation := func(what string) {
		t.Helper()
		select {
		case err := <-violations:
			if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Errorf("%s: error %v, want a permissions violation", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: the server reported no permissions violation", what)
		}
	}
	for _, s := range []string{subj.Contrib("w1"), subj.Heartbeat("w1"), subj.Plan(), subj.Params(), subj.Relay("w0", "w1")} {
		if err := nc.Publish(s, []byte("x")); err != nil {
			t.Fatal(err)
		}
		expectViolation("w0 publishing on " + s)
	}
	for _, s := range []string{subj.AllContribs(), subj.AllHeartbeats(), subj.RelayInbox("w1")} {
		if _, err := nc.SubscribeSync(s); err != nil {
			t.Fatal(err)
		}
		expectViolation("w0 subscribing to " + s)
	}

	if err := coord.Wait(ctx); err != nil {
		t.Fatalf("coordinator: %v\n%s", err, coord.Tail())
	}
	rb, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		ParamsSHA256  string            `json:"params_sha256"`
		Rejected      map[string]uint64 `json:"rejected"`
		Steps         uint64            `json:"steps"`
		Contributions uint64            `json:"contributions"`
	}
	if err := json.Unmarshal(rb, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ParamsSHA256 != ref.Hash {
		t.Errorf("params_sha256 %s with permissions, the fault-free run gave %s", rep.ParamsSHA256, ref.Hash)
	}
	// Without the group every round takes at least one contribution from
	// each of the two workers; with it, the leader's sums.
	if rep.Contributions >= 2*rep.Steps {
		t.Errorf("the coordinator added %d contributions in %d steps: the group leader did not add its group's", rep.Contributions, rep.Steps)
	}
	if n := rep.Rejected["malformed"] + rep.Rejected["unknown_worker"]; n != 0 {
		t.Errorf("the coordinator saw %d of the intruder's messages (%v): the server let them through", n, rep.Rejected)
	}
}

// TestNATSServerFlags checks the flag rules of `coordinator nats-server`
// and the permissions --users grants.
func TestNATSServerFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := func(k string) string { return map[string]string{"DPT_NATS_AUTH_PASSWORD": "from-env"}[k] }
	for _, tc := range []struct {
		name string
		f    natsServerFlags
		ok   bool
	}{
		{"plain", natsServerFlags{listen: "127.0.0.1:0"}, true},
		{"user, password from the environment", natsServerFlags{listen: "127.0.0.1:0", authUser: "u"}, true},
		{"users and a token", natsServerFlags{listen: "127.0.0.1:0", authToken: "t", users: write("u1.json", `{}`)}, false},
		{"users without a coordinator", natsServerFlags{listen: "127.0.0.1:0", users: write("u2.json", `{"workers":[{"user":"w0","password":"p"}]}`)}, false},
		{"worker name with a wildcard", natsServerFlags{listen: "127.0.0.1:0",
			users: write("u3.json", `{"coordinator":{"user":"c","password":"p"},"workers":[{"user":"w*","password":"p"}]}`)}, false},
		{"not JSON", natsServerFlags{listen: "127.0.0.1:0", users: write("u4.json", `coordinator: c`)}, false},
		{"max payload too large", natsServerFlags{listen: "127.0.0.1:0", maxPayload: 1 << 30}, false},
	} {
		sc, err := tc.f.serverConfig(env)
		if (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.name, err, tc.ok)
		}
		if tc.ok && tc.f.authUser != "" && sc.Password != "from-env" {
			t.Errorf("%s: password %q, want it from DPT_NATS_AUTH_PASSWORD", tc.name, sc.Password)
		}
	}
	f := natsServerFlags{listen: "127.0.0.1:0", subjectPrefix: "job7",
		users: write("ok.json", `{"coordinator":{"user":"c","password":"p"},"workers":[{"user":"w0","password":"p0"}]}`)}
	sc, err := f.serverConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Users) != 2 || sc.Users[1].User != "w0" {
		t.Fatalf("users %+v", sc.Users)
	}
	w := sc.Users[1]
	for _, s := range []string{"job7.contrib.w0", "job7.hb.w0", "job7.relay.*.w0"} {
		if !slices.Contains(w.Publish, s) {
			t.Errorf("w0 may not publish %s: %v", s, w.Publish)
		}
	}
	for _, s := range w.Publish {
		// The one wildcard: w0 sends to whichever group leader the plan
		// names, in its own name.
		wildcard := strings.HasPrefix(s, "job7.") && strings.ContainsAny(s, "*>") && s != "job7.relay.*.w0"
		if wildcard || s == ">" || s == "job7.plan" || s == "job7.params" || s == "job7.job" {
			t.Errorf("w0 may publish %s", s)
		}
	}
	if !slices.Contains(w.Subscribe, "job7.relay.w0.*") {
		t.Errorf("w0 may not read what its group sends it: %v", w.Subscribe)
	}
	for _, s := range w.Subscribe {
		if s == "job7.contrib.*" || s == ">" || (strings.HasPrefix(s, "job7.relay.") && s != "job7.relay.w0.*") {
			t.Errorf("w0 may read other workers' messages: %s", s)
		}
	}
}
