"""Dataset contracts: the single YAML declaration of a dataset, validated by a typed model."""

from atlas_core.contracts.fields import ColumnType, Dimension
from atlas_core.contracts.loader import contract_json_schema, load_contract, load_contracts
from atlas_core.contracts.model import Column, Contract, Partitioning

__all__ = [
    "Column",
    "ColumnType",
    "Contract",
    "Dimension",
    "Partitioning",
    "contract_json_schema",
    "load_contract",
    "load_contracts",
]
