"""Layer processing (ingest, type and route, model, features) over the warehouse and the lake.

No Dagster here: assets, the CLI and the API call these functions.
"""
