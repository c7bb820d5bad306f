"""PII reports and audited decryption: the PII reads and the audit the API may use (no erasure, no silver).

Kept apart from ``atlas_engine.pii`` (the silver stage, which enforces erasures) so that the REST API
can decrypt and read reports without importing any of the engine's write paths (import-linter).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from psycopg import sql

from atlas_core.contracts import Contract, load_contracts
from atlas_core.errors import AtlasError, InputRejected
from atlas_core.pii.keys import KeyRing, keyring_from_settings
from atlas_core.pii.strategies import Anonymizer, DecryptionError
from atlas_resources.warehouse import Warehouse

if TYPE_CHECKING:
    from atlas_core.settings import AtlasSettings


def latest_report(wh: Warehouse, dataset: str, run_id: str | None = None) -> dict[str, Any] | None:
    """The newest report of ``dataset`` (of ``run_id`` when given)."""
    query = sql.SQL(
        "SELECT report_id, partition_key, run_id, columns, created_at FROM atlas_meta.pii_reports "
        "WHERE dataset = %s AND (%s::text IS NULL OR run_id = %s) "
        "ORDER BY created_at DESC, report_id DESC LIMIT 1"
    )
    rows = wh.fetch_all(query, (dataset, run_id, run_id))
    if not rows:
        return None
    report_id, partition_key, run, columns, created_at = rows[0]
    return {
        "report_id": report_id,
        "dataset": dataset,
        "partition_key": partition_key,
        "run_id": run,
        "created_at": created_at.isoformat(),
        "columns": columns,
    }


# -- audited decryption ----------------------------------------------------------------------------------
def _audit(wh: Warehouse, action: str, actor: str, dataset: str | None, detail: dict[str, object]) -> int:
    with wh.transaction() as conn:
        row = conn.execute(
            "INSERT INTO atlas_meta.pii_audit (action, actor, dataset, detail) "
            "VALUES (%s, %s, %s, %s) RETURNING audit_id",
            (action, actor, dataset, json.dumps(detail)),
        ).fetchone()
    assert row is not None
    return int(row[0])


def encrypted_column(wh: Warehouse, contract: Contract, column: str) -> None:
    """Refuse to decrypt anything but a column the policy encrypts."""
    if column not in contract.column_names:
        raise InputRejected(f"{contract.dataset} has no column {column!r}")
    declared = contract.column(column).pii
    strategy = getattr(declared, "strategy", None)
    if strategy is None and declared is not False:
        report = latest_report(wh, contract.dataset)
        entry = (report or {}).get("columns", {}).get(column) or {}
        strategy = entry.get("strategy")
    if strategy != "encrypt":
        raise InputRejected(f"{contract.dataset}.{column} is not an encrypted column")


def decrypt_values(
    wh: Warehouse,
    settings: AtlasSettings,
    dataset: str,
    column: str,
    tokens: Sequence[str],
    actor: str,
    *,
    reason: str | None = None,
    keys: KeyRing | None = None,
) -> list[str]:
    """Decrypt ``tokens`` of ``dataset.column`` for ``actor``; every call (granted or not) is audited.

    The audit row records who, which column, how many tokens, the key ids and the reason - never a
    token or a plaintext.
    """
    if not actor or not actor.strip():
        raise InputRejected("decryption needs an actor (who is asking)")
    contracts = {c.dataset: c for c in load_contracts(settings.resolved_contracts_dir())}
    if dataset not in contracts:
        raise InputRejected(f"unknown dataset {dataset!r}")
    detail: dict[str, object] = {"column": column, "tokens": len(tokens), "reason": reason}
    try:
        encrypted_column(wh, contracts[dataset], column)
        anonymizer = Anonymizer(keys or keyring_from_settings(settings))
        plain = []
        for i, token in enumerate(tokens):
            try:
                plain.append(anonymizer.decrypt(token))
            except DecryptionError as exc:
                raise DecryptionError(f"token {i + 1}: {exc}") from None
    except AtlasError as exc:
        _audit(wh, "decrypt", actor, dataset, {**detail, "outcome": "refused", "error": str(exc)})
        raise
    key_ids = sorted({t.split(":")[1] for t in tokens if t.count(":") == 2})
    _audit(wh, "decrypt", actor, dataset, {**detail, "outcome": "granted", "key_ids": key_ids})
    return plain
