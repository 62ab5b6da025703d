// Command worker serves training jobs: it joins the coordinator over NATS,
// loads its data (from a shared path or the object store), and computes the
// contributions of the micro-shards the coordinator assigns to it, until it
// is stopped (SIGINT or SIGTERM, after which it leaves the job cleanly).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/dptrain/dptrain/internal/cli"
	"github.com/dptrain/dptrain/internal/metrics"
	"github.com/dptrain/dptrain/internal/natsbus"
	"github.com/dptrain/dptrain/internal/trainer"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "worker: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var nf cli.NATSFlags
	nf.Register(fs, "URL of the NATS server the coordinator uses (required)")
	host, _ := os.Hostname()
	name := fs.String("name", workerName(host, os.Getpid()), "worker name, unique in the job (a NATS subject token)")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz on this address")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "compute goroutines")
	gcPercent := fs.Int("gc-percent", 20, "the Go GC's target heap growth (GOGC) in percent: a worker's heap is mostly its data, so a small headroom keeps its memory near the bytes it holds (the GOGC environment variable wins)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "auto", "auto, json or console")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if nf.URL == "" {
		return errors.New("--nats is required")
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}
	log, err := cli.NewLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	wm := metrics.NewWorker(reg, *name, version)

	cctx, cancel := context.WithTimeout(ctx, nf.ConnectTimeout)
	bus, err := natsbus.Connect(cctx, nf.Conn(nf.URL, *name, os.Getenv), log.Named("nats"), natsbus.Hooks{
		Disconnected: func(err error) { log.Warn("disconnected from NATS", zap.Error(err)) },
		Reconnected:  func(url string) { log.Info("reconnected to NATS", zap.String("url", url)) },
	})
	cancel()
	if err != nil {
		return err
	}
	defer bus.Close()
	wc := trainer.DefaultWorkerConfig(*name)
	wc.Subjects, wc.Parallelism = natsbus.Subjects{Prefix: nf.Prefix}, *threads
	w, err := trainer.NewWorker(wc, bus, log, wm)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if *metricsAddr != "" {
		h := metrics.Handler(reg, func() error { return nil })
		g.Go(func() error { return metrics.Serve(gctx, *metricsAddr, h, log.Named("metrics")) })
	}
	g.Go(func() error { return w.Run(gctx) })
	log.Info("worker started", zap.String("name", *name), zap.String("nats", nf.URL))
	return g.Wait()
}

// workerName derives a default worker name, a valid NATS subject token,
// from the host name and the process id.
func workerName(host string, pid int) string {
	b := []byte(host)
	for i, c := range b {
		if c == '.' || c == '*' || c == '>' || c <= ' ' || c > '~' {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		b = []byte("worker")
	}
	return fmt.Sprintf("%s-%d", b, pid)
}
