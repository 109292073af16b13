"""OpenLineage events of every run, for tools that read lineage (Marquez, DataHub, OpenMetadata, ...).

:class:`LineageHooks` (registered in ``settings.py``) emits, through the openlineage-python client:

- one run of the job ``kedro.<pipeline>`` per Kedro session (START, then COMPLETE or FAIL);
- one run of the job ``kedro.<node>`` per node, with the catalog datasets it read as inputs and the ones it wrote
  as outputs (START, then COMPLETE or FAIL), its parent the pipeline run;
- after the dbt nodes (``dbt_run``), one run of ``dbt.<model>`` per model dbt built, read from dbt's own artifacts
  (``manifest.json`` for what each model reads, ``run_results.json`` for what ran and how it ended), its parent
  the ``dbt_run`` node's run.

Datasets are named by OpenLineage's naming conventions, so that Kedro's and dbt's halves meet: a table is
namespace ``postgres://<host>:<port>``, name ``<database>.<schema>.<table>`` whether a Kedro dataset or a dbt model
reads or writes it; a file or folder is namespace ``file``, name its absolute path; data handed from node to node in
memory is namespace ``kedro://<project>``, name ``memory/<dataset>``. So the graph runs from the landing folders
through ``raw.*``, dbt's staging and marts, the model files, to ``forecast.forecasts``.

The pipeline run's id is derived from the project's run id (``uuid5``): every task of one Airflow DAG run opens its
own Kedro session with Airflow's run id, and all of them report under the same parent run. Under Airflow the run
facet ``sellout`` also names the DAG, task and try.

Where the events go: ``conf/base/lineage.yml`` (``conf/<env>/lineage.yml`` overrides), in openlineage-python's own
transport format (``file`` by default, ``http`` for Marquez, ``console``, ``kafka`` ...). OpenLineage's own settings
win when set: ``OPENLINEAGE_URL`` (with ``OPENLINEAGE_API_KEY``), ``OPENLINEAGE_CONFIG`` (a YAML file) or
``OPENLINEAGE__TRANSPORT__*``; ``OPENLINEAGE_DISABLED=true`` turns it off. Dry runs emit nothing (they write nothing).
Without the ``lineage`` extra (openlineage-python) the hooks do nothing and say so once.

A lineage problem never fails a run: each hook logs what went wrong and the run goes on.
"""

from sellout.ops.lineage.config import client_config, lineage_settings, pipeline_run_id
from sellout.ops.lineage.dbt_artifacts import dbt_model_runs, dbt_target_path
from sellout.ops.lineage.hooks import PRODUCER, LineageHooks
from sellout.ops.lineage.names import DatasetNames, Name, postgres_namespace

__all__ = [
    "PRODUCER",
    "DatasetNames",
    "LineageHooks",
    "Name",
    "client_config",
    "dbt_model_runs",
    "dbt_target_path",
    "lineage_settings",
    "pipeline_run_id",
    "postgres_namespace",
]
