# sellout: `make run` and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export UV_PYTHON_DOWNLOADS := never
export SELLOUT_SHARED_DIR ?= $(abspath ../shared)

.PHONY: install run test test-fast test-slow lint smoke dag viz clean db-stop bench-flow bench-io bench-ingest bench-forecast test-n8n

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==0.13.8

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON)
	touch $@

install: $(VENV)/.installed  ## create .venv from the lock file

run: install  ## sample data -> embedded PostgreSQL -> dbt -> forecast (the main job)
	$(BIN)/sellout db start
	$(BIN)/sellout sample
	$(BIN)/sellout run --pipeline __default__ --mode incremental
	@psql_url=$$($(BIN)/sellout db url); $(BIN)/python -c "import sys, psycopg; c = psycopg.connect(sys.argv[1]); \
	  r = c.execute('select run_id, count(*) from forecast.forecasts group by run_id order by run_id desc limit 1').fetchone(); \
	  print(f'forecasts in the database: run {r[0]}, {r[1]} rows')" "$$psql_url"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: install  ## unit and integration tests, not the slow suites
	$(BIN)/pytest -m "not slow" -q

smoke: install  ## the whole flow on fresh sample data in a throw-away database, data and landing folder
	@set -e; tmp=$$(mktemp -d /tmp/sellout-smoke.XXXXXX); \
	export SELLOUT_PGDATA=$$tmp/pg SELLOUT_DATA_DIR=$$tmp/data SELLOUT_LANDING_DIR=$$tmp/landing \
	       DBT_TARGET_PATH=$$tmp/dbt/target DBT_LOG_PATH=$$tmp/dbt/logs; \
	trap '$(BIN)/sellout db stop >/dev/null; rm -rf '"$$tmp" EXIT; \
	$(BIN)/sellout sample --landing $$tmp/landing --weeks 60 && \
	{ $(BIN)/sellout run --mode full --summary $$tmp/summary.json > $$tmp/run.log 2>&1 || { tail -50 $$tmp/run.log; exit 1; }; } && \
	$(BIN)/python -c "import json, sys; s = json.load(open(sys.argv[1])); \
	  assert s['status'] == 'succeeded', s; rows = s['outputs']['forecast_write_status']['rows']; assert rows > 0, s; \
	  print(f\"smoke run {s['run_id']}: {s['outputs']['ingestion_status']['rows_loaded']} rows in, {rows} forecasts out\")" $$tmp/summary.json

test: lint test-fast smoke  ## linters, tests, and a smoke run of the pipeline

test-slow: install  ## the slow suites: whole dunnhumby set, Airflow `dags test`
	$(BIN)/pytest -m slow -q

bench-io: install  ## 1,000,000 rows: the table dataset vs plain COPY vs SQLTableDataset, and an upsert; last line JSON
	$(BIN)/python -m benchmarks.io

bench-ingest: install  ## dunnhumby as 156 weekly files, then one new week, then a no-op rerun; last line JSON
	$(BIN)/python -m benchmarks.ingest

.venv-mlforecast/.installed: benchmarks/mlforecast/pyproject.toml benchmarks/mlforecast/uv.lock | $(UV)
	cd benchmarks/mlforecast && UV_PROJECT_ENVIRONMENT=$(abspath .venv-mlforecast) $(abspath $(UV)) sync --frozen --python $(PYTHON)
	touch $@

DATA ?= dunnhumby
bench-forecast: install .venv-mlforecast/.installed  ## the project's forecaster vs mlforecast on one data set (DATA=dunnhumby|rossmann); last line JSON
	$(BIN)/python -m benchmarks.forecast --data $(DATA)

N8N_DIR := airflow/n8n
$(N8N_DIR)/node_modules/.installed: $(N8N_DIR)/package.json $(N8N_DIR)/package-lock.json
	cd $(N8N_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test-n8n: install $(N8N_DIR)/node_modules/.installed  ## n8n workflows against local fakes (installs n8n 2.8.4 once, ~3 min)
	$(BIN)/pytest -m n8n tests/n8n -q

bench-flow: install  ## whole dunnhumby set: full run, then a no-op incremental run (wall time, peak memory)
	$(BIN)/python -m benchmarks.flow

dag: install  ## regenerate the Airflow DAG from the Kedro graph
	$(BIN)/kedro airflow create --target-dir airflow/dags --jinja-file airflow/dag_template.j2 --group-by memory

viz: install  ## build the static kedro-viz site into build/viz
	$(BIN)/kedro viz build --include-hooks

db-stop:
	-$(BIN)/sellout db stop

clean: db-stop
	rm -rf $(VENV) $(TOOLS) data/postgres
