"""Apply a column's ``standardize:`` steps to raw text, vectorised with Arrow compute.

Every step is one or a few Arrow kernels over the whole batch (no per-value Python). Each step's
changed cells are counted (a value that became null or stopped being null counts as changed), so a
load can report what standardization did per column and step.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc

from atlas_core.contracts.model import Column
from atlas_core.contracts.standardize import (
    BooleanStep,
    Extract,
    MapStep,
    NumberStep,
    Replace,
    SimpleStep,
    StripUnits,
    capture_groups,
)

NULL_TEXT = pa.scalar(None, pa.string())
# A number as written in files: digits with optional separators, sign and decimals.
_NUMBER = r"[+-]?(?:\d[\d.,' ]*\d|\d)(?:[.,]\d+)?|[+-]?[.,]\d+"
_CURRENCY_SYMBOLS = "$€£¥₹₩₽¢₺₪₫₱"
_CURRENCY_CODES = "USD|EUR|GBP|JPY|CHF|CAD|AUD|CNY|INR|SEK|NOK|DKK|PLN|BRL|MXN"
_CURRENCY = f"(?:[{_CURRENCY_SYMBOLS}]|(?i:{_CURRENCY_CODES}))"
_CURRENCY_RE = rf"^\s*([+-]?)\s*{_CURRENCY}?\s*([+-]?\s*\d[\d.,' ]*)\s*{_CURRENCY}?\s*$"
_PERCENT_RE = r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%\s*$"
_RE2_SPECIAL = set(r".^$*+?()[]{}|\-/")


def re2_escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in _RE2_SPECIAL else ch for ch in text)


class StandardizeCounts:
    """Changed cells per column and step, summed over batches."""

    def __init__(self) -> None:
        self.cells: dict[str, dict[str, int]] = defaultdict(dict)

    def add(self, column: str, step: str, n: int) -> None:
        self.cells[column][step] = self.cells[column].get(step, 0) + n

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {c: dict(steps) for c, steps in sorted(self.cells.items())}

    def total(self) -> int:
        return sum(n for steps in self.cells.values() for n in steps.values())


def _changed(before: pa.Array, after: pa.Array) -> int:
    differs = pc.not_equal(before, after)
    nullness = pc.not_equal(pc.is_valid(before), pc.is_valid(after))
    return int(pc.sum(pc.fill_null(differs, nullness)).as_py() or 0)


def _regex_replace(values: pa.Array, pattern: str, replacement: str, needs: str | None = None) -> pa.Array:
    """Replace on the values that match ``needs`` (default: ``pattern``) only.

    Most values need no change: a match-only scan (RE2's fast DFA) picks the few that do, and only
    those go through the slower capturing replace (3-5x faster on clean columns).
    """
    mask = pc.fill_null(pc.match_substring_regex(values, needs or pattern), False)
    if not pc.any(mask).as_py():
        return values
    replaced = pc.replace_substring_regex(pc.filter(values, mask), pattern=pattern, replacement=replacement)
    return pc.replace_with_mask(values, mask, replaced)


def named_first_group(pattern: str) -> str:
    """``pattern`` with its first capture group named ``_v`` (or all of it, when it has none)."""
    if not capture_groups(pattern):
        return f"(?P<_v>{pattern})"
    escaped = in_class = False
    for index, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(" and not pattern.startswith("?", index + 1):
            return f"{pattern[: index + 1]}?P<_v>{pattern[index + 1 :]}"
    return f"(?P<_v>{pattern})"


def _extract(values: pa.Array, pattern: str) -> pa.Array:
    found = pc.struct_field(pc.extract_regex(values, named_first_group(pattern)), "_v")
    return pc.coalesce(found, values)  # a value that does not match is left unchanged


def _strip_units(values: pa.Array, units: list[str]) -> pa.Array:
    alternatives = "|".join(re2_escape(u) for u in sorted(units, key=len, reverse=True))
    pattern = rf"(?i)^\s*({_NUMBER})\s*(?:{alternatives})\s*$"
    return _regex_replace(values, pattern, r"\1")


def _map(values: pa.Array, step: MapStep) -> pa.Array:
    keys, targets = step.pairs()
    index = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), value_set=pa.array(keys, pa.string()))
    mapped = pc.take(pa.array(targets, pa.string()), index)
    return pc.if_else(pc.is_valid(index), mapped, values)


def _number(values: pa.Array, step: NumberStep) -> pa.Array:
    spec = step.number
    out = values
    if spec.thousands is not None:
        out = pc.replace_substring(out, pattern=spec.thousands, replacement="")
    if spec.decimal != ".":
        out = pc.replace_substring(out, pattern=spec.decimal, replacement=".")
    # only values that then read as a plain number change; anything else stays as written
    looks_numeric = pc.fill_null(
        pc.match_substring_regex(pc.utf8_trim_whitespace(out), r"^[+-]?(\d+\.?\d*|\.\d+)$"), False
    )
    return pc.if_else(looks_numeric, out, values)


def _currency(values: pa.Array) -> pa.Array:
    mask = pc.fill_null(pc.match_substring_regex(values, _CURRENCY_RE), False)
    if not pc.any(mask).as_py():
        return values
    stripped = pc.replace_substring_regex(pc.filter(values, mask), pattern=_CURRENCY_RE, replacement=r"\1\2")
    return pc.replace_with_mask(values, mask, pc.utf8_trim_whitespace(stripped))


def _percent(values: pa.Array) -> pa.Array:
    is_percent = pc.fill_null(pc.match_substring_regex(values, _PERCENT_RE), False)
    numbers = pc.cast(
        pc.if_else(is_percent, _regex_replace(values, _PERCENT_RE, r"\1"), NULL_TEXT), pa.float64()
    )
    as_fraction = pc.cast(pc.divide(numbers, 100.0), pa.string())
    return pc.if_else(is_percent, as_fraction, values)


def _boolean(values: pa.Array, step: BooleanStep) -> pa.Array:
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    out = values
    if step.boolean.true:
        out = pc.if_else(
            pc.is_in(lowered, value_set=pa.array([w.lower() for w in step.boolean.true])), "true", out
        )
    if step.boolean.false:
        out = pc.if_else(
            pc.is_in(lowered, value_set=pa.array([w.lower() for w in step.boolean.false])), "false", out
        )
    return out


def apply_step(values: pa.Array, step: object) -> pa.Array:
    if isinstance(step, SimpleStep):
        name = step.step
        if name == "trim":
            return pc.utf8_trim_whitespace(values)
        if name == "collapse_spaces":
            return _regex_replace(values, r"\s+", " ", needs=r"\s\s|[\t\n\r\f\v]")
        if name == "lower":
            return pc.utf8_lower(values)
        if name == "upper":
            return pc.utf8_upper(values)
        if name == "title":
            return pc.utf8_title(values)
        if name == "currency":
            return _currency(values)
        if name == "percent":
            return _percent(values)
        raise ValueError(f"unknown step {name}")
    if isinstance(step, Replace):
        return _regex_replace(values, step.replace.pattern, step.replace.with_)
    if isinstance(step, Extract):
        return _extract(values, step.extract)
    if isinstance(step, StripUnits):
        return _strip_units(values, step.strip_units)
    if isinstance(step, MapStep):
        return _map(values, step)
    if isinstance(step, NumberStep):
        return _number(values, step)
    if isinstance(step, BooleanStep):
        return _boolean(values, step)
    raise TypeError(f"unknown step {step!r}")


def step_labels(column: Column) -> list[str]:
    """One label per step: its name, numbered when a name occurs twice (``replace#2``)."""
    names = [s.name for s in column.standardize]
    labels = []
    for index, name in enumerate(names):
        labels.append(f"{name}#{names[: index + 1].count(name)}" if names.count(name) > 1 else name)
    return labels


def standardize_column(raw: pa.Array, column: Column, counts: StandardizeCounts | None = None) -> pa.Array:
    """The column's raw text after its steps, in order."""
    if not column.standardize:
        return raw
    values = raw if raw.type == pa.string() else pc.cast(raw, pa.string())
    for step, label in zip(column.standardize, step_labels(column), strict=True):
        after = apply_step(values, step)
        if counts is not None:
            counts.add(column.name, label, _changed(values, after))
        values = after
    return values
