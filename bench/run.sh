#!/bin/sh
# bench/run.sh [ROUNDS]: the performance benchmark of issue 7 (not part of CI).
#
# Builds the coordinator, generates the synthetic workload (bench/gensynth,
# fixed seed; and ../shared/bench/gen_synth.py's .npz when PyTorch is
# installed), then alternates the project's trainer (2 local workers over
# the embedded NATS server) with PyTorch DDP-gloo (2 processes × 1 thread)
# for ROUNDS rounds (default 3) and prints a table of medians and ratios.
#
# Environment: DPT_BENCH_DIR (default /tmp/dptbench) holds the binaries,
# the data (about 2 GB of text) and results.jsonl; DPT_BENCH_BEFORE names
# a second coordinator binary to measure side by side (a before/after run).
# PyTorch: apt-get install -y python3-torch python3-numpy.
set -eu
cd "$(dirname "$0")/.."
W=${DPT_BENCH_DIR:-/tmp/dptbench}
mkdir -p "$W/bin" "$W/data"
go build -o "$W/bin/coordinator" ./cmd/coordinator
go build -o "$W/bin/gensynth" ./bench/gensynth
go build -o "$W/bin/harness" ./bench/harness
"$W/bin/gensynth" -out "$W/data"
if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null && [ ! -f "$W/data/synth_N200000_d256.npz" ]; then
	/usr/bin/python3 ../shared/bench/gen_synth.py "$W/data"
fi
set -- -rounds "${1:-3}" -data "$W/data" -results "$W/results.jsonl" -trainer "dptrain=$W/bin/coordinator"
if [ -n "${DPT_BENCH_BEFORE:-}" ]; then
	set -- "$@" -trainer "before=$DPT_BENCH_BEFORE"
fi
exec "$W/bin/harness" "$@"
