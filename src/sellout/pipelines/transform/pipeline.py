"""The transform pipeline: ``dbt run`` then ``dbt test``, as two nodes so a failing test stops downstream."""

from kedro.pipeline import Node, Pipeline

from sellout.pipelines.transform.nodes import dbt_run, dbt_test


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                dbt_run,
                inputs=["ingestion_status", "run_context", "dbt_target", "params:dbt"],
                outputs="dbt_run_status",
                name="dbt_run",
                tags=["transform", "dbt"],
            ),
            Node(
                dbt_test,
                inputs=["dbt_run_status", "run_context", "dbt_target", "params:dbt"],
                outputs="dbt_test_status",
                name="dbt_test",
                tags=["transform", "dbt"],
            ),
        ]
    )
