package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Server timeouts. A scrape is small and local; these bound what a stuck or
// hostile client can hold.
const (
	readHeaderTimeout = 5 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// ShutdownTimeout bounds how long Serve waits for in-flight requests
	// once its context is done.
	ShutdownTimeout = 5 * time.Second
)

// Handler serves, on one port:
//
//	GET /metrics  the exposition of g (text or OpenMetrics, by Accept header)
//	GET /healthz  200 "ok" while the process runs (liveness)
//	GET /readyz   200 "ready" when ready() returns nil, else 503 and the
//	              error text (readiness: the coordinator is ready once its
//	              NATS connection and job are up, a worker once it joined)
//	GET /         a short index of these paths
//
// A nil ready is always ready. Other methods get 405, other paths 404.
func Handler(g prometheus.Gatherer, ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
				return
			}
		}
		writeText(w, http.StatusOK, "ready\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "dptrain\n/metrics  Prometheus exposition\n/healthz  liveness\n/readyz   readiness\n")
	})
	return mux
}

func writeText(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body) // the client went away: nothing to do
}

// Serve listens on addr (host:port; port 0 picks a free one, logged as
// "addr") and serves h until ctx is done, then shuts down gracefully: it
// stops accepting, waits up to ShutdownTimeout for in-flight requests and
// returns nil. It returns an error if it cannot listen or the server fails.
// A nil log discards the server's messages.
func Serve(ctx context.Context, addr string, h http.Handler, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          zap.NewStdLog(log.With(zap.String("component", "metrics-http"))),
	}
	log.Info("metrics: serving", zap.String("addr", ln.Addr().String()))

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	select {
	case err := <-done: // Serve returns only on failure before Shutdown
		return fmt.Errorf("metrics: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if shutdownErr != nil {
		_ = srv.Close() // the deadline passed: drop the stragglers; Close's error adds nothing
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve %s: %w", ln.Addr(), err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("metrics: shutdown %s: %w", ln.Addr(), shutdownErr)
	}
	log.Info("metrics: stopped", zap.String("addr", ln.Addr().String()))
	return nil
}
