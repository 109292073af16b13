"""Publish: refresh the Tableau extracts that read the forecasts, then notify the end of the run."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
