// Command coordinator trains, evaluates and applies classifiers. `train`
// runs the coordinator of a distributed job (with an embedded NATS server
// and local workers unless told otherwise); `eval` and `predict` read a
// model file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: coordinator <command> [flags]

commands:
  train     train a model (coordinator of a distributed job)
  eval      evaluate a model file on labelled data
  predict   write the class probabilities of each row
  experiment  compare the losses on real data (docs/experiments.md)
  nats-server  run a standalone NATS server (JetStream, credentials, TLS) until SIGTERM
  chaos     soak test: randomized trials of worker, coordinator and NATS failures

Run "coordinator <command> -h" for the flags of a command.
`

var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "train":
		err = runTrain(ctx, args)
	case "eval":
		err = runEval(ctx, args)
	case "predict":
		err = runPredict(ctx, args)
	case "experiment":
		err = runExperiment(ctx, args)
	case "nats-server":
		err = runNATSServer(ctx, args)
	case "chaos":
		err = runChaos(ctx, args)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "coordinator: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "coordinator: %v\n", err)
		os.Exit(1)
	}
}
