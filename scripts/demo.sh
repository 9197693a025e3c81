#!/usr/bin/env bash
# The main job, end to end (replaced by `edgeinfer optimize` once the optimizer exists).
set -euo pipefail
export EDGEINFER_CACHE_DIR="${EDGEINFER_CACHE_DIR:-$PWD/.cache/edgeinfer}"
python scripts/make_demo_model.py .cache/demo-model.onnx
edgeinfer bench .cache/demo-model.onnx --duration 3 --json .cache/demo-bench.json
