"""Where the benchmarks find the real dunnhumby files: ``$SELLOUT_SHARED_DIR`` or ``../shared`` beside the project."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DUNNHUMBY = Path("data") / "dunnhumby_breakfast_at_the_frat"


def dunnhumby_dir(benchmark: str) -> Path | None:
    """The dunnhumby folder, or None after saying on stderr which benchmark needs it and where it looked."""
    shared = Path(os.environ.get("SELLOUT_SHARED_DIR") or PROJECT_ROOT.parent / "shared").resolve()
    folder = shared / DUNNHUMBY
    if not (folder / "transactions.csv.gz").exists():
        print(
            f"bench-{benchmark} needs the dunnhumby files in {folder} (set SELLOUT_SHARED_DIR)",
            file=sys.stderr,
        )
        return None
    return folder
