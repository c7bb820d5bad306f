"""Pure Atlas logic: contracts, casting, rules, PII classification, features.

Nothing in this package imports Dagster, so it can be tested on its own.
"""
