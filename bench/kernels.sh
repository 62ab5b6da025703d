#!/bin/sh
# bench/kernels.sh BEFORE_TREE [ROUNDS] [REGEX]: the internal/model pass
# benchmarks of BEFORE_TREE (another checkout of this module, e.g. a
# `git worktree` of an older commit) and of this tree, alternated ROUNDS
# times (default 6) so that both see the same machine load, compared with
# benchstat (go install golang.org/x/perf/cmd/benchstat@latest). Not CI.
set -eu
before=$1
rounds=${2:-6}
regex=${3:-'LinearDense|LinearSparse|MLPDense'}
cd "$(dirname "$0")/.."
W=${DPT_BENCH_DIR:-/tmp/dptbench}
mkdir -p "$W/bin"
(cd "$before/internal/model" && go test -c -o "$W/bin/model-before.test" .)
(cd internal/model && go test -c -o "$W/bin/model-after.test" .)
: >"$W/kernels-before.txt"
: >"$W/kernels-after.txt"
i=0
while [ "$i" -lt "$rounds" ]; do
	for side in before after; do
		(cd internal/model && "$W/bin/model-$side.test" -test.run '^$' -test.bench "$regex" \
			-test.benchtime 5x -test.count 1 -test.benchmem) | grep '^Benchmark' >>"$W/kernels-$side.txt"
	done
	i=$((i + 1))
done
uptime
benchstat "$W/kernels-before.txt" "$W/kernels-after.txt"
