package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// composeEnv is the environment of a compose run: the secrets and the
// dataset that deploy/.env holds for real users.
func composeEnv(dataDir, trainFile, trainArgs string) []string {
	return append(os.Environ(),
		"DPT_NATS_COORDINATOR_PASSWORD=test-coordinator-secret",
		"DPT_NATS_WORKER_PASSWORD=test-worker-secret",
		"DPT_GRAFANA_ADMIN_PASSWORD=test-grafana-secret",
		"DPT_DATA_DIR="+dataDir,
		"DPT_TRAIN_FILE="+trainFile,
		"DPT_TRAIN_ARGS="+trainArgs,
		"DPT_WORKERS=3",
		"DPT_VERSION=citest",
	)
}

// compose runs docker-compose on the stack (with the scratch override when
// scratch) in project p.
func compose(ctx context.Context, env []string, project string, scratch bool, args ...string) ([]byte, error) {
	files := []string{"-f", "docker-compose.yml"}
	if scratch {
		files = append(files, "-f", "docker-compose.scratch.yml")
	}
	full := append(append([]string{"-p", project}, files...), args...)
	cmd := exec.CommandContext(ctx, "docker-compose", full...)
	cmd.Env = env
	return cmd.CombinedOutput()
}

// TestComposeConfig checks both compose variants with `docker-compose
// config`, which needs no Docker engine: they parse, interpolate, and refuse
// to start without the secrets.
func TestComposeConfig(t *testing.T) {
	tool(t, "docker-compose", "apt-get install docker-compose")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := composeEnv("/srv/data", "train.libsvm", "--epochs=2")
	for _, scratch := range []bool{false, true} {
		out, err := compose(ctx, env, "dptconfig", scratch, "config")
		if err != nil {
			t.Fatalf("scratch=%v: docker-compose config: %v\n%s", scratch, err, out)
		}
		for _, want := range []string{"--train=/data/train.libsvm", "/srv/data:/data:ro", "--epochs=2", "--metrics-addr=:9400"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("scratch=%v: config lacks %q", scratch, want)
			}
		}
		if scratch && !bytes.Contains(out, []byte("--nats-listen=0.0.0.0:4222")) {
			t.Error("scratch override does not start the embedded NATS server")
		}
	}
	// Without the secrets, compose refuses to run (the ${VAR:?} guards).
	var bare []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DPT_") {
			bare = append(bare, kv)
		}
	}
	if out, err := compose(ctx, bare, "dptconfig", false, "config"); err == nil {
		t.Errorf("docker-compose config succeeded without DPT_NATS_*_PASSWORD:\n%.300s", out)
	}
}

// dockerEngine reports whether a Docker engine answers.
func dockerEngine() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info").Run() == nil
}

// report is the part of the coordinator's --report the test checks.
type report struct {
	Job          string `json:"job"`
	ParamsSHA256 string `json:"params_sha256"`
	Steps        uint64 `json:"steps"`
	Status       string `json:"status"`
	Workers      int    `json:"workers"`
}

// stack is one compose project of the scratch variant.
type stack struct {
	t       *testing.T
	project string
	env     []string
}

func (s *stack) compose(ctx context.Context, args ...string) string {
	s.t.Helper()
	out, err := compose(ctx, s.env, s.project, true, args...)
	if err != nil {
		s.t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *stack) down() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := compose(ctx, s.env, s.project, true, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
		s.t.Logf("docker-compose down: %v\n%s", err, out)
	}
}

