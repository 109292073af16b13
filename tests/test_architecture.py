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
