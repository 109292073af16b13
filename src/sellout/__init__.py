"""sellout: weekly retailer sell-out files to demand forecasts in Tableau."""

import os
import warnings
from pathlib import Path

__version__ = "0.1.0"

# Kedro finds conf/logging.yml only from the working directory; point it there from anywhere (Airflow workers,
# tests, `sellout` run from another folder), so logs always go to standard error as that file says.
_LOGGING_CONFIG = Path(__file__).resolve().parents[2] / "conf" / "logging.yml"
if _LOGGING_CONFIG.is_file():
    os.environ.setdefault("KEDRO_LOGGING_CONFIG", str(_LOGGING_CONFIG))

# Kedro 1.7 registers its resolvers with an OmegaConf call that OmegaConf now deprecates: a warning for every config
# loader, about code that is not ours. Nothing to act on until Kedro changes it.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)
