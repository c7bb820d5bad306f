"""Clients for Atlas' storage (warehouse, lake) and the Dagster resources that wrap them."""
