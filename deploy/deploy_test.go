package deploy

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// tool returns the path of a command, or skips the test with a message.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not on PATH (%s); skipping", name, install)
	}
	return p
}

// runTool runs a command with a deadline and returns its combined output.
func runTool(t *testing.T, timeout time.Duration, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := tool(t, "promtool", "apt-get install prometheus")
	out, err := runTool(t, time.Minute, promtool, "check", "rules", filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := tool(t, "promtool", "apt-get install prometheus")
	out, err := runTool(t, 2*time.Minute, promtool, "test", "rules", filepath.Join("prometheus", "alerts_test.yml"))
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("SUCCESS")) {
		t.Fatalf("promtool test rules did not report SUCCESS:\n%s", out)
	}
}

func TestPromtoolCheckConfig(t *testing.T) {
	promtool := tool(t, "promtool", "apt-get install prometheus")
	out, err := runTool(t, time.Minute, promtool, "check", "config", filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}

// Test passwords; the real ones live in deploy/.env (see .env.example).
const (
	coordinatorPassword = "test-coordinator-secret"
	workerPassword      = "test-worker-secret"
)

// startConfiguredNATS starts an in-process nats-server from nats/nats.conf,
// on a random loopback port with a temporary JetStream directory.
func startConfiguredNATS(t *testing.T) *server.Server {
	t.Helper()
	t.Setenv("DPT_NATS_COORDINATOR_PASSWORD", coordinatorPassword)
	t.Setenv("DPT_NATS_WORKER_PASSWORD", workerPassword)
	opts, err := server.ProcessConfigFile(filepath.Join("nats", "nats.conf"))
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.HTTPHost, opts.HTTPPort = "", 0 // no monitoring listener in tests
	opts.StoreDir = t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server from nats.conf: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server not ready after 10s")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// violations collects the permission errors the server reports to a client.
type violations chan error

func connect(t *testing.T, ns *server.Server, user, password string) (*nats.Conn, violations) {
	t.Helper()
	v := make(violations, 64)
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(user, password), nats.Name(user),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case v <- err:
				default:
				}
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc, v
}

// violated waits briefly for a permission violation after a flush: the
// server reports a denied publish or subscription asynchronously.
func violated(t *testing.T, nc *nats.Conn, v violations) bool {
	t.Helper()
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	select {
	case <-v:
		return true
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

func TestNATSConfigRejectsStrangers(t *testing.T) {
	ns := startConfiguredNATS(t)
	if nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("worker", "wrong")); err == nil {
		nc.Close()
		t.Error("worker connected with a wrong password")
	}
	if nc, err := nats.Connect(ns.ClientURL()); err == nil {
		nc.Close()
		t.Error("anonymous client connected")
	}
}

func TestNATSConfigWorkerPermissions(t *testing.T) {
	ns := startConfiguredNATS(t)
	nc, v := connect(t, ns, "worker", workerPassword)
	for _, tc := range []struct {
		subject string
		allowed bool
	}{
		{"dpt.join", true},
		{"dpt.job.get", true},
		{"dpt.hb.w1", true},
		{"dpt.leave.w1", true},
		{"dpt.contrib.w1", true},
		{"dpt.fail.w1", true},
		{"dpt.relay.w2.w1", true}, // to its group leader
		// The coordinator's broadcasts: a worker must not forge them.
		{"dpt.params", false},
		{"dpt.plan", false},
		{"dpt.job", false},
		// Nothing outside the protocol, and no JetStream writes.
		{"dpt.contrib", false},
		{"dpt.relay.w2", false},
		{"other.subject", false},
		{"$JS.API.STREAM.CREATE.X", false},
		{"$JS.API.STREAM.DELETE.OBJ_dpt-job", false},
		{"$JS.API.STREAM.PURGE.OBJ_dpt-job", false},
		{"$O.dpt-job.C.abc", false},
	} {
		if err := nc.Publish(tc.subject, []byte("x")); err != nil {
			t.Fatalf("publish %s: %v", tc.subject, err)
		}
		if got := !violated(t, nc, v); got != tc.allowed {
			t.Errorf("worker publish %s: allowed = %v, want %v", tc.subject, got, tc.allowed)
		}
	}
	for _, tc := range []struct {
		subject string
		allowed bool
	}{
		{"dpt.params", true},
		{"dpt.plan", true},
		{"dpt.job", true},
		{"_INBOX.abc", true},
		{"dpt.relay.w1.*", true},  // what its group sends a leader
		{"dpt.contrib.w2", false}, // another worker's contributions
		{"dpt.join", false},
		{">", false},
	} {
		sub, err := nc.SubscribeSync(tc.subject)
		if err != nil {
			t.Fatalf("subscribe %s: %v", tc.subject, err)
		}
		got := !violated(t, nc, v)
		_ = sub.Unsubscribe() // a denied subscription is already gone server-side
		if got != tc.allowed {
			t.Errorf("worker subscribe %s: allowed = %v, want %v", tc.subject, got, tc.allowed)
		}
	}
}

func TestNATSConfigCoordinatorPermissions(t *testing.T) {
	ns := startConfiguredNATS(t)
	nc, v := connect(t, ns, "coordinator", coordinatorPassword)
	for _, tc := range []struct {
		subject string
		allowed bool
	}{
		{"dpt.params", true},
		{"dpt.plan", true},
		{"dpt.job", true},
		{"dpt.contrib.w1", false}, // the coordinator never speaks for a worker
		{"dpt.hb.w1", false},
		{"other.subject", false},
	} {
		if err := nc.Publish(tc.subject, []byte("x")); err != nil {
			t.Fatalf("publish %s: %v", tc.subject, err)
		}
		if got := !violated(t, nc, v); got != tc.allowed {
			t.Errorf("coordinator publish %s: allowed = %v, want %v", tc.subject, got, tc.allowed)
		}
	}
}

// TestNATSConfigObjectStore: the coordinator writes micro-shards to an
// object store; a worker reads them and can neither write nor delete.
func TestNATSConfigObjectStore(t *testing.T) {
	ns := startConfiguredNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cnc, _ := connect(t, ns, "coordinator", coordinatorPassword)
	cjs, err := jetstream.New(cnc)
	if err != nil {
		t.Fatal(err)
	}
	const bucket = "dpt-0123abcd"
	cobj, err := cjs.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("coordinator creates the bucket: %v", err)
	}
	shard := bytes.Repeat([]byte("micro-shard "), 50_000) // several chunks
	if _, err := cobj.PutBytes(ctx, "train/000000", shard); err != nil {
		t.Fatalf("coordinator puts a shard: %v", err)
	}

	wnc, _ := connect(t, ns, "worker", workerPassword)
	wjs, err := jetstream.New(wnc)
	if err != nil {
		t.Fatal(err)
	}
	wobj, err := wjs.ObjectStore(ctx, bucket)
	if err != nil {
		t.Fatalf("worker opens the bucket: %v", err)
	}
	got, err := wobj.GetBytes(ctx, "train/000000")
	if err != nil {
		t.Fatalf("worker gets a shard: %v", err)
	}
	if !bytes.Equal(got, shard) {
		t.Fatalf("worker read %d bytes, want the %d written", len(got), len(shard))
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := wobj.PutBytes(short, "train/000001", []byte("forged")); err == nil {
		t.Error("worker could put an object")
	}
	if err := wobj.Delete(short, "train/000000"); err == nil {
		t.Error("worker could delete an object")
	}
	if _, err := wjs.CreateObjectStore(short, jetstream.ObjectStoreConfig{Bucket: "dpt-forged"}); err == nil {
		t.Error("worker could create a bucket")
	}
	// The shard is intact after the attempts.
	if got, err := cobj.GetBytes(ctx, "train/000000"); err != nil || !bytes.Equal(got, shard) {
		t.Errorf("shard after the worker's attempts: %d bytes, err %v", len(got), err)
	}
}
