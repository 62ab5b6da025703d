// Command dashgen writes the Grafana dashboards of dptrain from code, with the
// Grafana Foundation SDK:
//
//	go run ./internal/dashgen -o dashboards/training.json
//
// or `go generate ./internal/dashgen`. Every PromQL expression names only
// metrics that internal/metrics registers (or that Prometheus itself adds,
// such as up); the package's test checks that, that each expression parses,
// and that the committed JSON is what this command writes.
package main

//go:generate go run . -o ../../dashboards/training.json

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", "dashboards/training.json", "file to write the training dashboard to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "dashgen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	b, err := trainingJSON()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("dashgen: %w", err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("dashgen: %w", err)
	}
	return nil
}
