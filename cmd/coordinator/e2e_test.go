package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nlpodyssey/safetensors"
)

// The end-to-end tests build the two binaries and run them as separate
// processes on loopback, as a user would.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) (coordinator, worker string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binaries")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "dpt-e2e-")
		if buildErr != nil {
			return
		}
		for _, p := range []string{"coordinator", "worker"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, p), "../"+p).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", p, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "coordinator"), filepath.Join(binDir, "worker")
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

const digitsTrain, digitsTest = "../../examples/digits/digits-train.csv.gz", "../../examples/digits/digits-test.csv.gz"

// train runs `coordinator train` with args plus --report and returns the
// report. extra workers are started as processes once the coordinator runs.
// report is the part of the JSON report the tests read.
type trainReport struct {
	ParamsSHA256 string `json:"params_sha256"`
	Steps        uint64 `json:"steps"`
	Workers      int    `json:"workers"`
	Reissued     uint64 `json:"reissued"`
	// Contributions counts what the coordinator added: blocks, or group
	// leaders' node sums.
	Contributions uint64 `json:"contributions"`
	Train         struct {
		Objective float64 `json:"objective"`
		Loss      float64 `json:"loss"`
		Accuracy  float64 `json:"accuracy"`
	} `json:"train"`
	Test *struct {
		Accuracy float64 `json:"accuracy"`
		Loss     float64 `json:"loss"`
	} `json:"test"`
}

