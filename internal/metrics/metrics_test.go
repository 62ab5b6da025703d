package metrics

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// populate drives every collector of c and w once, as a short run would.
func populateCoordinator(c *Coordinator) {
	c.Step.Set(12)
	c.JobSteps.Set(100)
	c.StepsCompleted.Add(12)
	c.Epoch.Set(1)
	c.Examples.Add(12 * 256)
	c.TrainLoss.Set(0.25)
	c.TestLoss.Set(0.5)
	c.TrainAccuracy.Set(0.9)
	c.TestAccuracy.Set(0.875)
	c.TrainObjective.Set(0.3)
	c.TestObjective.Set(0.55)
	c.GradientNorm.Set(1.5)
	c.LearningRate.Set(0.1)
	c.StepDuration.Observe(0.02)
	for _, p := range Phases() {
		c.ObservePhase(p, 3*time.Millisecond)
	}
	c.ObserveContribution("w1", 10*time.Millisecond, 15*time.Millisecond)
	c.ObserveContribution("w2", 11*time.Millisecond, 40*time.Millisecond)
	c.WorkersLive.Set(2)
	c.WorkersExpected.Set(3)
	c.Reissue(ReissueDead, 4)
	c.CheckpointDuration.Observe(0.2)
	c.CheckpointSize.Set(1 << 20)
	c.CheckpointFailures.Add(0)
	c.Transport.Sent(KindParams, 4096)
	c.Transport.Received(KindContrib, 1024)
	c.Transport.Reject(RejectStale)
	c.NATS.SlowConsumers.Inc()
	c.NATS.Dropped.Add(3)
}

func populateWorker(w *Worker) {
	w.Step.Set(12)
	w.ContributionsSent.Add(12)
	w.ComputeDuration.Observe(0.01)
	w.ParamsReceived.Add(12)
	w.DataLoadDuration.Observe(0.05)
	w.RowsHeld.Set(1000)
	w.MicroshardsHeld.Set(4)
	w.Transport.Received(KindShard, 1<<16)
	w.Transport.Sent(KindContrib, 1024)
	w.NATS.Reconnects.Inc()
}

func TestCoordinatorExposition(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := NewCoordinator(reg, "v1.2.3")
	populateCoordinator(c)

	const want = `
# HELP dpt_step Last completed training step (0 before the first).
# TYPE dpt_step gauge
dpt_step 12
# HELP dpt_loss Mean loss on the split: train as of the last step's batch, test as of the last evaluation.
# TYPE dpt_loss gauge
dpt_loss{split="test"} 0.5
dpt_loss{split="train"} 0.25
# HELP dpt_microshards_reissued_total Micro-shards issued again to another worker, by reason.
# TYPE dpt_microshards_reissued_total counter
dpt_microshards_reissued_total{reason="dead"} 4
dpt_microshards_reissued_total{reason="straggler"} 0
# HELP dpt_contribution_accepted_total Contributions accepted into a step, by worker.
# TYPE dpt_contribution_accepted_total counter
dpt_contribution_accepted_total{worker="w1"} 1
dpt_contribution_accepted_total{worker="w2"} 1
# HELP dpt_transport_sent_bytes_total Payload bytes published, by kind of message.
# TYPE dpt_transport_sent_bytes_total counter
dpt_transport_sent_bytes_total{kind="contrib"} 0
dpt_transport_sent_bytes_total{kind="control"} 0
dpt_transport_sent_bytes_total{kind="params"} 4096
dpt_transport_sent_bytes_total{kind="plan"} 0
dpt_transport_sent_bytes_total{kind="shard"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"dpt_step", "dpt_loss", "dpt_microshards_reissued_total", "dpt_contribution_accepted_total",
		"dpt_transport_sent_bytes_total"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(c.Transport.Rejected.WithLabelValues(string(RejectStale))); got != 1 {
		t.Errorf("rejected{stale} = %v, want 1", got)
	}
	// Closed label sets are initialised: all reasons and phases exist.
	if n := testutil.CollectAndCount(c.Transport.Rejected); n != len(RejectReasons()) {
		t.Errorf("rejected series = %d, want %d", n, len(RejectReasons()))
	}
	if n := testutil.CollectAndCount(c.PhaseDuration); n != len(Phases()) {
		t.Errorf("phase series = %d, want %d", n, len(Phases()))
	}
	if got := testutil.ToFloat64(c.BuildInfo); got != 1 {
		t.Errorf("build_info = %v, want 1", got)
	}
}

func TestContributionObservedInSeconds(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := NewCoordinator(reg, "")
	c.ObserveContribution("w", 1500*time.Millisecond, 2*time.Second)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	for _, mf := range mfs {
		if h := mf.GetMetric(); len(h) == 1 && h[0].GetHistogram() != nil {
			sums[mf.GetName()] = h[0].GetHistogram().GetSampleSum()
		}
	}
	if got := sums["dpt_contribution_compute_seconds"]; got != 1.5 {
		t.Errorf("compute sum = %v s, want 1.5", got)
	}
	if got := sums["dpt_contribution_lag_seconds"]; got != 2 {
		t.Errorf("lag sum = %v s, want 2", got)
	}
}

func TestWorkerConstLabel(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := NewWorker(reg, "alpha", "v1")
	b := NewWorker(reg, "beta", "v1") // two workers in one registry must not collide
	populateWorker(a)
	b.ContributionsSent.Add(2)
	const want = `
# HELP dpt_worker_contributions_sent_total Contributions sent to the coordinator.
# TYPE dpt_worker_contributions_sent_total counter
dpt_worker_contributions_sent_total{worker="alpha"} 12
dpt_worker_contributions_sent_total{worker="beta"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "dpt_worker_contributions_sent_total"); err != nil {
		t.Error(err)
	}
}

