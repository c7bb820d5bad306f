"""Gold SQL models: a ``SELECT`` in ``models/gold/<name>.sql`` with a YAML header.

The header sits in the file's leading block comment, between ``---`` lines::

    /* ---
    description: One row per customer.
    primary_key: [customer_sk]
    materialization: table            # or incremental (needs partition_column)
    --- */
    SELECT ... FROM atlas_silver.customers

Dependencies are parsed from ``atlas_silver.<table>`` / ``atlas_gold.<table>`` references.
Incremental models filter on ``:partition_start`` / ``:partition_end`` (inclusive/exclusive dates).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from atlas_core.errors import ContractError
from atlas_core.identifiers import check_identifier

_HEADER_RE = re.compile(r"^\s*/\*\s*---\s*\n(?P<yaml>.*?)\n\s*---\s*\*/", re.DOTALL)
_REF_RE = re.compile(r"\batlas_(silver|gold)\s*\.\s*\"?([a-z_][a-z0-9_]*)\"?", re.IGNORECASE)
_PLACEHOLDER_RE = re.compile(r"(?<![:\w]):(partition_start|partition_end)\b")


class ModelTest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unique: list[str] | None = None
    not_null: list[str] | None = None
    accepted_values: dict[str, list[Any]] | None = None
    relationships: dict[str, str] | None = Field(default=None, description="column -> layer.table.column")
    row_count: dict[str, int] | None = Field(default=None, description="{min: n, max: n}")


class ModelHeader(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    primary_key: list[str] = Field(default_factory=list)
    materialization: Literal["table", "incremental"] = "table"
    partition_column: str | None = None
    owners: list[str] = Field(default_factory=list)
    tests: list[ModelTest] = Field(default_factory=list)


class SqlModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    layer: Literal["gold"] = "gold"
    path: str
    header: ModelHeader
    sql: str
    refs: list[tuple[str, str]]

    @property
    def incremental(self) -> bool:
        return self.header.materialization == "incremental"

    @property
    def code_version(self) -> str:
        return hashlib.sha256((self.header.model_dump_json() + self.sql).encode()).hexdigest()[:16]

    def bound_sql(self) -> str:
        """The SELECT with placeholders as psycopg named parameters (and literal % escaped)."""
        escaped = self.sql.replace("%", "%%")
        return _PLACEHOLDER_RE.sub(lambda m: f"%({m.group(1)})s", escaped)


def parse_refs(sql_text: str) -> list[tuple[str, str]]:
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql_text, flags=re.DOTALL)
    refs = {(m.group(1).lower(), m.group(2).lower()) for m in _REF_RE.finditer(without_comments)}
    return sorted(refs)


def load_model(path: Path) -> SqlModel:
    text = path.read_text(encoding="utf-8")
    match = _HEADER_RE.match(text)
    if not match:
        raise ContractError(f"{path}: a model starts with a /* --- YAML header --- */ block")
    try:
        header = ModelHeader.model_validate(yaml.safe_load(match.group("yaml")) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc).splitlines()[0]}
        where = ".".join(str(p) for p in first["loc"]) or "header"
        raise ContractError(f"{path}: {where}: {first['msg']}") from None
    body = text[match.end():].strip().rstrip(";").strip()
    name = check_identifier(path.stem, "model name")
    if header.materialization == "incremental" and not header.partition_column:
        raise ContractError(f"{path}: partition_column: required for incremental models")
    if not re.match(r"^(with|select)\b", body, re.IGNORECASE):
        raise ContractError(f"{path}: the model body must be a single SELECT (or WITH ... SELECT)")
    refs = parse_refs(body)
    if ("gold", name) in refs:
        raise ContractError(f"{path}: a model cannot read itself")
    return SqlModel(name=name, path=str(path), header=header, sql=body, refs=refs)


def load_models(directory: Path) -> list[SqlModel]:
    gold = directory / "gold"
    if not gold.is_dir():
        return []
    models = [load_model(p) for p in sorted(gold.glob("*.sql"))]
    names = {m.name for m in models}
    for model in models:
        for layer, table in model.refs:
            if layer == "gold" and table not in names:
                raise ContractError(f"{model.path}: reads atlas_gold.{table}, which no model defines")
    return models
