// Package chaos injects real faults into real processes: it runs the
// coordinator and worker binaries (and `coordinator nats-server`) on
// loopback, kills, stops and restarts them at seeded random steps, and
// checks that the job still ends with the params_sha256 of its fault-free
// run (DESIGN.md promises 2–4). The fault tests of cmd/coordinator and the
// `coordinator chaos` soak command are built on it.
//
// # Trials
//
// A trial starts the coordinator with an embedded NATS server (or, for
// NATSRestart, an external `coordinator nats-server`) and Workers external
// worker processes, waits until the coordinator's log shows that the
// planned number of optimizer steps completed, and strikes:
//
//	WorkerKill       SIGKILL of one or two workers (never all)
//	CoordinatorKill  SIGKILL of the coordinator, which takes its embedded
//	                 server with it; after a pause the same command runs
//	                 again with --resume and the same --nats-data, and the
//	                 workers, still running, reconnect
//	NATSRestart      SIGKILL of the external NATS server, restarted on the
//	                 same port and data directory after a pause
//	Straggler        SIGSTOP of a worker for a pause, then SIGCONT
//
// [Plan] draws when (between 10 % and 80 % of the fault-free step count),
// whom and how long from a seed, so a failing trial can be replayed.
//
// # Measurements
//
// Times come from the children's own log timestamps (zap's "ts", the
// same clock as the harness's) and the instant the harness sent the
// signal:
//
//   - detection: from a worker's SIGKILL (or SIGSTOP) to the coordinator's
//     "worker declared dead" line for it (for a straggler, also its first
//     speculative re-issue);
//   - recovery: from the fault to the first optimizer step the coordinator
//     completes after the fault was detected (for a straggler, or after
//     SIGCONT if that came first), after the NATS server is back, or, for a
//     coordinator kill, by the resumed coordinator.
//
// A completed step is the coordinator's "step" debug line (mini-batch
// optimizers) or "epoch" line (full-batch ones, one per iteration); see
// [Progress].
package chaos
