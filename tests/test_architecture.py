"""The import contracts of pyproject.toml ([tool.importlinter]): no cycle, no upward import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache", "--config", str(PROJECT_ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT / "src",
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


# Imported where they are used, not when `kedro run` loads the settings and the pipeline registry (issue 17).
HEAVY_AT_START_UP = (
    "lightgbm",
    "plotly.offline",
    "IPython",
    "dbt.cli",
    "airflow",
    "supabase",
    "tableauserverclient",
    "sklearn",
    "rfc3987_syntax",
)


def test_start_up_imports_no_heavy_library():
    code = (
        "import sys, sellout.settings, sellout.pipeline_registry as r; r.register_pipelines(); "
        f"print(sorted(m for m in {HEAVY_AT_START_UP!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_catalog_s_datasets_import_no_heavy_library():
    """A run creates every dataset of its catalog before the first node: their classes import no SQL toolkit or
    charting library (the report imports Plotly when it draws)."""
    heavy = (*HEAVY_AT_START_UP, "sqlalchemy", "plotly.express", "plotly.graph_objects")
    code = (
        "import sys\n"
        "from kedro.io import DataCatalog\n"
        "from sellout.config.loader import config_loader\n"
        "conf = config_loader()\n"
        "catalog = DataCatalog.from_config(conf['catalog'], conf['credentials'])\n"
        "datasets = [catalog.get(name) for name in catalog.keys()]\n"
        f"print(len(datasets), sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, imported = done.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(count) > 30 and imported == "[]"


def test_the_settings_load_no_data_library():
    """The hooks that every `kedro run` and `sellout` command loads leave pandas to the pipelines and the dry run's
    own checks (the lineage names check dataset types without importing their modules)."""
    code = "import sys, sellout.settings; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"
