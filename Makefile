# Every target creates .venv (Python 3.11) and installs requirements-dev.txt first when needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Re-installs when a requirements file changes.
STAMP := $(VENV)/.requirements.stamp
# The infra/ stack's tools (aws-cdk-lib, chalice[cdkv2], cfn-lint): installed for synth, deploy and test only.
INFRA_STAMP := $(VENV)/.infra.stamp
# The stage `make synth` and `make deploy` build (dev, prod, ...); extra CDK context as CONTEXT="-c key=value ...".
STAGE ?= dev
CONTEXT ?=
# The npm CDK CLI for deploy, pinned: its cloud-assembly schema must read aws-cdk-lib's (infra/requirements.txt).
CDK ?= npx --yes aws-cdk@2.1148.1

# The browser tests (tests/browser/) drive Debian's Chromium through its own driver: `make test` installs both when
# missing (apt-get, as root or through sudo) and stops with an error when it cannot.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: help venv run test lint fmt bench eval mail synth deploy chromium

help:
	@echo "make run     the service on this machine: embedded AWS, resources, demo account, API, queue worker"
	@echo "make test    every test suite (unit, integration against the embedded AWS endpoint, the console in Chromium)"
	@echo "make lint    ruff check, ruff format --check, mypy chalicelib"
	@echo "make fmt     ruff format and ruff check --fix"
	@echo "make bench   benchmarks/bench_*.py, figures into BENCHMARKS.md"
	@echo "make eval    the opt-out detector evaluation"
	@echo "make mail    the emails the embedded SES of a running make run received"
	@echo "make synth [STAGE=dev]     the infra/ stack's CloudFormation template, offline (infra/cdk.out)"
	@echo "make deploy STAGE=prod     deploy the infra/ stack (AWS credentials; CONTEXT=\"-c sender_email=...\")"
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

# --dist loadfile: a module's tests run on one worker, so its module fixtures (the browser tests' stack and Chromium,
# the infra stack's synthesis) are built once, not once per worker.
test: $(STAMP) $(INFRA_STAMP) chromium
	$(PY) -m pytest -n auto --dist loadfile

chromium:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then exit 0; fi; \
	echo "installing chromium and chromium-driver (Debian's) for the browser tests"; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	{ $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium chromium-driver; } \
		|| { echo "FAILED to install chromium and chromium-driver: the browser tests cannot run" >&2; exit 1; }; \
	[ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ] \
		|| { echo "FAILED: $(CHROMIUM) or $(CHROMEDRIVER) is still missing after apt-get" >&2; exit 1; }

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

# The emails the embedded SES of a running `make run` received (AWS_ENDPOINT_URL overrides the address).
mail: $(STAMP)
	AWS_ENDPOINT_URL=$${AWS_ENDPOINT_URL:-http://127.0.0.1:$${AWS_PORT:-4566}} $(PY) -m tools.mail

eval: $(STAMP)
	@[ -f benchmarks/eval_detector.py ] || { echo "no detector evaluation yet (benchmarks/eval_detector.py)" >&2; exit 1; }
	$(PY) benchmarks/eval_detector.py

$(INFRA_STAMP): $(STAMP) infra/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	@touch $@

# Offline: no AWS credentials, no CDK CLI. The template goes to infra/cdk.out/$(STAGE)/$(STAGE).template.json.
synth: $(INFRA_STAMP)
	rm -rf infra/cdk.out/$(STAGE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(PY) infra/app.py -c stage=$(STAGE) $(CONTEXT) \
		--output infra/cdk.out/$(STAGE)
	$(BIN)/cfn-lint infra/cdk.out/$(STAGE)/$(STAGE).template.json

# Needs AWS credentials, a bootstrapped account/region (`cd infra && $(CDK) bootstrap`) and, once, the operator token
# in SSM (see README). The CLI runs infra/app.py through infra/cdk.json.
deploy: $(INFRA_STAMP)
	cd infra && $(CDK) deploy -c stage=$(STAGE) $(CONTEXT)
