from kedro.pipeline import Pipeline, node

from .nodes import parse_new_files, plan_ingestion, summarize_ingestion


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                plan_ingestion,
                inputs=["landing_files", "ingested_files", "run_context", "unfinished_reload"],
                outputs="ingestion_plan",
                name="plan_ingestion",
            ),
            node(
                parse_new_files,
                inputs=[
                    "ingestion_plan",
                    "sources",
                    "master_codes",
                    "code_mappings",
                    "run_context",
                    "params:ingestion",
                ],
                outputs="raw_file_loads",
                name="parse_new_files",
            ),
            node(
                summarize_ingestion,
                inputs=["raw_file_loads", "run_context"],
                outputs="ingestion_status",
                name="summarize_ingestion",
            ),
        ]
    )
