"""Postgres roles mirroring the API roles, so BI tools connecting directly get the same rules.

==================  =================================================================================
``atlas_pipeline``  everything in the Atlas schemas (the only role reading raw bronze/silver columns,
                    quarantine and staging)
``atlas_admin``     gold, ai_ready, non-raw columns of bronze/silver, audit and quality tables
``atlas_engineer``  gold, ai_ready, non-raw columns of bronze/silver, quality tables (data_engineer)
``atlas_analyst``   gold and ai_ready (data_analyst)
``atlas_ml``        ai_ready (ml_engineer)
``atlas_viewer``    quality results and the ingestion ledger only
==================  =================================================================================

"Raw" columns: in bronze every PII column and ``_atlas_raw_line``; in silver the PII columns the
PII stage kept as they were (see :func:`raw_columns`) - the same columns the API withholds. Roles are NOLOGIN
groups: give people or tools a login role that is a member (``CREATE ROLE bi LOGIN PASSWORD '..' IN ROLE
atlas_analyst``). Whole-schema grants cover future tables through default privileges for the role running this
(the one the pipeline creates tables with); column grants on bronze/silver are per table, so run
``atlas db grants`` again after adding a dataset.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.roles import DATA_ACCESS, DB_ROLES, INGESTION_LEDGER, Role
from atlas_resources import pgurl
from atlas_resources.warehouse import column_types

PIPELINE = "atlas_pipeline"
ALL_ROLES = (PIPELINE, *DB_ROLES.values())
ATLAS_SCHEMAS = (
    *(layer.schema for layer in layout.LAYERS),
    layout.QUARANTINE_SCHEMA,
    layout.STAGING_SCHEMA,
    layout.META_SCHEMA,
)


def _db_roles(roles: frozenset[Role]) -> tuple[str, ...]:
    return tuple(DB_ROLES[r] for r in Role if r in roles)  # in the order of Role


# The same permission sets as the API (atlas_core.roles.DATA_ACCESS), as PostgreSQL grants.
WHOLE_SCHEMA_READERS = {
    layout.Layer.GOLD.schema: _db_roles(DATA_ACCESS["gold"]),
    layout.Layer.AI_READY.schema: _db_roles(DATA_ACCESS["ai_ready"]),
}
COLUMN_READERS = _db_roles(DATA_ACCESS["silver"])  # non-raw columns of bronze and silver
META_READERS = {
    "quality_results": ("atlas_admin", "atlas_engineer", "atlas_analyst", "atlas_ml", "atlas_viewer"),
    "quality_check_results": ("atlas_admin", "atlas_engineer", "atlas_analyst", "atlas_viewer"),
    "ingestions": _db_roles(INGESTION_LEDGER),
    "step_metrics": ("atlas_admin", "atlas_engineer", "atlas_viewer"),
    "pii_reports": ("atlas_admin", "atlas_engineer"),
    "audit": ("atlas_admin",),
    "pii_audit": ("atlas_admin",),
}


def raw_columns(layer: layout.Layer, contract: Contract | None, detected: dict[str, str | None]) -> set[str]:
    """Columns of a bronze/silver table only the pipeline may read (``{"*"}``: the whole table).

    Bronze holds raw values: every PII column (declared, or detected by the latest PII report) and the
    raw CSV line. Silver holds what the PII stage published: only PII columns left as they were
    (strategy ``keep`` or none) are raw there; hashed, masked, encrypted or pseudonymised ones are not.
    """
    if contract is None:
        return {"*"}
    declared = {c.name: (c.pii.strategy if c.pii else None) for c in contract.columns if c.pii}
    if layer is layout.Layer.BRONZE:
        return {layout.RAW_LINE, *declared, *detected}
    strategies = {**detected, **{c: s for c, s in declared.items() if s is not None}}
    for column in declared:
        strategies.setdefault(column, None)
    return {layout.RAW_LINE} | {c for c, strategy in strategies.items() if strategy in (None, "keep")}


def detected_pii(conn: psycopg.Connection) -> dict[str, dict[str, str | None]]:
    """Dataset → {column: strategy} from each dataset's latest PII report (empty without the table)."""
    found = conn.execute("SELECT to_regclass('atlas_meta.pii_reports') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return {}
    rows = conn.execute(
        "SELECT DISTINCT ON (dataset) dataset, columns FROM atlas_meta.pii_reports "
        "ORDER BY dataset, created_at DESC, report_id DESC"
    ).fetchall()
    return {
        dataset: {
            name: entry.get("strategy")
            for name, entry in (columns or {}).items()
            if isinstance(entry, dict) and entry.get("entity")
        }
        for dataset, columns in rows
    }


def _ids(names: Iterable[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def apply_grants(postgres_url: str, contracts: Iterable[Contract]) -> list[str]:
    """Create the roles when missing and reset their privileges to the table above; returns a summary."""
    by_dataset = {c.dataset: c for c in contracts}
    summary: list[str] = []
    with psycopg.connect(pgurl.for_psycopg(postgres_url), connect_timeout=10) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('atlas db grants'))")
        existing = {
            r[0]
            for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(ALL_ROLES),))
        }
        for role in ALL_ROLES:
            if role not in existing:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
                summary.append(f"created role {role}")
        schemas = [
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (list(ATLAS_SCHEMAS),)
            )
        ]
        roles = _ids(ALL_ROLES)
        for schema in schemas:
            s = sql.Identifier(schema)
            # Start from nothing, so re-running after a policy change removes what is no longer allowed.
            conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(s, roles))
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(s, roles))
            conn.execute(
                sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} REVOKE ALL ON TABLES FROM {}").format(s, roles)
            )
            conn.execute(
                sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(s, sql.Identifier(PIPELINE))
            )
            conn.execute(
                sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA {} TO {}").format(s, sql.Identifier(PIPELINE))
            )
            conn.execute(
                sql.SQL("GRANT ALL ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, sql.Identifier(PIPELINE))
            )
            conn.execute(
                sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT ALL ON TABLES TO {}").format(
                    s, sql.Identifier(PIPELINE)
                )
            )
        for schema, readers in WHOLE_SCHEMA_READERS.items():
            if schema not in schemas:
                continue
            s, r = sql.Identifier(schema), _ids(readers)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
            conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r))
            conn.execute(
                sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(s, r)
            )
            summary.append(f"{schema}: SELECT for {', '.join(readers)}")
        detected = detected_pii(conn)
        for layer in (layout.Layer.BRONZE, layout.Layer.SILVER):
            if layer.schema not in schemas:
                continue
            conn.execute(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                    sql.Identifier(layer.schema), _ids(COLUMN_READERS)
                )
            )
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = %s AND table_type = 'BASE TABLE' "
                    "ORDER BY table_name",
                    (layer.schema,),
                )
            ]
            for table in tables:
                hidden = raw_columns(layer, by_dataset.get(table), detected.get(table, {}))
                if "*" in hidden:
                    summary.append(f"{layer.schema}.{table}: no contract, pipeline only")
                    continue
                all_columns = list(column_types(conn, (layer.schema, table)))
                columns = [c for c in all_columns if c not in hidden]
                if columns:
                    conn.execute(
                        sql.SQL("GRANT SELECT ({}) ON {} TO {}").format(
                            _ids(columns), sql.Identifier(layer.schema, table), _ids(COLUMN_READERS)
                        )
                    )
                summary.append(
                    f"{layer.schema}.{table}: {len(columns)} columns for {', '.join(COLUMN_READERS)}, "
                    f"{len(all_columns) - len(columns)} raw (pipeline only)"
                )
        meta_tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (layout.META_SCHEMA,),
            )
        }
        meta_roles = sorted({r for readers in META_READERS.values() for r in readers})
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(layout.META_SCHEMA), _ids(meta_roles)
            )
        )
        for table, readers in META_READERS.items():
            if table in meta_tables:
                conn.execute(
                    sql.SQL("GRANT SELECT ON {} TO {}").format(
                        sql.Identifier(layout.META_SCHEMA, table), _ids(readers)
                    )
                )
                summary.append(f"{layout.META_SCHEMA}.{table}: SELECT for {', '.join(readers)}")
    return summary
