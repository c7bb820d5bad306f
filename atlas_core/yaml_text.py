"""YAML documents (contracts, models, feature sets, recognizers, bot config) read with libyaml's parser.

PyYAML's pure-Python parser took 0.13 s to read the bundled contracts, models and feature sets, which the
CLI reads twice per run (definitions, lineage catalogue); libyaml's takes a tenth of that and builds the
same values. Its error messages word a few problems differently, with the same line numbers.
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # PyYAML built without libyaml: the same, slower


def safe_load(text: str) -> Any:
    """``yaml.safe_load``: plain YAML only (no Python tags); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_LOADER)  # a safe loader
