"""PII test fixtures: one real Presidio engine (spaCy model loaded once per session) and key rings."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_core.pii.keys import KeyRing, build_keyring

PROJECT_DIR = Path(__file__).resolve().parents[2]
RECOGNIZERS = PROJECT_DIR / "pii" / "recognizers.yml"


@pytest.fixture(scope="session")
def presidio_engine():
    """The same cached engine the pipeline's PiiResource uses (same recognizers file, n_process, batch size)."""
    from atlas_resources.presidio import shared_engine

    return shared_engine(str(RECOGNIZERS.resolve()), 1, 256)


@pytest.fixture
def keys() -> KeyRing:
    return build_keyring("test-secret-0123456789abcdef", "t1", None, environment="development")
