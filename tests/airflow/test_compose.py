"""The NAS deployment, checked statically (no Docker engine here): the compose files against the compose
specification's JSON schema, the services against the image airflow/Dockerfile builds, every variable documented."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from airflow.cli.cli_config import core_commands

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


def test_the_nas_stack_has_every_service_with_health_checks_and_memory_limits():
    services = _load(BASE)["services"]
    assert set(services) == AIRFLOW_SERVICES | {"airflow-db", "n8n"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        limit = service.get("mem_limit")
        assert limit and _bytes(limit) <= 3 * 1024**3, f"{name}: memory limit {limit!r}"
    assert sum(_bytes(s["mem_limit"]) for s in services.values()) <= 8 * 1024**3
    volumes = services["airflow-scheduler"]["volumes"]
    assert any(v.endswith(":/data/landing") for v in volumes)
    assert any(v.startswith("airflow-logs:") for v in volumes)
    # Each service waits for what it needs, and only for services that exist.
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services and dependency != name, (name, dependency)


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
        commands = {services[n]["command"][0] for n in services if n in AIRFLOW_SERVICES | {"airflow-worker"}}
        assert commands <= _airflow_subcommands(), commands
    assert "uv sync --frozen" in text  # the lock file pins what the image installs


def _airflow_subcommands() -> set[str]:

    return {command.name for command in core_commands} | {"celery"}


def test_the_celery_variant_adds_a_broker_and_workers():
    merged = _merge(_load(BASE), _load(CELERY))
    services = merged["services"]
    assert {"redis", "airflow-worker"} <= set(services)
    assert services["airflow-worker"]["command"] == ["celery", "worker"]
    assert services["airflow-worker"]["build"]["args"]["SELLOUT_EXTRAS"] == "celery"
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
