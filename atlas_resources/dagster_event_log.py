"""Dagster's PostgreSQL event log storage, remembering which of its tables exist and writing a run's
planned events in one transaction.

- Dagster asks the database catalog whether a table exists before storing each asset check event and
  each asset event's tags (``has_table``): a catalog query per stored event, ~100 per partitioned run
  of the bundled graph. A table Dagster found once is not dropped while the process runs (its storage
  is only ever upgraded), so a found table is remembered; a missing one is looked up again, as before,
  so ``dagster instance migrate`` in another process is seen.
- Creating a run reports one planned event per asset partition and per asset check, in batches, but
  ``PostgresEventLogStorage`` batches only materializations and observations: planned events were
  stored one at a time, five round trips and a commit each (178 events, 2.5 s, for a 30-day run of the
  bundled graph). Here a batch of planned events is stored in one transaction: one multi-row insert,
  then the asset and check index rows that Dagster's own ``store_event`` would write, through the
  storage's own helpers on that transaction's connection. What is stored is the same (tested against
  the one-at-a-time path); a batch that fails writes nothing, and Dagster then stores its events one
  at a time. Those helpers are the parent class's underscore methods: a Dagster upgrade that changes
  them fails that test (Dagster is pinned).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import dagster as dg
import sqlalchemy as db
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.event_log.event_log import CHANNEL_NAME
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy.engine import Connection

_PLANNED = {
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
}


class AtlasEventLogStorage(PostgresEventLogStorage):
    """``PostgresEventLogStorage`` whose ``has_table`` remembers the tables it found and which stores
    a batch of planned events in one transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._found_tables: set[str] = set()
        self._batch_connection: ContextVar[Connection | None] = ContextVar(
            "atlas_event_batch_connection", default=None
        )
        super().__init__(*args, **kwargs)

    def has_table(self, table_name: str) -> bool:
        if table_name in self._found_tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._found_tables.add(table_name)
        return found

    @contextmanager
    def index_connection(self) -> Iterator[Connection]:
        """The open batch transaction's connection while a batch is stored, else a pooled one."""
        conn = self._batch_connection.get()
        if conn is not None:
            yield conn
            return
        with super().index_connection() as pooled:
            yield pooled

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        if not events or any(event.dagster_event_type not in _PLANNED for event in events):
            super().store_event_batch(events)
            return
        with self._connect() as pooled:
            # Dagster's engine autocommits; its own index_transaction() switches the same way.
            conn = pooled.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                token = self._batch_connection.set(conn)
                try:
                    self._store_planned(conn, events)
                finally:
                    self._batch_connection.reset(token)

    def _store_planned(self, conn: Connection, events: Sequence[dg.EventLogEntry]) -> None:
        """What ``store_event`` writes for each planned event, as one insert plus the index rows."""
        insert = self.prepare_insert_event_batch(events)
        result = conn.execute(insert.returning(insert.table.c.run_id, insert.table.c.id))
        rows = result.fetchall()  # in the order of the values, as Dagster's own batch write relies on
        ids = [int(event_id) for _, event_id in rows]
        conn.execute(  # what PostgresEventLogStorage.store_event sends for each event (version skew)
            db.text("SELECT pg_notify(:channel, notify_id) FROM unnest(CAST(:ids AS text[])) AS notify_id"),
            {"channel": CHANNEL_NAME, "ids": [f"{run_id}_{event_id}" for run_id, event_id in rows]},
        )
        assets = [
            (event, event_id)
            for event, event_id in zip(events, ids, strict=True)
            if event.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ]
        self._store_asset_event_tags(conn, [e for e, _ in assets], [i for _, i in assets])
        # The asset row keeps its last event's values: writing only each key's last event leaves it as
        # writing every event in turn does.
        last = {event.dagster_event.asset_key: (event, i) for event, i in assets if event.dagster_event}
        for event, event_id in last.values():
            self._store_asset_event(conn, event, event_id)
        for event, event_id in zip(events, ids, strict=True):
            if event.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
                self.store_asset_check_event(event, event_id)  # through index_connection(): this transaction

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> AtlasEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
