"""Dagster definitions for Atlas: one module per layer, merged in :mod:`atlas_assets.definitions`."""
