# Two set-up commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.recsys/dagster_home

.PHONY: demo test dev screenshots install install-dev bench-db bench-engine clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files: re-install only when pyproject.toml changes. The engine's numba kernels are compiled
# into their cache right away (~5 s), not in the first job that needs them.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/python -m recsys_assets.engine.kernels
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m recsys_assets.engine.kernels
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Instance settings for `make dev` and `make demo`: no telemetry; run monitoring catches dead runs, and ends
# runs without a dagster/max_runtime tag (UI launches) after the daily job's own maximum (25 h: the training
# cap, the import and batch timeouts, an hour; recsys_assets/automation/daily.py); one
# Personalize step at a time (pool `personalize`) and one daily run per deployment (tag recsys/deployment).
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf '%s\n' 'telemetry:' '  enabled: false' 'run_monitoring:' '  enabled: true' '  max_runtime_seconds: 90000' \
		'concurrency:' '  pools:' '    default_limit: 1' '  runs:' '    tag_concurrency_limits:' \
		'      - key: recsys/deployment' '        value: {applyLimitPerUniqueValue: true}' '        limit: 1' > $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m recsys_assets.demo

# The import boundaries first (seconds), then the suite.
test: install-dev
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# Export and write-back at production scale against the databases' raw bulk paths (minutes; see README).
bench-db: install
	$(BIN)/python -m bench.db

# The engine's user-personalization against tuned iALS/EASE (quality) and implicit (speed, 100k users).
bench-engine: install
	$(BIN)/python -m bench.engine_quality
	$(BIN)/python -m bench.engine_speed

# Dagster's own CLI (`dg dev`; `dagster dev` works too). The daily schedule and the orphan sweep start stopped, so
# an idle dev instance runs nothing by itself: `make dev AUTOMATION=running` starts them as a deployment has them.
AUTOMATION ?= stopped
dev: install $(DAGSTER_HOME)/dagster.yaml
	RECSYS_AUTOMATION=$(AUTOMATION) $(BIN)/dg dev

# The README's pictures of the UI, from a real browser run (docs/ui_check.py; Debian: apt-get install chromium).
screenshots: install $(VENV)/.installed-ui
	$(BIN)/python docs/ui_check.py

$(VENV)/.installed-ui: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[ui]'
	touch $@

clean:
	rm -rf .recsys
