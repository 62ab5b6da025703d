package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func get(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHandlerProbes(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := NewCoordinator(reg, "v")
	c.Step.Set(7)
	var notReady atomic.Pointer[error]
	errJoin := errors.New("waiting for workers to join")
	notReady.Store(&errJoin)
	h := Handler(reg, func() error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	})

	if code, body := get(t, h, http.MethodGet, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	code, body := get(t, h, http.MethodGet, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for workers to join") {
		t.Errorf("/readyz before ready = %d %q, want 503 with the error", code, body)
	}
	notReady.Store(nil)
	if code, _ := get(t, h, http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready = %d, want 200", code)
	}
	code, body = get(t, h, http.MethodGet, "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "\ndpt_step 7\n") {
		t.Errorf("/metrics = %d, body lacks dpt_step 7:\n%.400s", code, body)
	}
	if code, _ := get(t, h, http.MethodPost, "/metrics"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %d, want 405", code)
	}
	if code, _ := get(t, h, http.MethodGet, "/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
	if code, body := get(t, h, http.MethodGet, "/"); code != http.StatusOK || !strings.Contains(body, "/metrics") {
		t.Errorf("GET / = %d %q, want an index", code, body)
	}
}

func TestHandlerNilReady(t *testing.T) {
	h := Handler(prometheus.NewRegistry(), nil)
	if code, _ := get(t, h, http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with nil ready = %d, want 200", code)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	NewWorker(reg, "w1", "v")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", Handler(reg, nil), zap.New(core)) }()

	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		for _, e := range logs.FilterMessage("metrics: serving").All() {
			addr, _ = e.ContextMap()["addr"].(string)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if addr == "" {
		cancel()
		t.Fatal("Serve did not log its address within 5s")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `dpt_worker_step{worker="w1"} 0`) {
		t.Errorf("scrape lacks dpt_worker_step{worker=\"w1\"}:\n%.400s", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(ShutdownTimeout + 2*time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("listener still accepts after shutdown")
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Serve(context.Background(), ln.Addr().String(), http.NotFoundHandler(), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "metrics: listen") {
		t.Errorf("Serve on a taken port = %v, want a metrics: listen error", err)
	}
}
