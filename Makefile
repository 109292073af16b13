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

.PHONY: install run test test-fast test-slow lint smoke dag viz clean db-stop bench-flow bench-scale bench-io bench-ingest bench-forecast test-n8n \
	airflow-up airflow-down airflow-status airflow-run test-airflow

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==0.13.8

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode --python $(PYTHON)
	touch $@

# Bytecode is written at install time, for the libraries (uv does not by default) and for the project's own code (its
# changed modules on every make): where PYTHONDONTWRITEBYTECODE is set, as on CI machines, every process would
# otherwise compile some 2,300 modules, 5 s before its first node.
install: $(VENV)/.installed  ## create .venv from the lock file
	@$(BIN)/python -m compileall -q src benchmarks airflow/dags

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
bench-forecast: install .venv-mlforecast/.installed  ## the project's forecaster vs mlforecast on one data set (DATA=dunnhumby|rossmann|pipeline [SOURCE=name]); last line JSON
	$(BIN)/python -m benchmarks.forecast --data $(DATA) $(if $(SOURCE),--source $(SOURCE))

N8N_DIR := airflow/n8n
# n8n's node_modules (2.3 GB, `npm ci` takes 3 to 13 minutes) are installed once per lock file into a cache outside
# the clone, keyed on package.json + package-lock.json, and linked into airflow/n8n; npm's own download cache is
# NPM_CACHE. A fresh clone with the same lock (CI) links the cached install instead of paying npm ci again.
N8N_CACHE ?= $(HOME)/.cache/sellout/n8n
NPM_CACHE ?= $(HOME)/.npm
N8N_LOCK_KEY = $(shell cat $(N8N_DIR)/package.json $(N8N_DIR)/package-lock.json | sha256sum | cut -c1-16)
$(N8N_DIR)/node_modules/.installed: $(N8N_DIR)/package.json $(N8N_DIR)/package-lock.json
	@set -e; key=$(N8N_LOCK_KEY); cached=$(N8N_CACHE)/$$key; \
	if [ "$$(cat $@ 2>/dev/null)" = "$$key" ]; then touch $@; echo "n8n: installed for lock $$key"; exit 0; fi; \
	if [ "$$(cat $$cached/node_modules/.installed 2>/dev/null)" != "$$key" ]; then \
	  echo "n8n: npm ci for lock $$key (minutes, once per lock; kept in $$cached)"; \
	  mkdir -p $(N8N_CACHE); tmp=$$(mktemp -d $(N8N_CACHE)/.install.XXXXXX); \
	  cp $(N8N_DIR)/package.json $(N8N_DIR)/package-lock.json $$tmp/; \
	  (cd $$tmp && npm ci --no-audit --no-fund --loglevel=error --cache $(NPM_CACHE)); \
	  echo $$key > $$tmp/node_modules/.installed; rm -rf $$cached; mv $$tmp $$cached; \
	fi; \
	rm -rf $(N8N_DIR)/node_modules; ln -s $$cached/node_modules $(N8N_DIR)/node_modules; \
	echo "n8n: node_modules of lock $$key linked from $$cached"

test-n8n: install $(N8N_DIR)/node_modules/.installed  ## n8n workflows against local fakes, with the compose file's n8n environment (npm ci once per lock)
	$(BIN)/pytest -m n8n tests/n8n -q

bench-flow: install  ## whole dunnhumby set: full run, one new week, then a no-op (wall time, stages, peak memory); last line JSON
	$(BIN)/python -m benchmarks.flow

bench-scale: install  ## dunnhumby cloned to 1x, 5x, 20x (SCALES=1,5 for fewer): full, new week, no-op per scale; last line JSON
	$(BIN)/python -m benchmarks.scale

AIRFLOW_EXECUTOR ?= local
airflow-up: install  ## Airflow's own services (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1; AIRFLOW_EXECUTOR=celery adds Redis and 2 workers
	$(BIN)/python airflow/local_stack.py up --executor $(AIRFLOW_EXECUTOR)

airflow-down:  ## stop what airflow-up started
	@if [ -x $(BIN)/python ]; then $(BIN)/python airflow/local_stack.py down; fi

airflow-status: install  ## the local stack's services, their health, the UI's address
	$(BIN)/python airflow/local_stack.py status

airflow-run: install  ## trigger the DAG on the local stack for the latest week (WEEK=2026-W09, CONF='{"mode": "full"}'), wait, print the states
	$(BIN)/python airflow/local_stack.py trigger $(if $(WEEK),--week $(WEEK)) $(if $(CONF),--conf '$(CONF)')

test-airflow: install  ## the real scheduler runs the DAG: LocalExecutor, then CeleryExecutor with Redis and 2 workers
	@command -v redis-server >/dev/null || { echo "test-airflow needs redis-server (Debian: apt-get update && apt-get install -y redis-server)"; exit 1; }
	$(BIN)/pytest -m airflow_stack tests/airflow -q -p no:cacheprovider

dag: install  ## regenerate the Airflow DAG from the Kedro graph
	$(BIN)/kedro airflow create --target-dir airflow/dags --jinja-file airflow/dag_template.j2 --group-by memory

viz: install  ## build the static kedro-viz site into build/viz
	$(BIN)/kedro viz build --include-hooks

db-stop:
	-$(BIN)/sellout db stop

clean: db-stop
	rm -rf $(VENV) $(TOOLS) data/postgres
