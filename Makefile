# Every target creates .venv (Python 3.11) and installs requirements-dev.txt first when needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Re-installs when a requirements file changes.
STAMP := $(VENV)/.requirements.stamp

.PHONY: help venv run test lint fmt bench eval synth deploy

help:
	@echo "make run     the service on this machine: embedded AWS, resources, demo account, API, queue worker"
	@echo "make test    every test suite (unit, and integration against the embedded AWS endpoint)"
	@echo "make lint    ruff check, ruff format --check, mypy chalicelib"
	@echo "make fmt     ruff format and ruff check --fix"
	@echo "make bench   benchmarks/bench_*.py, figures into BENCHMARKS.md"
	@echo "make eval    the opt-out detector evaluation"
	@echo "make synth / make deploy   the infra/ stack"
	@echo "make venv    create .venv and install requirements-dev.txt"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON_BOOT)" || { echo "no python3.11 or python3 on PATH" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ needed: remove .venv and set PYTHON_BOOT")'
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: $(STAMP)
	$(PY) -m tools.run_local

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy chalicelib

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	@set -e; found=0; for script in benchmarks/bench_*.py; do \
		[ -f "$$script" ] || continue; found=1; \
		echo "== $$script"; $(PY) "$$script" --write BENCHMARKS.md; \
	done; \
	if [ -f benchmarks/eval_detector.py ]; then found=1; $(PY) benchmarks/eval_detector.py --write BENCHMARKS.md; fi; \
	[ "$$found" = 1 ] || echo "no benchmarks yet (benchmarks/bench_*.py)"

eval: $(STAMP)
	@[ -f benchmarks/eval_detector.py ] || { echo "no detector evaluation yet (benchmarks/eval_detector.py)" >&2; exit 1; }
	$(PY) benchmarks/eval_detector.py

synth:
	@echo "infra/ stack not yet built: nothing to synthesise" >&2; exit 1

deploy:
	@echo "infra/ stack not yet built: nothing to deploy" >&2; exit 1
