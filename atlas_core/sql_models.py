"""Gold SQL models: a ``SELECT`` in ``models/gold/<name>.sql`` with a YAML header.

The header sits in the file's leading block comment, between ``---`` lines::

    /* ---
    description: One row per customer.
    primary_key: [customer_sk]
    materialization: table            # or incremental (needs partition_column)
    tests:
      - unique: [customer_sk]
      - not_null: [customer_sk, customer_id]
      - row_count: {min: 1}
        severity: warn                # default: error (blocks downstream)
    rules:
      - name: segment
        kind: derivation              # or flag (a boolean)
        expression: CASE WHEN lifetime_value >= 1000 THEN 'gold' ELSE 'standard' END
        description: Customer segment by lifetime value.
        owner: crm
    --- */
    SELECT ... FROM atlas_silver.customers

Rules may also live in a sidecar ``models/gold/<name>.rules.yml`` (``rules: [...]``), owned by the
business. Dependencies are parsed from ``atlas_silver.<table>`` / ``atlas_gold.<table>`` references.
Incremental models filter on ``:partition_start`` / ``:partition_end`` (inclusive/exclusive dates).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from atlas_core import yaml_text
from atlas_core.errors import ContractError
from atlas_core.identifiers import check_identifier, is_identifier, repeated
from atlas_core.model_checks import ModelCheck

_HEADER_RE = re.compile(r"^\s*/\*\s*---\s*\n(?P<yaml>.*?)\n\s*---\s*\*/", re.DOTALL)
_REF_RE = re.compile(r"\batlas_(silver|gold)\s*\.\s*\"?([a-z_][a-z0-9_]*)\"?", re.IGNORECASE)
_PLACEHOLDER_RE = re.compile(r"(?<![:\w]):(partition_start|partition_end)\b")
_COMMENTS_RE = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
Severity = Literal["error", "warn"]
Ref = tuple[str, str]


def _identifiers(names: list[str]) -> list[str]:
    for name in names:
        if not is_identifier(name):
            raise ValueError(f"invalid column name {name!r}")
    return names


class ModelTest(BaseModel):
    """One ``tests:`` entry: exactly one kind, plus a severity (``error`` blocks downstream)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unique: list[str] | None = Field(default=None, description="columns whose combination is unique")
    not_null: list[str] | None = None
    accepted_values: dict[str, list[Any]] | None = None
    relationships: dict[str, str] | None = Field(default=None, description="column -> layer.table.column")
    row_count: dict[Literal["min", "max"], int] | None = Field(
        default=None,
        description="{min: n, max: n}: rows of the table, or of each partition of an incremental model",
    )
    severity: Severity = "error"

    @model_validator(mode="after")
    def _one_kind(self) -> ModelTest:
        kinds = [
            k
            for k in ("unique", "not_null", "accepted_values", "relationships", "row_count")
            if getattr(self, k)
        ]
        if len(kinds) != 1:
            raise ValueError(
                "each test names exactly one of unique, not_null, accepted_values, relationships, row_count"
            )
        for columns in (
            self.unique,
            self.not_null,
            list(self.accepted_values or {}),
            list(self.relationships or {}),
        ):
            _identifiers(list(columns or []))
        for target in (self.relationships or {}).values():
            parts = target.split(".")
            if (
                len(parts) != 3
                or parts[0] not in ("silver", "gold")
                or not all(is_identifier(p) for p in parts[1:])
            ):
                raise ValueError(f"relationship target {target!r} must be silver|gold.<table>.<column>")
        return self


