#!/usr/bin/env bash
# `make demo`: the main job end to end. `edgeinfer optimize` searches backends x precisions
# (x calibrators, mixed precision) for the fastest engine that keeps accuracy, prints the
# table and writes the winning engine, report.json and report.html under demo-out/.
#   1. fashion-cnn on the real Fashion-MNIST test set (10k, labelled), calibrated on train;
#   2. mobilenetv2-imagenet (real ImageNet weights) on real-photo crops (fidelity to FP32),
#      when the time left allows it.
# Budget: the whole demo (after `make setup`) aims to stay under DEMO_BUDGET_S seconds (360),
# so that setup + demo stay under 10 minutes on 2 cores.
set -euo pipefail
export EDGEINFER_CACHE_DIR="${EDGEINFER_CACHE_DIR:-$PWD/.cache/edgeinfer}"
OUT="${DEMO_OUT:-demo-out}"
BUDGET_S="${DEMO_BUDGET_S:-360}"
start=$SECONDS
mkdir -p "$OUT"

left_min() {  # minutes left for the next search, keeping 60 s for final measurement/reports
  python - "$BUDGET_S" "$((SECONDS - start))" "$1" <<'PY'
import sys
budget, used, cap = (float(a) for a in sys.argv[1:])
print(f"{max(min((budget - used - 60) / 60, cap), 0.1):.2f}")
PY
}

echo "== edgeinfer optimize fashion-cnn (Fashion-MNIST test set, 10k labelled images) =="
rc=0
edgeinfer optimize fashion-cnn \
  --eval fashion-mnist:test --calib fashion-mnist:train --calib-samples 256 \
  --max-accuracy-drop 0.5 --time-budget "$(left_min 1.5)" -o "$OUT/fashion-cnn" || rc=$?
[[ $rc == 0 || $rc == 3 ]] || exit "$rc"  # 3: nothing met the budget (the report says why)

if (( SECONDS - start < BUDGET_S - 150 )); then
  echo
  echo "== edgeinfer optimize mobilenetv2-imagenet (real-photo crops, fidelity to FP32) =="
  rc=0
  edgeinfer optimize mobilenetv2-imagenet \
    --eval photos:300 --calib photos:200 --calib-samples 128 --calibrators percentile \
    --precisions fp32,bf16,int8 --mixed-units 6 \
    --time-budget "$(left_min 3)" -o "$OUT/mobilenetv2-imagenet" || rc=$?
  [[ $rc == 0 || $rc == 3 ]] || exit "$rc"
else
  echo "mobilenetv2-imagenet skipped: not enough of the ${BUDGET_S} s demo budget left"
fi
echo
echo "demo finished in $((SECONDS - start)) s; reports: $OUT/*/report.html"
