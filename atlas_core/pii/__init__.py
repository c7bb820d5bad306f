"""PII protection without Dagster: classification, anonymization strategies, keys, the silver transform.

See ``docs/pii.md``. Presidio itself is wired in ``atlas_resources.presidio``; the IO around it
(sampling the staging table, reports, audit, erasure) in ``atlas_engine.pii``.
"""
