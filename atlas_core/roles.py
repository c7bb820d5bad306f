"""The five API roles and which of them may do what (the one place the permission table lives)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DATA_ENGINEER = "data_engineer"
    DATA_ANALYST = "data_analyst"
    ML_ENGINEER = "ml_engineer"
    VIEWER = "viewer"


EVERYONE = frozenset(Role)
TRIGGER = frozenset({Role.ADMIN, Role.DATA_ENGINEER})
RAW_DATA = frozenset({Role.ADMIN, Role.DATA_ENGINEER})
GOLD_DATA = frozenset({Role.ADMIN, Role.DATA_ENGINEER, Role.DATA_ANALYST})
AI_READY_DATA = frozenset({Role.ADMIN, Role.DATA_ENGINEER, Role.DATA_ANALYST, Role.ML_ENGINEER})
ADMIN_ONLY = frozenset({Role.ADMIN})
INGESTION_LEDGER = frozenset({Role.ADMIN, Role.DATA_ENGINEER, Role.VIEWER})
"""Who may read the ingestion ledger (file names, statuses, one-line reasons; never row values)."""

DATA_ACCESS = {"bronze": RAW_DATA, "silver": RAW_DATA, "gold": GOLD_DATA, "ai_ready": AI_READY_DATA}
"""Who may read rows of each layer through ``GET /data/<layer>/<table>``."""

DB_ROLES = {
    Role.ADMIN: "atlas_admin",
    Role.DATA_ENGINEER: "atlas_engineer",
    Role.DATA_ANALYST: "atlas_analyst",
    Role.ML_ENGINEER: "atlas_ml",
    Role.VIEWER: "atlas_viewer",
}
"""The PostgreSQL group role mirroring each API role (``atlas db grants``)."""
