package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	l, ok := ParseLine([]byte(`{"level":"warn","ts":1795860617.5,"logger":"coordinator","msg":"worker declared dead","worker":"w1","round":18446744073709551615}`))
	if !ok {
		t.Fatal("a zap JSON line was not parsed")
	}
	if l.Level != "warn" || l.Logger != "coordinator" || l.Msg != "worker declared dead" || l.Str("worker") != "w1" {
		t.Errorf("parsed %+v", l)
	}
	if r, ok := l.Uint("round"); !ok || r != 1<<64-1 {
		t.Errorf("round %d %v: a uint64 must survive (no float64 rounding)", r, ok)
	}
	if want := time.Unix(1795860617, 5e8); !l.TS.Equal(want) {
		t.Errorf("ts %v, want %v", l.TS, want)
	}
	for _, bad := range []string{"", "panic: boom", "{", `{"msg":""}`, `[1,2]`, "goroutine 1 [running]:"} {
		if _, ok := ParseLine([]byte(bad)); ok {
			t.Errorf("ParseLine(%q) accepted", bad)
		}
	}
}

func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		line string
		want uint64
		ok   bool
	}{
		{`{"msg":"step","step":0}`, 1, true},
		{`{"msg":"step","step":41}`, 42, true},
		{`{"msg":"epoch","steps":17}`, 17, true},
		{`{"msg":"step","logger":"worker","step":3}`, 0, false}, // not the coordinator's
		{`{"msg":"worker joined"}`, 0, false},
		{`{"msg":"step","step":-1}`, 0, false},
	} {
		l, _ := ParseLine([]byte(tc.line))
		if got, ok := Progress(l); got != tc.want || ok != tc.ok {
			t.Errorf("Progress(%s) = %d %v, want %d %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// at builds a parsed line at t0 + ms with one integer field.
func at(t *testing.T, t0 time.Time, ms int, msg, field string, v int) Line {
	t.Helper()
	ts := float64(t0.Add(time.Duration(ms)*time.Millisecond).UnixMicro()) / 1e6
	l, ok := ParseLine([]byte(fmt.Sprintf(`{"msg":%q,"ts":%.6f,%q:%d}`, msg, ts, field, v)))
	if !ok {
		t.Fatal("bad test line")
	}
	return l
}

func TestStepP99(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	// 100 steps 10 ms apart, then one of 50 ms: the p99 of 101 intervals
	// is the ⌈0.99·101⌉ = 100th smallest, 10 ms; a second slow one makes
	// it 50 ms. "epoch" lines repeating a step count are not intervals.
	var lines []Line
	ms := 0
	for s := 0; s <= 100; s++ {
		lines = append(lines, at(t, t0, ms, "step", "step", s))
		ms += 10
	}
	lines = append(lines, at(t, t0, ms-10, "epoch", "steps", 101))
	ms += 40
	lines = append(lines, at(t, t0, ms, "step", "step", 101))
	if got := StepP99(lines); got != 10*time.Millisecond {
		t.Errorf("p99 %v, want 10ms", got)
	}
	ms += 50
	lines = append(lines, at(t, t0, ms, "step", "step", 102))
	if got := StepP99(lines); got != 50*time.Millisecond {
		t.Errorf("p99 with two slow steps %v, want 50ms", got)
	}
	if got := StepP99(lines[:1]); got != 0 {
		t.Errorf("p99 of one step %v, want 0", got)
	}
	// A jump of several steps between lines (L-BFGS logs per iteration)
	// counts as that many steps of equal length.
	jump := []Line{at(t, t0, 0, "epoch", "steps", 1), at(t, t0, 30, "epoch", "steps", 4)}
	if got := StepP99(jump); got != 10*time.Millisecond {
		t.Errorf("p99 over a 3-step jump %v, want 10ms", got)
	}
}

func TestPlan(t *testing.T) {
	ref := Reference{Steps: 1000}
	for _, k := range Kinds() {
		for i := 1; i <= 50; i++ {
			a, b := Plan(k, i, 7, ref, 4), Plan(k, i, 7, ref, 4)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("Plan(%s, %d) is not a function of its arguments: %v vs %v", k, i, a, b)
			}
			if a.Kind != k || a.Index != i || a.Workers != 4 || len(a.At) == 0 {
				t.Fatalf("Plan(%s, %d) = %v", k, i, a)
			}
			for j, s := range a.At {
				if s < 100 || s >= 800 || (j > 0 && s < a.At[j-1]) {
					t.Errorf("%v: strike at step %d outside [10%%, 80%%) of 1000 or out of order", a, s)
				}
			}
			switch k {
			case WorkerKill:
				if len(a.Targets) != len(a.At) || len(a.At) > 2 {
					t.Errorf("%v: want one or two kills with a target each", a)
				}
				if len(a.Targets) == 2 && a.Targets[0] == a.Targets[1] {
					t.Errorf("%v: the same worker killed twice", a)
				}
			case Straggler:
				if a.Pause < 300*time.Millisecond || a.Pause > 3*time.Second || len(a.Targets) != 1 {
					t.Errorf("%v: pause or target", a)
				}
			case NATSRestart:
				if a.Pause < 200*time.Millisecond || a.Pause > 2*time.Second {
					t.Errorf("%v: pause", a)
				}
			}
			for _, w := range a.Targets {
				if w < 0 || w >= 4 {
					t.Errorf("%v: target outside the 4 workers", a)
				}
			}
		}
	}
	if a, b := Plan(Straggler, 1, 7, ref, 4), Plan(Straggler, 1, 8, ref, 4); reflect.DeepEqual(a, b) {
		t.Errorf("seeds 7 and 8 gave the same trial %v", a)
	}
	for kills := 1; kills <= 5; kills++ {
		tr := PlanKills(1, 3, ref, 3, kills)
		if want := min(kills, 2); len(tr.At) != want {
			t.Errorf("PlanKills(kills=%d) with 3 workers: %d kills, want %d (never all workers)", kills, len(tr.At), want)
		}
	}
}

func TestSummary(t *testing.T) {
	s := Summarize([]Result{
		{Trial: Trial{Kind: WorkerKill}, Match: true, Faults: []Fault{{Detection: time.Second, Recovery: 1200 * time.Millisecond}, {Detection: 900 * time.Millisecond, Recovery: -1}}},
		{Trial: Trial{Kind: WorkerKill}, Match: false, Faults: []Fault{{Detection: -1, Recovery: -1}}},
		{Trial: Trial{Kind: NATSRestart}, Err: errors.New("boom")},
		{Trial: Trial{Kind: CoordinatorKill}, Match: true, Faults: []Fault{{Detection: -1, Recovery: 3 * time.Second, Redone: 12}}},
	})
	if len(s.Rows) != 3 {
		t.Fatalf("%d rows, want 3 (kinds that ran)", len(s.Rows))
	}
	wk := s.Rows[0]
	if wk.Kind != "worker-kill" || wk.Trials != 2 || wk.Faults != 3 || wk.Matched != 1 || wk.MaxDetection != time.Second || wk.MaxRecovery != 1200*time.Millisecond {
		t.Errorf("worker-kill row %+v", wk)
	}
	tot := s.Total
	if tot.Trials != 4 || tot.Matched != 2 || tot.Failed != 1 || tot.Faults != 4 || tot.MaxRecovery != 3*time.Second || tot.MaxRedone != 12 {
		t.Errorf("total %+v", tot)
	}
	var b bytes.Buffer
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"worker-kill", "1/2", "1.00s", "3.00s", "total", "2/4"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := s.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != 6 {
		t.Errorf("markdown table has %d lines, want 6:\n%s", n, b.String())
	}
}

// TestProcWaitFor runs a shell that logs two zap-like lines and exits: the
// lines are parsed, WaitFor finds them in order, and an exit without the
// line waited for is ErrExited.
func TestProcWaitFor(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	p, err := Start("sh", sh, "-c", `echo '{"level":"info","ts":1,"msg":"a","n":1}' >&2; echo 'not json' >&2; echo '{"level":"info","ts":2,"msg":"b"}' >&2; echo out`)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, next, err := p.WaitFor(ctx, 0, func(l Line) bool { return l.Msg == "b" })
	if err != nil || l.Msg != "b" || next != 2 {
		t.Fatalf("WaitFor b: %+v %d %v", l, next, err)
	}
	if _, _, err := p.WaitFor(ctx, next, func(l Line) bool { return l.Msg == "c" }); !errors.Is(err, ErrExited) {
		t.Errorf("waiting for a line never logged: %v, want ErrExited", err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Errorf("exit: %v", err)
	}
	if p.Stdout() != "out\n" || !strings.Contains(p.Tail(), "not json") || len(p.Lines()) != 2 {
		t.Errorf("stdout %q, tail %q, %d lines", p.Stdout(), p.Tail(), len(p.Lines()))
	}
}
