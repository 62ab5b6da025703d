package natsbus

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// startTestServer starts an embedded server on a random loopback port with
// cfg's other settings, shut down at the end of the test.
func startTestServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:-1"
	}
	s, err := StartServer(cfg)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// connectTest connects to url, closing the bus at the end of the test.
func connectTest(t testing.TB, cfg ConnConfig, hooks Hooks) *Bus {
	t.Helper()
	if cfg.ReconnectWait == 0 {
		cfg.ReconnectWait = 20 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Connect(ctx, cfg, zaptest.NewLogger(t), hooks)
	if err != nil {
		t.Fatalf("Connect(%s): %v", cfg.URL, err)
	}
	t.Cleanup(func() { _ = b.Close() }) // idempotent; tests that check Close call it themselves
	return b
}

// waitFor polls cond every 10 ms until it holds or total elapses.
func waitFor(t testing.TB, total time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(total)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", total, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receive returns the next message of in, failing after timeout.
func receive(t testing.TB, in *Inbox, timeout time.Duration) Message {
	t.Helper()
	select {
	case m, ok := <-in.C:
		if !ok {
			t.Fatalf("inbox %s closed", in.Subject())
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no message on %s after %v (dropped: %v)", in.Subject(), timeout, in.Dropped())
	}
	return Message{}
}

// expectNone fails if in delivers a message within d.
func expectNone(t testing.TB, in *Inbox, d time.Duration) {
	t.Helper()
	select {
	case m := <-in.C:
		t.Fatalf("unexpected %d-byte message on %s", len(m.Data), m.Subject)
	case <-time.After(d):
	}
}

// randomBytes returns n bytes from a ChaCha8 stream seeded with seed.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b) // never fails
	return b
}

// sameBytes reports equality and, if not, the first differing index.
func sameBytes(a, b []byte) (bool, int) {
	if bytes.Equal(a, b) {
		return true, -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return false, i
		}
	}
	return false, min(len(a), len(b))
}

func writeFile(path string) error { return os.WriteFile(path, []byte("x"), 0o600) }
