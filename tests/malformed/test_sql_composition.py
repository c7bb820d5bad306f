"""Nothing is string-formatted into SQL; identifiers from data or contracts are validated and quoted.

ruff's S608 only sees string literals that look like SQL; it misses ``sql.SQL(f"...")``, a ``%``- or
``.format``-built string handed to ``execute``, and ``sql.SQL(variable)``. This scan of the product
code finds those. ``sql.SQL`` over text that is not a literal is allowed only where the text is
trusted code or validated, listed below with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from atlas_core.contracts import load_contract
from atlas_core.errors import InputRejected
from atlas_core.identifiers import check_identifier

PROJECT_DIR = Path(__file__).resolve().parents[2]
PACKAGES = ["atlas_core", "atlas_engine", "atlas_resources", "atlas_assets", "atlas_cli", "atlas_api"]
QUERY_METHODS = {
    "execute",
    "executemany",
    "fetch_all",
    "fetch_one",
    "fetchval",
    "scalar",
    "copy",
    "stream",
    "mogrify",
}
TRUSTED_SQL_TEXT = {
    (
        "atlas_core/features/point_in_time.py",
        "agg.function",
    ): "an aggregate name from the feature spec's Literal enum",
    ("atlas_core/sql_models.py", "sql_text[position:match.start()]"): "gold model SQL files are project code",
    ("atlas_core/sql_models.py", "sql_text[position:]"): "gold model SQL files are project code",
    (
        "atlas_core/quality/rules.py",
        "expr.sql",
    ): "contract expression, allow-listed tokens only (check_expression)",
    ("atlas_engine/quality_plan.py", "expr.sql"): "the same validated expression, type-checked read-only",
    (
        "atlas_engine/quality_plan.py",
        "pg_type(ARROW_TYPES[c.type])",
    ): "a PostgreSQL type name from a fixed map",
    (
        "atlas_engine/repair.py",
        "pg_type(ARROW_TYPES[contract.column(column).type])",
    ): "a PostgreSQL type name from a fixed map",
    (
        "atlas_engine/sources/postgres.py",
        "source.query.strip().rstrip(';')",
    ): "the operator's source query (contract)",
    ("atlas_engine/tables.py", "pgt"): "a PostgreSQL type name from a fixed map",
    ("atlas_resources/arrowpg.py", "pg_type(f.type)"): "a PostgreSQL type name from a fixed map",
    ("atlas_resources/warehouse.py", "extra"): "table options passed by Atlas code",
    ("atlas_resources/warehouse.py", "bound"): "a query psycopg bound client-side (mogrify) for COPY",
}


def _name(func: ast.expr) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _is_formatted_text(node: ast.expr) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(not isinstance(v, ast.Constant) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return isinstance(node.left, ast.Constant | ast.JoinedStr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        sides = (node.left, node.right)
        has_text = any(
            isinstance(s, ast.Constant) and isinstance(s.value, str) or isinstance(s, ast.JoinedStr)
            for s in sides
        )
        return has_text and any(not isinstance(s, ast.Constant) for s in sides)
    if isinstance(node, ast.Call) and _name(node.func) == "format":
        return isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Constant)
    return False


def scan() -> tuple[list[str], set[tuple[str, str]]]:
    formatted, sql_text = [], set()
    for package in PACKAGES:
        for path in sorted((PROJECT_DIR / package).rglob("*.py")):
            rel = path.relative_to(PROJECT_DIR).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name, first = _name(node.func), node.args[0]
                if name in QUERY_METHODS | {"SQL"} and _is_formatted_text(first):
                    formatted.append(f"{rel}:{node.lineno}: {name}({ast.unparse(first)[:80]})")
                elif name == "SQL" and not isinstance(first, ast.Constant):
                    sql_text.add((rel, ast.unparse(first)))
    return formatted, sql_text


def test_no_query_text_is_built_by_string_formatting() -> None:
    formatted, sql_text = scan()
    assert formatted == []
    assert sql_text - set(TRUSTED_SQL_TEXT) == set(), (
        "new sql.SQL(<not a literal>): validate it or use Identifier/Literal"
    )


def test_the_guard_finds_what_it_looks_for(tmp_path: Path) -> None:
    code = (
        'conn.execute(f"SELECT * FROM {t}")\n'
        'cur.execute("DELETE FROM x WHERE id = %s" % v)\n'
        'sql.SQL(f"DROP {x}")\n'
    )
    calls = [
        n
        for n in ast.walk(ast.parse(code))
        if isinstance(n, ast.Call) and _name(n.func) in ("execute", "SQL")
    ]
    assert all(_is_formatted_text(c.args[0]) for c in calls) and len(calls) == 3
    safe = (
        'conn.execute(sql.SQL("SELECT {} FROM t").format(sql.Identifier(c)), (v,))\n'
        'wh.fetch_all(Q + sql.SQL(" x"))\n'
    )
    calls = [
        n
        for n in ast.walk(ast.parse(safe))
        if isinstance(n, ast.Call) and _name(n.func) in ("execute", "fetch_all")
    ]
    assert not any(_is_formatted_text(c.args[0]) for c in calls)


@pytest.mark.parametrize(
    "name",
    [
        'x"; DROP SCHEMA atlas_silver CASCADE; --',
        "Robert'); DROP TABLE t;--",
        "n\u0430me",
        "name ",
        "Name",
        "_atlas_row_number",
        "1st",
        "a" * 64,
        "",
        "pg_catalog.pg_class",
    ],
)
def test_identifiers_from_data_or_contracts_are_validated(name: str, tmp_path: Path) -> None:
    with pytest.raises(InputRejected):
        check_identifier(name, "column name")
    contract = tmp_path / "c.yml"
    contract.write_text(
        f"dataset: d\nsource: {{kind: file, path: x.csv}}\ncolumns:\n  - name: {name!r}\n", encoding="utf-8"
    )
    with pytest.raises(InputRejected):
        load_contract(contract)