func (s *stack) docker(ctx context.Context, args ...string) string {
	s.t.Helper()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// containers returns the ids of a service's containers.
func (s *stack) containers(ctx context.Context, service string) []string {
	return strings.Fields(s.compose(ctx, "ps", "-q", service))
}

// waitCoordinator waits until the coordinator container has exited and
// returns its exit code.
func (s *stack) waitCoordinator(ctx context.Context) int {
	s.t.Helper()
	ids := s.containers(ctx, "coordinator")
	if len(ids) != 1 {
		s.t.Fatalf("coordinator containers: %v", ids)
	}
	for {
		state := s.docker(ctx, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", ids[0])
		var status string
		var code int
		if _, err := fmt.Sscan(state, &status, &code); err != nil {
			s.t.Fatalf("inspect: %q: %v", state, err)
		}
		if status == "exited" || status == "dead" {
			return code
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("coordinator still %s: %v\n%s", status, ctx.Err(), s.compose(context.Background(), "logs", "--tail=50"))
		case <-time.After(time.Second):
		}
	}
}

func (s *stack) report(ctx context.Context) report {
	s.t.Helper()
	id := s.containers(ctx, "coordinator")[0]
	dst := filepath.Join(s.t.TempDir(), "report.json")
	s.docker(ctx, "cp", id+":/out/report.json", dst)
	b, err := os.ReadFile(dst)
	if err != nil {
		s.t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("report: %v\n%s", err, b)
	}
	return r
}

// promQuery asks the stack's Prometheus (published on 127.0.0.1:9090) for
// an instant vector.
func promQuery(ctx context.Context, q string) ([]struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://127.0.0.1:9090/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: status %s", q, body.Status)
	}
	return body.Data.Result, nil
}

// run brings the stack up with 3 workers, optionally disturbs it once the
// job is under way, waits for the coordinator and returns its report.
func (s *stack) run(ctx context.Context, disturb func(ctx context.Context)) report {
	s.t.Helper()
	s.compose(ctx, "up", "-d", "--scale", "worker=3")
	if disturb != nil {
		disturb(ctx)
	}
	if code := s.waitCoordinator(ctx); code != 0 {
		s.t.Fatalf("coordinator exited %d\n%s", code, s.compose(ctx, "logs", "--tail=80", "coordinator"))
	}
	return s.report(ctx)
}

// TestComposeStack is the CI smoke test of issue 5: build the FROM-scratch
// images, run a job with 3 workers, check the report and that Prometheus
// scraped every worker; then run it again with one worker killed and another
// cut from the network mid-run, and check the parameters are the same bits.
func TestComposeStack(t *testing.T) {
	if testing.Short() {
		t.Skip("compose stack: slow, skipped in -short mode")
	}
	tool(t, "docker-compose", "apt-get install docker-compose")
	tool(t, "docker", "a Docker engine")
	tool(t, "go", "the Go toolchain builds the static binaries")
	if !dockerEngine() {
		t.Skip("no Docker engine answers `docker info`; skipping the compose stack")
	}
	data := os.Getenv("DPT_SHARED_DATA")
	if data == "" {
		data = filepath.Join("..", "..", "shared", "data")
	}
	data, err := filepath.Abs(filepath.Join(data, "a9a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "a9a")); err != nil {
		t.Skipf("dataset a9a not found (%v); set DPT_SHARED_DATA", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, filepath.Join("scratch", "build.sh"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scratch/build.sh: %v\n%s", err, out)
	}
	// Long enough (tens of seconds on a 2-core machine) to disturb the job
	// mid-run; the coordinator lingers 12 s after it (--metrics-linger) so
	// that Prometheus scrapes its final values.
	const args = "--optimizer=sgd --lr=0.5 --batch-size=256 --epochs=60 --heartbeat-timeout=2s --grace=2m"
	s := &stack{t: t, project: fmt.Sprintf("dptci%d", os.Getpid()), env: composeEnv(data, "a9a", args)}
	t.Cleanup(s.down)
	s.compose(ctx, "build")

	// Undisturbed run.
	base := s.run(ctx, nil)
	if base.Status == "" || base.ParamsSHA256 == "" || base.Steps == 0 {
		t.Fatalf("undisturbed report incomplete: %+v", base)
	}
	t.Logf("undisturbed: %+v", base)
	for _, q := range []struct {
		expr string
		n    int
	}{
		{`dpt_worker_contributions_sent_total > 0`, 3}, // each worker, found by DNS
		{`max_over_time(dpt_step[10m]) > 0`, 1},        // the coordinator
	} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := promQuery(ctx, q.expr)
			if err == nil && len(res) >= q.n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Prometheus: %s: want %d series within 30s, got %v (%v)", q.expr, q.n, res, err)
			}
			time.Sleep(2 * time.Second)
		}
	}
	s.down()

	// Disturbed run: kill one worker, cut another from the network for a
	// while, once the first steps are done.
	disturbed := s.run(ctx, func(ctx context.Context) {
		coordinator := s.containers(ctx, "coordinator")[0]
		for !strings.Contains(s.docker(ctx, "logs", coordinator), `"msg":"epoch"`) {
			if st := s.docker(ctx, "inspect", "-f", "{{.State.Status}}", coordinator); st != "running" {
				t.Fatalf("coordinator %s before the first epoch ended", st)
			}
			select {
			case <-ctx.Done():
				t.Fatal("no epoch completed before the faults")
			case <-time.After(500 * time.Millisecond):
			}
		}
		workers := s.containers(ctx, "worker")
		if len(workers) < 3 {
			t.Fatalf("worker containers: %v", workers)
		}
		network := s.project + "_default"
		s.docker(ctx, "kill", workers[0])
		s.docker(ctx, "network", "disconnect", network, workers[1])
		time.Sleep(5 * time.Second)
		s.docker(ctx, "network", "connect", network, workers[1])
	})
	t.Logf("disturbed: %+v", disturbed)
	if disturbed.ParamsSHA256 != base.ParamsSHA256 || disturbed.Steps != base.Steps {
		t.Errorf("disturbed run: sha256 %s after %d steps, undisturbed %s after %d",
			disturbed.ParamsSHA256, disturbed.Steps, base.ParamsSHA256, base.Steps)
	}
}
