"""Run a generated Soda Core v4 contract against a table of the warehouse, without leaking values.

Soda is configured so it cannot publish or print row values: no Soda Cloud configuration (nothing
is uploaded, no failed-row samples), no diagnostics warehouse (failed rows are never copied), usage
telemetry off, and while it runs every record of Soda's loggers is replaced by a fixed text (Soda
logs query results at DEBUG and database errors at WARNING, and both can quote values). Atlas logs
the outcome of each check itself, as numbers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import yaml

from atlas_core.contracts import Contract
from atlas_core.contracts.fields import Dimension
from atlas_core.errors import ContractError
from atlas_core.quality.soda_contract import WINDOW_END_VARIABLE, ReferenceData, soda_contract
from atlas_resources.warehouse import Table, Warehouse

DATA_SOURCE_NAME = "atlas"
SODA_LOGGERS = ("soda", "soda.logs_stream", "soda_core")


@dataclass(frozen=True)
class SodaOutcome:
    """One Soda check result: identity, dimension, outcome and its metric numbers (never values)."""

    check_id: str
    check_type: str
    name: str
    column: str | None
    dimension: Dimension
    outcome: str
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


class _WithheldMessage(logging.Filter):
    """Replace the text of every Soda record: its level and origin survive, its content does not."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = "soda %s at %s:%s (message withheld: Soda messages may quote data values)"
        record.args = (record.levelname.lower(), record.module, record.lineno)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


@contextmanager
def withheld_soda_logs() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in SODA_LOGGERS]
    saved = [lg.level for lg in loggers]
    redact = _WithheldMessage()
    for lg in loggers:
        lg.setLevel(logging.INFO)  # DEBUG would format query results (values) into messages
        lg.addFilter(redact)
    try:
        yield
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.removeFilter(redact)
            lg.setLevel(level)


def data_source_yaml(postgres_url: str) -> str:
    """Soda's data source for the warehouse (TCP host or Unix socket directory); kept in memory only."""
    params = psycopg.conninfo.conninfo_to_dict(postgres_url)
    connection = {
        "host": params.get("host") or "localhost",
        "port": int(params.get("port") or 5432),
        "user": params.get("user") or "postgres",
        "password": params.get("password") or "",
        "database": params.get("dbname") or "postgres",
    }
    return yaml.safe_dump(
        {"type": "postgres", "name": DATA_SOURCE_NAME, "connection": connection}, sort_keys=False
    )


def qualified_name(wh: Warehouse, table: Table) -> str:
    database = psycopg.conninfo.conninfo_to_dict(wh.url).get("dbname") or "postgres"
    return f"{DATA_SOURCE_NAME}/{database}/{table[0]}/{table[1]}"


def _outcome(result: Any) -> str:
    if result.is_failed:
        return "failed"
    if result.is_warned:
        return "warned"
    if result.is_passed:
        return "passed"
    return "not_evaluated"


def _numbers(values: dict[str, Any] | None) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in (values or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _to_outcome(result: Any) -> SodaOutcome:
    check = result.check
    attributes = dict(check.attributes or {})
    column = getattr(check, "column_name", None)
    check_id = attributes.get("atlas_check") or ".".join(
        p for p in ("soda", check.type, column, getattr(check, "qualifier", None)) if p
    )
    return SodaOutcome(
        check_id=str(check_id),
        check_type=str(check.type),
        name=str(check.name or check.type),
        column=column,
        dimension=Dimension(attributes.get("dimension", Dimension.VALIDITY.value)),
        outcome=_outcome(result),
        metrics=_numbers(result.diagnostic_metric_values),
    )


def soda_errors(session: Any) -> list[str]:
    """Error messages Soda itself logged during ``session``.

    Soda captures every record that reaches the root logger while its session is active, so a foreign
    error logged in the same thread (seen in CI: SQLAlchemy's pool logging "Exception during reset or
    similar" for a connection of Dagster's storage) would otherwise reject a valid contract.
    """
    records = [
        *session.session_log_records,
        *(r for result in session.contract_verification_results for r in (result.log_records or [])),
    ]
    return [
        r.getMessage()
        for r in records
        if r.levelno >= logging.ERROR and r.name.split(".")[0] in ("soda", "soda_core")
    ]


def verify_table(
    wh: Warehouse,
    contract: Contract,
    table: Table,
    *,
    references: list[ReferenceData] | None = None,
    window_end: datetime | None = None,
) -> list[SodaOutcome]:
    """Generate the Soda contract for ``table`` and verify it; a malformed contract is a ContractError."""
    os.environ.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")
    from soda_core.common.yaml import ContractYamlSource, DataSourceYamlSource
    from soda_core.contracts.contract_verification import ContractVerificationSession

    document = soda_contract(contract, qualified_name(wh, table), references=references)
    contract_text = yaml.safe_dump(document, sort_keys=False)
    variables = {WINDOW_END_VARIABLE: window_end.isoformat()} if window_end is not None else None

    def run(validate_only: bool) -> Any:
        return ContractVerificationSession.execute(
            contract_yaml_sources=[ContractYamlSource.from_str(contract_text)],
            data_source_yaml_sources=[DataSourceYamlSource.from_str(data_source_yaml(wh.url))],
            variables=variables,
            only_validate_without_execute=validate_only,
        )

    # Validation reads no data, so its messages are safe to show: they name the offending contract key.
    checked = run(validate_only=True)
    errors = soda_errors(checked)
    if errors:
        first = errors[0].strip().splitlines()[0]
        raise ContractError(
            f"{contract.dataset}: generated Soda contract rejected (check quality.soda): {first}"
        )
    with withheld_soda_logs():
        session = run(validate_only=False)
    return [_to_outcome(r) for cvr in session.contract_verification_results for r in cvr.check_results]
