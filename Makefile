# The two commands: `make demo` builds and runs the demo warehouse end to end; `make test` runs
# the tests. Both create .venv and install everything on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.duckae-installed
export DUCKAE_DB ?= $(CURDIR)/warehouse.duckdb
# Keep DuckDB threads x torch threads within the cores; pip must not reach for the network.
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-fast lint bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: any torch requirement resolved fresh pulls a multi-GB CUDA build.
	$(BIN)/pip install -q -c constraints.txt torch
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/duckae demo --db $(DUCKAE_DB)

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not dbt"

lint: $(STAMP)
	$(BIN)/ruff check training udfs tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) warehouse.duckdb warehouse.duckdb.wal dbt_project/target dbt_project/logs \
		dbt_project/dbt_packages .pytest_cache
