"""Kedro pipelines of the sellout project."""