func TestNilRegistererWorks(t *testing.T) {
	c := NewCoordinator(nil, "v")
	populateCoordinator(c)
	w := NewWorker(nil, "w", "v")
	populateWorker(w)
	if got := testutil.ToFloat64(c.Step); got != 12 {
		t.Errorf("step = %v, want 12", got)
	}
}

func TestDoubleRegistrationPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewCoordinator(reg, "v")
	defer func() {
		if recover() == nil {
			t.Error("second NewCoordinator on one registry did not panic")
		}
	}()
	NewCoordinator(reg, "v")
}

func TestTransportCounts(t *testing.T) {
	tr := newTransport(promautoNone())
	tr.Sent(KindPlan, 100)
	tr.Sent(KindPlan, 50)
	tr.Sent(KindPlan, -7) // a negative size is a caller bug; it must not decrement (which would panic)
	tr.Received(KindShard, 10)
	if got := testutil.ToFloat64(tr.SentBytes.WithLabelValues("plan")); got != 150 {
		t.Errorf("sent bytes = %v, want 150", got)
	}
	if got := testutil.ToFloat64(tr.SentMessages.WithLabelValues("plan")); got != 3 {
		t.Errorf("sent messages = %v, want 3", got)
	}
	if got := testutil.ToFloat64(tr.ReceivedBytes.WithLabelValues("shard")); got != 10 {
		t.Errorf("received bytes = %v, want 10", got)
	}
}

func TestWorkerLabelCap(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := NewCoordinator(reg, "v")
	const extra = 44
	for i := range MaxWorkerLabels + extra {
		c.ObserveContribution(fmt.Sprintf("worker-%03d", i), time.Millisecond, time.Millisecond)
	}
	// A name admitted early keeps its own series after the cap is reached.
	c.ObserveContribution("worker-000", time.Millisecond, time.Millisecond)

	if n := testutil.CollectAndCount(c.contribAccepted); n != MaxWorkerLabels+1 {
		t.Errorf("accepted series = %d, want %d (+1 for %q)", n, MaxWorkerLabels+1, OtherWorker)
	}
	if got := testutil.ToFloat64(c.contribAccepted.WithLabelValues(OtherWorker)); got != extra {
		t.Errorf("accepted{worker=%q} = %v, want %d", OtherWorker, got, extra)
	}
	if got := testutil.ToFloat64(c.contribAccepted.WithLabelValues("worker-000")); got != 2 {
		t.Errorf("accepted{worker=worker-000} = %v, want 2", got)
	}
	if got := c.WorkerLabel(fmt.Sprintf("worker-%03d", MaxWorkerLabels+1)); got != OtherWorker {
		t.Errorf("label past the cap = %q, want %q", got, OtherWorker)
	}
}

func TestSanitizeWorker(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes; the cut must fall on a rune boundary
	for _, tc := range []struct{ in, want string }{
		{"w1", "w1"},
		{"", OtherWorker},
		{"bad\xffname", "bad\uFFFDname"},
		{long, strings.Repeat("é", maxWorkerNameBytes/2)},
		{strings.Repeat("a", 127) + "é", strings.Repeat("a", 127)},
	} {
		if got := sanitizeWorker(tc.in); got != tc.want {
			t.Errorf("sanitizeWorker(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSanitizeWorker(f *testing.F) {
	for _, s := range []string{"", "w", "other", "\xff", "a\x00b", strings.Repeat("€", 60), "\"quoted\"\n"} {
		f.Add(s)
	}
	c := NewCoordinator(nil, "v")
	f.Fuzz(func(t *testing.T, name string) {
		got := sanitizeWorker(name)
		if got == "" || !utf8.ValidString(got) || len(got) > maxWorkerNameBytes {
			t.Fatalf("sanitizeWorker(%q) = %q: empty, invalid or too long", name, got)
		}
		if again := sanitizeWorker(got); again != got {
			t.Fatalf("not idempotent: %q → %q → %q", name, got, again)
		}
		c.ObserveContribution(name, time.Millisecond, time.Millisecond) // must not panic
	})
}

func TestLintClean(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	populateCoordinator(NewCoordinator(reg, "v"))
	wreg := prometheus.NewPedanticRegistry()
	populateWorker(NewWorker(wreg, "w1", "v"))
	for name, g := range map[string]prometheus.Gatherer{"coordinator": reg, "worker": wreg} {
		problems, err := testutil.GatherAndLint(g)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", name, p.Metric, p.Text)
		}
	}
}

// TestPromtoolCheckMetrics runs `promtool check metrics` (Debian package
// prometheus) on the text exposition of populated registries, including the
// Go and process collectors a composition root adds.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (apt-get install prometheus); skipping the exposition check")
	}
	reg := prometheus.NewPedanticRegistry()
	populateCoordinator(NewCoordinator(reg, "v1"))
	if err := RegisterRuntime(reg); err != nil {
		t.Fatal(err)
	}
	wreg := prometheus.NewPedanticRegistry()
	populateWorker(NewWorker(wreg, "w1", "v1"))
	for name, g := range map[string]prometheus.Gatherer{"coordinator": reg, "worker": wreg} {
		text := expose(t, g)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(text)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("%s: promtool check metrics: %v\n%s", name, err, out)
		}
	}
}

func expose(t *testing.T, g prometheus.Gatherer) []byte {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func promautoNone() promauto.Factory { return promauto.With(nil) }
