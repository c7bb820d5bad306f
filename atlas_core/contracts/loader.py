"""Load contracts from YAML with one-line errors naming the file and the key path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from atlas_core import yaml_text
from atlas_core.contracts.model import Contract
from atlas_core.contracts.standardize import STEP_NAMES
from atlas_core.errors import ContractError

MAX_CONTRACT_BYTES = 1 << 20


def _key_path(loc: tuple[int | str, ...]) -> str:
    # pydantic adds the union member tag (e.g. "file") to the location of discriminated unions; a
    # standardize step's tag is also its only key ("replace.replace.pattern"): said once.
    parts = [str(p) for p in loc]
    parts = [
        p for i, p in enumerate(parts) if not (p in STEP_NAMES and i + 1 < len(parts) and parts[i + 1] == p)
    ]
    parts = [p for i, p in enumerate(parts) if not (p == "simple" and i > 0 and parts[i - 1].isdigit())]
    return ".".join(parts) or "<root>"


_STEP_PREFIX = re.compile(r"^(?:step |standardize\.)(\d+): ")


def _locate(loc: tuple[int | str, ...], message: str) -> tuple[tuple[int | str, ...], str]:
    """Validators of a column name the step they reject in their message: move it into the key path."""
    match = _STEP_PREFIX.match(message)
    if match is None:
        return loc, message
    tail: tuple[int | str, ...] = (
        (int(match.group(1)),) if loc and loc[-1] == "standardize" else ("standardize", int(match.group(1)))
    )
    return (*loc, *tail), message[match.end() :]


def parse_contract(data: Any, origin: str) -> Contract:
    if not isinstance(data, dict):
        raise ContractError(f"{origin}: a contract must be a YAML mapping")
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc, message = _locate(tuple(err["loc"]), err["msg"].removeprefix("Value error, "))
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        # Whole-contract checks (loc == ()) already name their key path in the message.
        where = f"{_key_path(loc)}: " if loc else ""
        raise ContractError(f"{origin}: {where}{message}{more}") from None


def load_contract(path: Path | str) -> Contract:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONTRACT_BYTES:
            raise ContractError(f"{path}: contract larger than {MAX_CONTRACT_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"{path}: no such contract file") from None
    except UnicodeDecodeError:
        raise ContractError(f"{path}: contract is not UTF-8 text") from None
    try:
        data = yaml_text.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ContractError(f"{path}: YAML error{where}: {problem}") from None
    return parse_contract(data, str(path))


def load_contracts(directory: Path | str) -> list[Contract]:
    """Every ``*.yml``/``*.yaml`` contract in ``directory``, sorted by dataset name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ContractError(f"{directory}: contracts directory does not exist")
    contracts: dict[str, tuple[Contract, Path]] = {}
    for path in sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]):
        contract = load_contract(path)
        if contract.dataset in contracts:
            other = contracts[contract.dataset][1]
            raise ContractError(f"{path}: dataset {contract.dataset!r} is already declared in {other.name}")
        contracts[contract.dataset] = (contract, path)
    return [contracts[name][0] for name in sorted(contracts)]


def contract_json_schema() -> str:
    return json.dumps(Contract.model_json_schema(), indent=2, sort_keys=True)
