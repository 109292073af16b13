"""Transform: dbt builds staging and marts from the raw landing tables, then tests them."""

from sellout.pipelines.transform.pipeline import create_pipeline

__all__ = ["create_pipeline"]
