# warmline: `make demo` plays a call on the local stack; `make test` runs every check CI runs.
SHELL := /bin/bash
PYTHON_313 := $(shell ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1 || true)
PYTHON_313 := $(or $(PYTHON_313),$(shell command -v python3.13 2>/dev/null))
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
SAM_VERSION := 1.170.0
# sam needs a python3.13 on PATH to build for the python3.13 runtime; the project venv is one.
SAM_ENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} SAM_CLI_TELEMETRY=0

.PHONY: setup demo up down calls dashboard bench bench-handoff bench-coldstart layer check test test-checks test-pytest test-stress unit lint format openapi template-check template-validate template-build build deploy sync clean sam-local

setup: $(STAMP)

$(STAMP): requirements-dev.txt layers/common/requirements.txt pyproject.toml
	@test -n "$(PYTHON_313)" || { echo "error: python3.13 not found (the Lambda runtime is python3.13); install it, e.g. 'pyenv install 3.13'" >&2; exit 1; }
	@echo "==> creating $(VENV) with $(PYTHON_313)"
	$(PYTHON_313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	@echo "==> installing the development requirements (about a minute)"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@# local/, emulators/ and bench/ are not in the package (pip install . gives the CLI alone): the
	@# development venv imports them from the repo root, from any working directory.
	$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_path("purelib"), "warmline-dev.pth").write_text("$(CURDIR)\n")'
	@# The audio tests speak with espeak-ng (real speech for the voice-activity check): Debian's package.
	@command -v espeak-ng >/dev/null || { echo "==> installing espeak-ng (apt-get)"; \
	  (apt-get update -qq && apt-get install -y -qq espeak-ng) >/dev/null 2>&1 \
	  || echo "warning: install espeak-ng (apt-get install espeak-ng): tests/unit/test_audio.py speaks with it" >&2; }
	@# make test-stress runs the suite beside stress-ng (a Python busy loop stands in without it).
	@command -v stress-ng >/dev/null || { echo "==> installing stress-ng (apt-get)"; \
	  (apt-get install -y -qq stress-ng || (apt-get update -qq && apt-get install -y -qq stress-ng)) >/dev/null 2>&1 \
	  || echo "warning: install stress-ng (apt-get install stress-ng) for make test-stress" >&2; }
	@touch $@

$(SAM): | $(STAMP)
	@echo "==> installing AWS SAM CLI $(SAM_VERSION) into $(SAM_VENV) (its own venv: its pins clash with the project's)"
	$(PYTHON_313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip==25.3
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_VERSION)

# --- the local stack -------------------------------------------------------------------------
demo: $(STAMP)
	$(PY) -m local demo $(ARGS)

up: $(STAMP)
	$(PY) -m local up $(ARGS)

down: $(STAMP)
	$(PY) -m local down

calls: $(STAMP)
	$(PY) -m local calls $(ARGS)

dashboard: $(STAMP)
	$(PY) -m local.dashboard --out .warmline/dashboard.png $(ARGS)

bench: $(STAMP) layer
	$(PY) -m bench.load $(ARGS)

# The handoff to the cloned voice in both HandoffModes, side by side (REFER vs agent_transfer; a minute).
bench-handoff: $(STAMP) layer
	$(PY) -m bench.handoff $(ARGS)

# The cold-start part alone: each function's init beside its floor, and the layer's size (a minute).
bench-coldstart: $(STAMP) layer
	$(PY) -m bench.coldstart $(ARGS)

# The common layer alone, built as `sam build` builds it for Lambda (arm64, python3.13), to weigh it,
# and its twin for this machine (the same build, this platform's wheels), to start the functions from.
layer: $(STAMP) $(SAM)
	$(SAM_ENV) $(SAM) build CommonLayer --build-dir .aws-sam/layer
	$(PY) layers/common/build_layer.py .aws-sam/layer-local/CommonLayer --platform local

# The real `sam local invoke` (every event in events/) and `sam local start-api` (one request per
# route), in Docker, against moto and the ElevenLabs emulator (docs/local-stack.md). It installs
# Debian's docker.io and debootstrap if missing, starts a dockerd if none answers (and stops it),
# and builds the stand-in Lambda base image once: about 5 minutes the first time, 1 after.
sam-local: $(STAMP) $(SAM)
	tools/sam_local/run.sh

# --- checks ----------------------------------------------------------------------------------
# The layer's and the local stack's functions stay small (at most 5 parameters and 40 lines), and
# the layer's types check (mypy, configured in pyproject.toml: the ports and the use cases that take them).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/check_function_size.py layers/common/warmline local warmline_cli functions
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# docs/openapi.json: warmline's own API, generated from the handlers (a test fails when it is stale).
openapi: $(STAMP)
	$(PY) functions/openapi_document.py

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

