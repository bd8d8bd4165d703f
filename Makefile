# warmline: `make demo` runs a call on the local stack; `make test` runs every check CI runs.
SHELL := /bin/bash
PYTHON_313 := $(shell ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1 || true)
PYTHON_313 := $(or $(PYTHON_313),$(shell command -v python3.13 2>/dev/null))
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test lint template-check build clean

setup: $(STAMP)

$(STAMP): requirements-dev.txt layers/common/requirements.txt pyproject.toml
	@test -n "$(PYTHON_313)" || { echo "error: python3.13 not found (the Lambda runtime is python3.13); install it, e.g. 'pyenv install 3.13'"; exit 1; }
	@echo "==> creating $(VENV) with $(PYTHON_313)"
	$(PYTHON_313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .tools .aws-sam .warmline
