"""Dagster's PostgreSQL event log storage, remembering which of its tables exist.

Dagster asks the database catalog whether a table exists before storing each asset check event and
each asset event's tags (``has_table``): a catalog query per stored event, ~100 per partitioned run of
the bundled graph. A table Dagster found once is not dropped while the process runs (its storage is
only ever upgraded), so a found table is remembered; a missing one is looked up again, as before, so
``dagster instance migrate`` in another process is seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config


class AtlasEventLogStorage(PostgresEventLogStorage):
    """``PostgresEventLogStorage`` whose ``has_table`` remembers the tables it found."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._found_tables: set[str] = set()
        super().__init__(*args, **kwargs)

    def has_table(self, table_name: str) -> bool:
        if table_name in self._found_tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._found_tables.add(table_name)
        return found

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> AtlasEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
