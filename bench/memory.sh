#!/bin/bash
# bench/memory.sh: a worker's peak RSS against the bytes of the micro-shards
# it holds (issue 7, memory). Not part of CI.
#
# For each data size N (default 50000 and 200000 rows × 256 dense float32
# features, bench/gensynth), runs a logistic full-batch job with 2 external
# worker processes that fetch their micro-shards from the JetStream object
# store (--data-via nats), and prints each worker's peak RSS (VmHWM) and the
# bytes of its micro-shards (rows/2 × (256·4 + 4) bytes of features and
# target). Two sizes give the fixed overhead as the intercept of
# RSS = a + b·bytes.
#
# DPT_BENCH_MODE=path instead runs workers that read the whole file from a
# shared path (--data-via path): each holds every micro-shard, n × (256·4 +
# 4) bytes.
#
# Needs root (the workers run as nobody through setpriv). Environment:
# DPT_BENCH_DIR (default /tmp/dptbench), DPT_BENCH_SIZES (default
# "50000 200000"), DPT_BENCH_MODE (nats or path, default nats).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${DPT_BENCH_DIR:-/tmp/dptbench}
mkdir -p "$W/bin"
go build -o "$W/bin/coordinator" ./cmd/coordinator
go build -o "$W/bin/worker" ./cmd/worker
go build -o "$W/bin/gensynth" ./bench/gensynth
sizes=${DPT_BENCH_SIZES:-"50000 200000"}
mode=${DPT_BENCH_MODE:-nats}
case "$mode" in
nats) perm=600 ;;
path) perm=644 ;;
*) echo "DPT_BENCH_MODE must be nats or path" >&2; exit 2 ;;
esac
echo "mode: $mode"
printf '| rows | micro-shard bytes per worker | worker peak RSS (MB) |\n|---|---|---|\n'
for n in $sizes; do
	data="$W/data-mem-$n"
	"$W/bin/gensynth" -out "$data" -n "$n" >/dev/null
	run=$(mktemp -d "$W/mem-run-XXXXXX")
	port=$(( 20000 + RANDOM % 20000 ))
	# The workers run as another user that cannot read the file (mode
	# 0600), so they fetch their micro-shards from the object store instead
	# of reading the whole file (what a worker on a shared volume does).
	# In path mode they can, and do.
	chmod "$perm" "$data/synth_N${n}_d256.bin.svm"
	chmod 755 "$data"
	chmod 755 "$run"
	(cd "$data" && exec "$W/bin/coordinator" train --train "synth_N${n}_d256.bin.svm" --task binary --loss logistic \
		--scale none --l2 0 --optimizer sgd --lr 0.5 --batch-size "$n" --epochs 3 \
		--local-workers 0 --workers 2 --data-via "$mode" --checkpoint-every 0 --checkpoint-dir "$run/ckpt" \
		--nats-listen "127.0.0.1:$port" --nats-data "$run/nats" --report "$run/report.json" \
		--log-level warn) >"$run/coordinator.log" 2>&1 &
	coord=$!
	pids=()
	for w in 0 1; do
		(cd "$run" && exec setpriv --reuid=nobody --regid=nogroup --clear-groups "$W/bin/worker" --nats "nats://127.0.0.1:$port" --name "mem$w" --threads 1 --log-level warn \
			) >"$run/worker$w.log" 2>&1 &
		pids+=($!)
	done
	wait "$coord" || echo "coordinator failed, see $run" >&2
	rss=()
	for p in "${pids[@]}"; do
		rss+=("$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$p/status" 2>/dev/null || echo "?")")
		kill "$p" 2>/dev/null || true
	done
	wait "${pids[@]}" 2>/dev/null || true
	held=$(( n / 2 ))
	if [ "$mode" = path ]; then held=$n; fi
	bytes=$(( held * (256 * 4 + 4) ))
	printf '| %d | %d (%.1f MB) | %s |\n' "$n" "$bytes" "$(echo "$bytes / 1000000" | bc -l)" "${rss[*]}"
	rm -rf "$run"
done
