# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates .venv (from the machine's python3) and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

$(VENV)/.system-tools:
	bash .ci/install-system-tools
	@mkdir -p $(VENV) && touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python bench/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	bash .ci/lint-yaml

test: lint $(VENV)/.system-tools
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .demo