func train(t *testing.T, externalWorkers int, args ...string) trainReport {
	t.Helper()
	coordBin, workerBin := binaries(t)
	dir := t.TempDir()
	addr := freePort(t)
	report := filepath.Join(dir, "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args = append(args, "--report", report, "--nats-listen", addr, "--nats-data", filepath.Join(dir, "nats"), "--log-format", "json")
	if externalWorkers > 0 {
		args = append(args, "--workers", fmt.Sprint(externalWorkers), "--join-timeout", "60s")
	}
	cmd := exec.CommandContext(ctx, coordBin, append([]string{"train"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var workers []*exec.Cmd
	for i := 0; i < externalWorkers; i++ {
		w := exec.CommandContext(ctx, workerBin, "--nats", "nats://"+addr, "--name", fmt.Sprintf("ext-%d", i), "--log-format", "json", "--threads", "1")
		w.Stderr = &bytes.Buffer{}
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	err := cmd.Wait()
	for _, w := range workers {
		_ = w.Process.Signal(os.Interrupt)
		_ = w.Wait()
	}
	if err != nil {
		t.Fatalf("coordinator: %v\n%s", err, tail(stderr.String(), 3000))
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r trainReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestEndToEndSameBits is the determinism acceptance check: the
// params_sha256 of the report is the same for 1, 2, 3 and 5 local workers,
// for 2 external worker processes that fetch their data over NATS, and
// with group leaders (--group-size) among local and external workers, where
// the coordinator adds fewer contributions.
func TestEndToEndSameBits(t *testing.T) {
	common := []string{"--train", digitsTrain, "--test", digitsTest, "--label-column", "64",
		"--optimizer", "adam", "--lr", "0.01", "--batch-size", "256", "--epochs", "3", "--seed", "7", "--micro-shards", "7"}
	var want string
	contributions := map[string]uint64{}
	for _, run := range []struct {
		name     string
		external int
		args     []string
	}{
		{"local-1", 0, []string{"--local-workers", "1"}},
		{"local-2", 0, []string{"--local-workers", "2"}},
		{"local-3", 0, []string{"--local-workers", "3"}},
		{"external-2", 2, []string{"--local-workers", "0"}},
		{"local-5", 0, []string{"--local-workers", "5"}},
		{"local-5-groups-of-2", 0, []string{"--local-workers", "5", "--group-size", "2"}},
		{"external-3-local-2-groups-sqrt", 3, []string{"--local-workers", "2", "--group-size", "-1"}},
	} {
		r := train(t, run.external, append(append([]string(nil), common...), run.args...)...)
		t.Logf("%s: params_sha256 %s, %d steps, test accuracy %.4f, %d workers, %d contributions",
			run.name, r.ParamsSHA256, r.Steps, r.Test.Accuracy, r.Workers, r.Contributions)
		contributions[run.name] = r.Contributions
		if want == "" {
			want = r.ParamsSHA256
			if r.Test == nil || r.Test.Accuracy < 0.85 {
				t.Errorf("%s: test metrics %+v", run.name, r.Test)
			}
			if tr := r.Train; !(tr.Objective > tr.Loss && tr.Loss > 0 && tr.Accuracy > 0.85) {
				t.Errorf("%s: train section %+v: want objective > loss > 0 and an accuracy", run.name, tr)
			}
		} else if r.ParamsSHA256 != want {
			t.Errorf("%s: params_sha256 %s, local-1 gave %s", run.name, r.ParamsSHA256, want)
		}
	}
	for _, g := range []string{"local-5-groups-of-2", "external-3-local-2-groups-sqrt"} {
		if contributions[g] >= contributions["local-5"] {
			t.Errorf("%s: the coordinator added %d contributions, %d without groups", g, contributions[g], contributions["local-5"])
		}
	}
}

// TestModelFileRoundTrip trains, writes the model, reads it with an
// independent safetensors reader, and evaluates and predicts with it.
func TestModelFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	r := train(t, 0, "--train", digitsTrain, "--test", digitsTest, "--label-column", "64", "--epochs", "30", "--out", model, "--local-workers", "2")

	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		t.Fatalf("independent reader: %v", err)
	}
	w, ok := st.Tensor("layers.0.weight")
	if !ok {
		t.Fatalf("no layers.0.weight in %v", st.Names())
	}
	if shape := w.Shape(); len(shape) != 2 || shape[0] != 64 || shape[1] != 10 || w.DType() != safetensors.F64 {
		t.Errorf("weight %v %v, want F64 [64 10]", w.DType(), shape)
	}
	_, meta, err := safetensors.ReadMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	if md := meta.Metadata(); md["task"] != "multiclass" || md["loss"] != "softmax" || md["params_sha256"] != r.ParamsSHA256 {
		t.Errorf("metadata %v", md)
	}

	coordBin, _ := binaries(t)
	evalReport := filepath.Join(dir, "eval.json")
	out, err := exec.Command(coordBin, "eval", "--model", model, "--data", digitsTest, "--label-column", "64", "--report", evalReport).CombinedOutput()
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "confusion matrix") {
		t.Errorf("eval printed no confusion matrix:\n%s", out)
	}
	var ev struct {
		Test struct {
			Accuracy float64 `json:"accuracy"`
			Loss     float64 `json:"loss"`
		} `json:"test"`
	}
	eb, _ := os.ReadFile(evalReport)
	if err := json.Unmarshal(eb, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Test.Accuracy != r.Test.Accuracy || ev.Test.Loss != r.Test.Loss {
		t.Errorf("eval gives accuracy %v loss %v, training reported %v %v", ev.Test.Accuracy, ev.Test.Loss, r.Test.Accuracy, r.Test.Loss)
	}

	pred := filepath.Join(dir, "pred.txt")
	if out, err := exec.Command(coordBin, "predict", "--model", model, "--data", digitsTest, "--label-column", "64", "--out", pred).CombinedOutput(); err != nil {
		t.Fatalf("predict: %v\n%s", err, out)
	}
	pb, _ := os.ReadFile(pred)
	lines := strings.Split(strings.TrimSpace(string(pb)), "\n")
	if len(lines) != 359 {
		t.Fatalf("predict wrote %d lines, want 359", len(lines))
	}
	var sum float64
	for _, f := range strings.Fields(lines[0]) {
		var v float64
		fmt.Sscan(f, &v)
		sum += v
	}
	if len(strings.Fields(lines[0])) != 10 || sum < 0.999 || sum > 1.001 {
		t.Errorf("first prediction %q: want 10 probabilities summing to 1", lines[0])
	}
}
