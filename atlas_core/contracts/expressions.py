"""Guard for contract ``expressions``: a SQL boolean over one row, and nothing else.

An expression is spliced into the rule evaluation as a predicate, so it must not be able to end the
statement, open a sub-query, read another table or call a function with side effects. Rather than
trying to recognise every dangerous construct, the expression is tokenised and only an allow-list
passes: literals, operators, the row's own columns, a fixed set of keywords, type names (after
``::``) and pure scalar functions. Whatever PostgreSQL would still reject (types, arity) is caught
before the load by evaluating the predicate against an empty row in a read-only transaction
(``atlas_engine.quality_plan.validate_expressions``).
"""

from __future__ import annotations

import re

MAX_EXPRESSION_CHARS = 2000

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<quoted>"[^"]*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>::|<=|>=|<>|!=|\|\||!~\*|!~|~\*|[-+*/%<>=~(),])
    """,
    re.VERBOSE,
)

KEYWORDS = frozenset(
    """
    and or not is null true false in between like ilike similar to escape case when then else end
    distinct from cast as interval at time zone unknown symmetric
    """.split()
)
"""``from`` is allowed only inside ``IS [NOT] DISTINCT FROM``, ``EXTRACT(f FROM x)`` and ``SIMILAR``-free
contexts; a bare ``FROM`` cannot open a sub-query because ``SELECT`` is not an allowed word."""

FUNCTIONS = frozenset(
    """
    abs round ceil ceiling floor trunc sign mod power sqrt exp ln log greatest least coalesce nullif
    lower upper length char_length character_length octet_length trim btrim ltrim rtrim substr substring
    left right replace strpos position starts_with concat concat_ws lpad rpad reverse split_part initcap
    md5 regexp_replace regexp_match regexp_like translate to_char to_number to_date to_timestamp
    date_trunc date_part extract age now current_date make_date make_interval make_timestamp
    make_timestamptz justify_days isfinite num_nonnulls num_nulls
    """.split()
)

TYPE_NAMES = frozenset(
    """
    text varchar char integer int int4 int8 bigint smallint numeric decimal real float float4 float8
    double precision boolean bool date timestamp timestamptz interval time
    """.split()
)

_FIELD_WORDS = frozenset("year month day hour minute second epoch dow doy week quarter".split())

STATEMENT_WORDS = frozenset(
    """
    select insert update delete merge drop create alter grant revoke truncate copy execute call do with
    union intersect except into returning lateral table values join where having group order limit offset
    """.split()
)


class ExpressionError(ValueError):
    """The expression is not a plain SQL predicate over the row."""


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise ExpressionError(f"character {text[pos]!r} at position {pos + 1} is not allowed")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def check_expression(text: str, columns: set[str] | None = None) -> None:
    """Raise :class:`ExpressionError` unless ``text`` is an allowed predicate over ``columns``.

    With ``columns`` None only the syntax is checked (column names are checked once the contract's
    columns are known).
    """
    if not text.strip():
        raise ExpressionError("expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    for marker, what in (
        (";", "semicolons"),
        ("--", "comments"),
        ("/*", "comments"),
        ("$", "dollar quoting"),
        ("\\", "backslashes"),
    ):
        if marker in text:
            raise ExpressionError(f"{what} are not allowed: an expression is one predicate, not a statement")
    tokens = tokenize(text)
    depth = 0
    for index, (kind, value) in enumerate(tokens):
        previous = tokens[index - 1][1].lower() if index else ""
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if value == "(":
            depth += 1
        elif value == ")":
            depth -= 1
            if depth < 0:
                raise ExpressionError("unbalanced parentheses")
        if kind == "quoted":
            name = value[1:-1]
            if columns is not None and name not in columns:
                raise ExpressionError(f"unknown column {name!r}")
            continue
        if kind != "word":
            continue
        word = value.lower()
        if word in STATEMENT_WORDS:
            raise ExpressionError(f"{value!r} is not allowed: an expression is a predicate over one row")
        if following == "(":
            if word not in FUNCTIONS and word not in (
                "cast",
                "in",
                "not",
                "and",
                "or",
                "interval",
                "when",
                "then",
                "else",
                "between",
                "is",
                "distinct",
                "from",
                "as",
                "like",
            ):
                raise ExpressionError(f"function {value!r} is not allowed")
            continue
        if previous in ("::", "as") and word in TYPE_NAMES:
            continue
        if word in KEYWORDS or (word in _FIELD_WORDS and previous == "("):
            continue
        if word == "precision" and previous == "double":
            continue
        if columns is None:
            continue
        if word not in columns:
            raise ExpressionError(f"unknown column or keyword {value!r}")
    if depth != 0:
        raise ExpressionError("unbalanced parentheses")
    if any(value.lower() == "from" for _, value in tokens):
        _check_from_usage(tokens)


def _check_from_usage(tokens: list[tuple[str, str]]) -> None:
    """``FROM`` only in ``IS [NOT] DISTINCT FROM`` or ``EXTRACT(field FROM ...)`` / ``SUBSTRING(x FROM
    n)``."""
    for index, (_, value) in enumerate(tokens):
        if value.lower() != "from":
            continue
        before = tokens[index - 1][1].lower() if index else ""
        if before == "distinct":
            continue
        # inside extract(...)/substring(...)/trim(...): find the function owning the open parenthesis
        depth = 0
        owner = ""
        for back in range(index - 1, -1, -1):
            token = tokens[back][1]
            if token == ")":
                depth += 1
            elif token == "(":
                if depth == 0:
                    owner = tokens[back - 1][1].lower() if back else ""
                    break
                depth -= 1
        if owner not in ("extract", "substring", "trim", "position"):
            raise ExpressionError("FROM is only allowed in IS [NOT] DISTINCT FROM and EXTRACT/SUBSTRING/TRIM")


def expression_columns(text: str, columns: set[str]) -> list[str]:
    """The contract columns an (already checked) expression reads, in order of first use."""
    found: list[str] = []
    for kind, value in tokenize(text):
        name = value[1:-1] if kind == "quoted" else value.lower() if kind == "word" else None
        if name in columns and name not in found:
            found.append(name)
    return found
