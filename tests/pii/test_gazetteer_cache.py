"""The free-text gazetteers' snapshot: the installed one is used, a home cache is written and read back,
and a stale, corrupt or unwritable file only costs a rebuild. Each case runs in a fresh interpreter (the
lists are loaded once per process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from atlas_core.pii import gazetteers as gazetteer_lists
from atlas_resources import gazetteer_cache

# Runs warm_gazetteers(cache) with the installed snapshot at INSTALLED; prints how many builds it took.
SCRIPT = """
import json, sys
from pathlib import Path
from atlas_core.pii import gazetteers as lists
from atlas_resources import gazetteer_cache
builds = []
build = lists._build
lists._build = lambda: builds.append(1) or build()
gazetteer_cache.installed_snapshot = lambda: Path(sys.argv[1])
gazetteer_cache.warm_gazetteers(sys.argv[2] if sys.argv[2] != "-" else None)
g = lists.gazetteers()
print(json.dumps({"builds": len(builds), "places": len(g.places), "surnames": len(g.surnames)}))
"""


def _warm(installed: Path, cache: Path | None) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(installed), str(cache) if cache else "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_snapshot_gives_back_the_same_lists() -> None:
    built = gazetteer_lists.gazetteers()
    doc = json.loads(json.dumps(gazetteer_lists.to_snapshot(built)))
    assert gazetteer_lists.from_snapshot(doc) == built
    assert len(built.places) > 50_000 and len(built.surnames) > 50_000
    assert gazetteer_lists.from_snapshot({**doc, "places": [1, 2]}) is None
    assert gazetteer_lists.from_snapshot([]) is None


def test_make_install_wrote_this_environments_snapshot() -> None:
    doc = json.loads(gazetteer_cache.installed_snapshot().read_text(encoding="utf-8"))
    assert doc["fingerprint"] == gazetteer_cache.gazetteer_fingerprint()
    assert gazetteer_lists.from_snapshot(doc["lists"]) == gazetteer_lists.gazetteers()


def test_the_installed_snapshot_spares_the_build() -> None:
    result = _warm(gazetteer_cache.installed_snapshot(), None)
    assert result["builds"] == 0 and result["places"] > 50_000


def test_without_one_the_first_process_builds_and_the_next_reads_the_home_cache(tmp_path: Path) -> None:
    cache = tmp_path / "home" / "cache" / "gazetteers.json"
    first = _warm(tmp_path / "not-installed.json", cache)
    second = _warm(tmp_path / "not-installed.json", cache)
    assert first["builds"] == 1 and second["builds"] == 0
    assert first == {**second, "builds": 1}
    assert (
        json.loads(cache.read_text(encoding="utf-8"))["fingerprint"]
        == gazetteer_cache.gazetteer_fingerprint()
    )


def test_a_stale_or_corrupt_file_is_rebuilt_and_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "gazetteers.json"
    cache.write_text(json.dumps({"fingerprint": "older lists", "lists": {}}), encoding="utf-8")
    assert _warm(tmp_path / "missing.json", cache)["builds"] == 1
    assert (
        json.loads(cache.read_text(encoding="utf-8"))["fingerprint"]
        == gazetteer_cache.gazetteer_fingerprint()
    )
    cache.write_text('{"fingerprint": "', encoding="utf-8")
    assert _warm(tmp_path / "missing.json", cache)["builds"] == 1
    assert _warm(tmp_path / "missing.json", cache)["builds"] == 0


def test_an_unwritable_cache_only_costs_the_build(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x", encoding="utf-8")
    result = _warm(tmp_path / "missing.json", blocker / "gazetteers.json")
    assert result["builds"] == 1 and result["places"] > 50_000
    assert not list(tmp_path.glob(".gazetteers-*"))