template-check: template-validate template-build

template-validate: $(STAMP) $(SAM)
	@echo "==> sam validate --lint (cfn-lint's rules)"
	$(SAM_ENV) $(SAM) validate --lint

template-build: $(STAMP) $(SAM)
	@echo "==> sam build, the built template's IAM"
	$(SAM_ENV) $(SAM) build
	@echo "==> IAM of the built template: no managed policy, no wildcard"
	$(SAM_ENV) $(SAM_VENV)/bin/python tests/template_iam.py .aws-sam/build/template.yaml
	@echo "==> the built template for ColdStartMode=none and =snapstart: aliases, SnapStart, integrations"
	$(SAM_ENV) $(SAM_VENV)/bin/python tools/template_cold_start.py .aws-sam/build/template.yaml

build: template-check

# --- deploying to AWS (docs/deployment.md) ------------------------------------------------------
# One samconfig.toml environment per stack: dev (the default) or prod. REGION=… deploys to another
# region than your AWS configuration's. No AWS_DEFAULT_REGION fallback here: a deploy goes where
# your AWS configuration says, never silently to us-east-1.
ENV ?= dev
SAM_REGION := $(if $(REGION),--region $(REGION))
SAM_DEPLOY_ENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0
ifneq ($(filter deploy,$(MAKECMDGOALS)),)
ifeq ($(shell grep -c '^\[$(ENV)\.deploy\.parameters\]' samconfig.toml),0)
$(error samconfig.toml has no environment '$(ENV)' to deploy: ENV=dev or ENV=prod)
endif
endif

deploy: $(STAMP) $(SAM)
	$(SAM_DEPLOY_ENV) $(SAM) build --config-env $(ENV)
	$(SAM_DEPLOY_ENV) $(SAM) deploy --config-env $(ENV) $(SAM_REGION)

# Development only: pushes each saved change to the dev stack, bypassing change sets.
ifeq ($(filter sync,$(MAKECMDGOALS)):$(ENV),sync:prod)
$(error sam sync skips change sets and is for development; use 'make deploy ENV=prod')
endif
ifneq ($(filter sync,$(MAKECMDGOALS)),)
ifeq ($(shell grep -c '^\[$(ENV)\.sync\.parameters\]' samconfig.toml),0)
$(error samconfig.toml has no environment '$(ENV)' to sync: ENV=dev)
endif
endif
sync: $(STAMP) $(SAM)
	$(SAM_DEPLOY_ENV) $(SAM) sync --config-env $(ENV) $(SAM_REGION) --watch

# Test workers: five per two cores, at most eight. Much of the suite's time is waiting (on timeouts,
# schedules and clone latencies of whole local stacks): on 2 cores, 4 workers kept them about 75% busy
# (pytest 156 s), 5 about 85% (147 s); more start more local stacks than they save. Each module runs
# whole on one worker (its fixtures start once), the modules in the order tests/conftest.py gives
# (the long end-to-end ones first); a directory with a whole local stack of its own goes out in a few
# groups of modules (tests/conftest.py, PACKAGE_STACKS), so its stack starts a few times, not on every worker.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || sysctl -n hw.ncpu); echo $$(( 5 * n / 2 < 8 ? 5 * n / 2 : 8 )))

# Tests keep their bytecode (in __pycache__, ignored by git) even where the environment says
# PYTHONDONTWRITEBYTECODE: otherwise every test worker and every Python process a test starts compiles
# the same modules again, pytest's assertion rewriting too (a worker's collection: 5.1 s of CPU, 2.5 s
# once compiled).
TEST_PY := env -u PYTHONDONTWRITEBYTECODE $(PY)

# The checks (lint, sam validate: seconds of one core, most of it waiting) run beside the tests; the
# tests start once `sam build` has made the layer they load (tests/integration/test_layer_build.py).
test: $(STAMP) $(SAM)
	@$(MAKE) --no-print-directory -j 2 test-pytest test-checks

# What CI runs (.ci/run): every test, then the real `sam local invoke` in Docker (`make sam-local`),
# its own step so that `make test` keeps its time budget.
check: test
	@$(MAKE) --no-print-directory sam-local

test-checks: lint template-validate

test-pytest: template-build
	$(TEST_PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

# `make test` RUNS times in a row beside a CPU hog on every core (stress-ng), pass/fail per run.
RUNS ?= 10
test-stress: $(STAMP) $(SAM)
	tools/stress_test.sh $(RUNS)

# The unit tier alone (tests/conftest.py): no server, no local stack; seconds.
unit: $(STAMP)
	$(TEST_PY) -m pytest -m unit -q

clean:
	rm -rf $(VENV) .tools .aws-sam .warmline
