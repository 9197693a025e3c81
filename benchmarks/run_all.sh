#!/usr/bin/env bash
# Run every benchmark in sequence (never in parallel: they would disturb each other) and keep
# their JSON under benchmarks/results/ and their terminal tables under benchmarks/results/*.txt.
#   bash benchmarks/run_all.sh            # full settings (about an hour on 2 cores)
#   QUICK=1 bash benchmarks/run_all.sh    # smoke run
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export EDGEINFER_CACHE_DIR="${EDGEINFER_CACHE_DIR:-$PWD/.cache/edgeinfer}"
out=benchmarks/results
mkdir -p "$out"
q=${QUICK:+--quick}
run() {
  local name=$1; shift
  echo "=== $name: $*" >&2
  local t0=$SECONDS
  python "$@" > "$out/$name.txt" 2> "$out/$name.err"
  echo "=== $name: exit $? after $((SECONDS - t0)) s" >&2
}
run runner_overhead benchmarks/runner_overhead.py $q -q --json "$out/runner_overhead.json"
run precision benchmarks/precision.py $q --calib-samples 128 --json "$out/precision.json" --markdown "$out/precision.md"
run openvino_int8_routes benchmarks/openvino_int8_routes.py $q -q --json "$out/openvino_int8_routes.json"
run optimize_vs_peers benchmarks/optimize_vs_peers.py $q --json "$out/optimize_vs_peers.json"
run ros_node benchmarks/ros_node.py $q --quiet --json "$out/ros_node.json"
run eval_robustness benchmarks/eval_robustness.py $q --limit 2000 --json "$out/eval_robustness.json"
run profile benchmarks/profile.py $q -q --json "$out/profile.json" --markdown "$out/profile.md"
run realtime benchmarks/realtime.py $q -q --json "$out/realtime.json"
run sweep benchmarks/sweep.py $q -q --json "$out/sweep.json"
run sweep_stress1 benchmarks/sweep.py $q -q --stress-cores 1 --json "$out/sweep_stress1.json"
