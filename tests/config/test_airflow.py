from pathlib import Path

import pytest
import yaml

from sellout.config.airflow import validate_airflow_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _airflow_yml() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "airflow.yml").read_text())


def test_airflow_yml_errors_name_the_key():
    raw = _airflow_yml()
    raw["default"]["task_policies"]["tableau"]["retries"] = 1
    with pytest.raises(ValueError, match="second refresh"):
        validate_airflow_config(raw)
    raw = _airflow_yml()
    raw["default"]["timezone"] = "Mars/Olympus"
    with pytest.raises(ValueError, match="conf/base/airflow.yml: default: .*Mars/Olympus"):
        validate_airflow_config(raw)
    raw = _airflow_yml()
    raw["default"]["sensor"]["timeout_hours"] = 0
    with pytest.raises(ValueError, match="default.sensor.timeout_hours"):
        validate_airflow_config(raw)
    with pytest.raises(ValueError, match=r"node\(s\) \['new_node'\] have no task kind"):
        validate_airflow_config(_airflow_yml(), ["plan_ingestion", "new_node"])
