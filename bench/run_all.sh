#!/usr/bin/env bash
# Runs every benchmark against an already-built tree (it builds nothing):
#
#   bash bench/run_all.sh BUILD_DIR
#
# BUILD_DIR needs the targets oak, oak_scheduler_bench, oak_bench_deploy and oak_bench_broker_rate, and for the deploy benchmark with a
# cluster also oak_bench_fake_cluster (built when OAK_BUILD_TESTS=ON).
# BENCH_QUICK=1: short runs (scheduler: 0.05 s per case; root: 1,000 services, 3 s wrk runs;
# chaos: 30 nodes, 300 instances, 40 s; real containers: 20 deploys, 20 s CPU windows, 4 node kills).
# BENCH_OUT_DIR=DIR: also write scheduler.json, root.json, placement.json, chaos.json, runc.json and
# crash.json there.
# The real-container benchmarks (bench/node/runc_bench.py, bench/node/crash_bench.py) need root, runc,
# umoci, skopeo and docker-registry; without them they say so and are skipped.
# BENCH_MAX_WAIT=S: wait at most S seconds (default 180) for a quiet machine before starting.
set -euo pipefail

BUILD=${1:?usage: bash bench/run_all.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QUICK=${BENCH_QUICK:-0}
OUT=${BENCH_OUT_DIR:-}
[[ -n $OUT ]] && mkdir -p "$OUT"
status=0

# Other people's compiles share these cores: wait (at most BENCH_MAX_WAIT s, default 180) for the
# 1-minute load average to drop below 1. The load is printed either way; the root bench reports it too.
max_wait=${BENCH_MAX_WAIT:-180}
waited=0
while awk '{exit !($1 >= 1.0)}' /proc/loadavg && (( waited < max_wait )); do
  echo "load average $(cut -d' ' -f1 /proc/loadavg) >= 1: waiting for it to settle ($waited/$max_wait s)"
  sleep 10
  waited=$((waited + 10))
done
export BENCH_MAX_WAIT=0  # waited once, here, for both benchmarks

echo "== machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -Is)"

echo "== scheduler micro-benchmarks: $BUILD/bench/scheduler/oak_scheduler_bench"
sched=$BUILD/bench/scheduler/oak_scheduler_bench
if [[ -x $sched ]]; then
  args=()
  [[ $QUICK != 0 ]] && args+=(--benchmark_min_time=0.05)
  [[ -n $OUT ]] && args+=(--benchmark_out="$OUT/scheduler.json" --benchmark_out_format=json)
  "$sched" "${args[@]}" || status=1
else
  echo "missing $sched: build the target oak_scheduler_bench" >&2
  status=1
fi

echo
echo "== root benchmarks: bench/root/root_bench.py"
args=("$BUILD")
[[ -n $OUT ]] && args+=(--json "$OUT/root.json")
python3 "$HERE/root/root_bench.py" "${args[@]}" || status=1

echo
echo "== placement at scale: bench/cluster/placement_bench.py"
args=("$BUILD")
[[ -n $OUT ]] && args+=(--json "$OUT/placement.json")
python3 "$HERE/cluster/placement_bench.py" "${args[@]}" || status=1

echo
echo "== failure handling under chaos: bench/cluster/chaos_bench.py"
args=("$BUILD")
[[ -n $OUT ]] && args+=(--json "$OUT/chaos.json")
python3 "$HERE/cluster/chaos_bench.py" "${args[@]}" || status=1

echo
echo "== real containers: bench/node/runc_bench.py"
args=("$BUILD")
[[ -n $OUT ]] && args+=(--json "$OUT/runc.json")
python3 "$HERE/node/runc_bench.py" "${args[@]}" || status=1

echo
echo "== node crash with real containers: bench/node/crash_bench.py"
args=("$BUILD")
[[ -n $OUT ]] && args+=(--json "$OUT/crash.json")
python3 "$HERE/node/crash_bench.py" "${args[@]}" || status=1

exit $status