class BusinessRule(BaseModel):
    """A named derivation (any value) or flag (boolean) computed over the model's rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["derivation", "flag"] = "derivation"
    expression: str = Field(description="SQL expression over the model's columns and earlier rules")
    description: str
    owner: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_identifier(value):
            raise ValueError(f"invalid rule name {value!r}")
        return value

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        if ";" in _COMMENTS_RE.sub(" ", value) or not value.strip():
            raise ValueError("a rule expression is one SQL expression (no ';')")
        return value.strip()


class ModelHeader(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    primary_key: list[str] = Field(default_factory=list)
    materialization: Literal["table", "incremental"] = "table"
    partition_column: str | None = None
    owners: list[str] = Field(default_factory=list)
    tests: list[ModelTest] = Field(default_factory=list)
    rules: list[BusinessRule] = Field(default_factory=list)

    @field_validator("primary_key")
    @classmethod
    def _pk(cls, value: list[str]) -> list[str]:
        return _identifiers(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class SqlModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    layer: Literal["gold"] = "gold"
    path: str
    header: ModelHeader
    sql: str
    refs: list[Ref]

    @property
    def incremental(self) -> bool:
        return self.header.materialization == "incremental"

    @property
    def rules(self) -> list[BusinessRule]:
        return list(self.header.rules)

    @property
    def test_refs(self) -> list[Ref]:
        """Tables read by relationship tests (upstream edges as well)."""
        targets = {
            tuple(t.split(".")[:2]) for test in self.header.tests for t in (test.relationships or {}).values()
        }
        return sorted((layer, table) for layer, table in targets if (layer, table) != ("gold", self.name))

    def checks(self) -> list[ModelCheck]:
        """One check per test and column (``unique`` tests a column combination as one check)."""
        checks: list[ModelCheck] = []
        for test in self.header.tests:
            sev = test.severity
            if test.unique:
                cols = tuple(test.unique)
                checks.append(
                    ModelCheck(
                        f"unique_{'_'.join(cols)}", "unique", cols, sev, f"({', '.join(cols)}) is unique"
                    )
                )
            for col in test.not_null or []:
                checks.append(ModelCheck(f"not_null_{col}", "not_null", (col,), sev, f"{col} is never NULL"))
            for col, values in (test.accepted_values or {}).items():
                texts = tuple(_text(v) for v in values)
                checks.append(
                    ModelCheck(
                        f"accepted_values_{col}",
                        "accepted_values",
                        (col,),
                        sev,
                        f"{col} is one of {list(texts)}",
                        values=texts,
                    )
                )
            for col, target in (test.relationships or {}).items():
                layer, table, parent_col = target.split(".")
                checks.append(
                    ModelCheck(
                        f"relationships_{col}",
                        "relationships",
                        (col,),
                        sev,
                        f"every {col} exists in atlas_{layer}.{table}.{parent_col}",
                        parent=(layer, table, parent_col),
                    )
                )
            if test.row_count:
                bounds = {str(k): v for k, v in test.row_count.items()}
                scope = "each partition" if self.incremental else "the table"
                checks.append(
                    ModelCheck(
                        "row_count", "row_count", (), sev, f"rows of {scope} within {bounds}", bounds=bounds
                    )
                )
        duplicates = repeated(c.name for c in checks)
        if duplicates:
            raise ContractError(f"{self.path}: tests: check {duplicates[0]!r} is declared twice")
        return checks

    @property
    def all_refs(self) -> list[Ref]:
        return sorted(set(self.refs) | set(self.test_refs))

    @property
    def code_version(self) -> str:
        """Changes with what changes the data: the SQL, materialization, keys and every rule's expression.

        Descriptions, owners and tests do not change the rows, so they do not make the model stale.
        """
        semantic = {
            "sql": self.sql,
            "materialization": self.header.materialization,
            "partition_column": self.header.partition_column,
            "primary_key": self.header.primary_key,
            "rules": [[r.name, r.kind, r.expression] for r in self.header.rules],
        }
        return hashlib.sha256(json.dumps(semantic, sort_keys=True).encode()).hexdigest()[:16]


def render(sql_text: str, window: tuple[date, date] | None = None) -> sql.Composed:
    """``sql_text`` as a psycopg Composable, ``:partition_start``/``:partition_end`` bound as literals."""
    parts: list[sql.Composable] = []
    position = 0
    for match in _PLACEHOLDER_RE.finditer(sql_text):
        if window is None:
            raise ContractError(f":{match.group(1)} used outside an incremental model run")
        parts.append(sql.SQL(sql_text[position : match.start()]))
        parts.append(sql.Literal(window[0] if match.group(1) == "partition_start" else window[1]))
        position = match.end()
    parts.append(sql.SQL(sql_text[position:]))
    return sql.Composed(parts)


def has_placeholders(sql_text: str) -> bool:
    return bool(_PLACEHOLDER_RE.search(_COMMENTS_RE.sub(" ", sql_text)))


def parse_refs(sql_text: str) -> list[Ref]:
    without_comments = _COMMENTS_RE.sub(" ", sql_text)
    refs = {(m.group(1).lower(), m.group(2).lower()) for m in _REF_RE.finditer(without_comments)}
    return sorted(refs)


def _validation_error(origin: str, exc: yaml.YAMLError | ValidationError) -> ContractError:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "header"
        return ContractError(f"{origin}: {where}: {first['msg'].removeprefix('Value error, ')}")
    return ContractError(f"{origin}: invalid YAML: {str(exc).splitlines()[0]}")


def _load_sidecar_rules(path: Path) -> list[Any]:
    sidecar = path.with_name(f"{path.stem}.rules.yml")
    if not sidecar.exists():
        return []
    try:
        data = yaml_text.safe_load(sidecar.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise _validation_error(str(sidecar), exc) from None
    if not isinstance(data, dict) or set(data) - {"rules"} or not isinstance(data.get("rules", []), list):
        raise ContractError(f"{sidecar}: a rules file holds one key, rules: [ ... ]")
    return list(data.get("rules") or [])


def load_model(path: Path) -> SqlModel:
    text = path.read_text(encoding="utf-8")
    match = _HEADER_RE.match(text)
    if not match:
        raise ContractError(f"{path}: a model starts with a /* --- YAML header --- */ block")
    try:
        raw = yaml_text.safe_load(match.group("yaml")) or {}
    except yaml.YAMLError as exc:
        raise _validation_error(str(path), exc) from None
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: header: a mapping of keys is expected")
    sidecar_rules = _load_sidecar_rules(path)
    if sidecar_rules:
        raw = {**raw, "rules": [*(raw.get("rules") or []), *sidecar_rules]}
    try:
        header = ModelHeader.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(str(path), exc) from None
    body = text[match.end() :].strip().rstrip(";").strip()
    name = check_identifier(path.stem, "model name")
    if header.materialization == "incremental" and not header.partition_column:
        raise ContractError(f"{path}: partition_column: required for incremental models")
    if header.partition_column is not None:
        check_identifier(header.partition_column, "partition column")
    if not re.match(r"^(with|select)\b", body, re.IGNORECASE):
        raise ContractError(f"{path}: the model body must be a single SELECT (or WITH ... SELECT)")
    if ";" in _COMMENTS_RE.sub(" ", body):
        raise ContractError(f"{path}: the model body must be a single statement (no ';')")
    if header.materialization == "table" and has_placeholders(
        body + " ".join(r.expression for r in header.rules)
    ):
        raise ContractError(f"{path}: :partition_start/:partition_end are for incremental models only")
    refs = parse_refs(body)
    if ("gold", name) in refs:
        raise ContractError(f"{path}: a model cannot read itself")
    seen: set[str] = set()
    for rule in header.rules:
        if rule.name in seen:
            raise ContractError(f"{path}: rules: rule {rule.name!r} is defined twice")
        seen.add(rule.name)
    model = SqlModel(name=name, path=str(path), header=header, sql=body, refs=refs)
    model.checks()  # check names must be unique per model
    return model


def topological_order(models: list[SqlModel]) -> list[SqlModel]:
    """Models ordered so every model comes after the models it reads; a cycle is a one-line error."""
    by_name = {m.name: m for m in models}
    ordered: list[SqlModel] = []
    state: dict[str, str] = {}

    def visit(model: SqlModel, chain: list[str]) -> None:
        if state.get(model.name) == "done":
            return
        if state.get(model.name) == "visiting":
            cycle = [*chain[chain.index(model.name) :], model.name]
            raise ContractError(f"{model.path}: dependency cycle {' -> '.join(cycle)}")
        state[model.name] = "visiting"
        for layer, table in model.all_refs:
            if layer == "gold":
                visit(by_name[table], [*chain, model.name])
        state[model.name] = "done"
        ordered.append(model)

    for model in sorted(models, key=lambda m: m.name):
        visit(model, [])
    return ordered


def lineage_code_versions(models: list[SqlModel]) -> dict[str, str]:
    """Per model: a hash of its own code version and those of every gold model upstream of it.

    Dagster only reports a code change on the asset whose code changed; hashing the lineage makes an
    edited rule mark every dependent model stale at once (their rows change too).
    """
    versions: dict[str, str] = {}
    for model in topological_order(models):
        upstream = sorted(versions[t] for layer, t in model.refs if layer == "gold")
        payload = json.dumps([model.code_version, upstream])
        versions[model.name] = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return versions


def load_models(directory: Path) -> list[SqlModel]:
    """Every model of ``<directory>/gold``, in dependency order."""
    gold = directory / "gold"
    if not gold.is_dir():
        return []
    models = [load_model(p) for p in sorted(gold.glob("*.sql"))]
    names = {m.name for m in models}
    for model in models:
        for layer, table in model.all_refs:
            if layer == "gold" and table not in names:
                raise ContractError(f"{model.path}: reads atlas_gold.{table}, which no model defines")
    for sidecar in sorted(gold.glob("*.rules.yml")):
        if sidecar.name.removesuffix(".rules.yml") not in names:
            raise ContractError(
                f"{sidecar}: no model {sidecar.name.removesuffix('.rules.yml')}.sql for these rules"
            )
    return topological_order(models)
