"""Audit the locked dependencies against a local copy of the PyPA advisory database, offline.

``make audit`` (pip-audit) needs PyPI's per-release JSON API or api.osv.dev. Where neither is
reachable, this matches ``requirements.lock`` against a checkout of
https://github.com/pypa/advisory-database (the OSV records pip-audit's services serve for PyPI):

    git clone --depth 1 https://github.com/pypa/advisory-database /tmp/advisory-database
    .venv/bin/python tools/audit_advisories.py --db /tmp/advisory-database

Prints one line per finding (advisory id, aliases, package, pinned version, fixed versions) and exits
1 when there is any, 0 when there is none, 2 when the database or the lock file cannot be read. The
result is only as new as the checkout: say its date wherever the result is quoted.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


@dataclass(frozen=True)
class Finding:
    advisory: str
    aliases: tuple[str, ...]
    package: str
    version: str
    fixed: tuple[str, ...]

    def line(self) -> str:
        fixed = ", ".join(self.fixed) or "no fixed release"
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.advisory}{aliases}: {self.package}=={self.version}, fixed in {fixed}"


def read_pins(lock: Path) -> dict[str, str]:
    """``name -> version`` of every exact pin in a requirements file, names PEP 503-normalized."""
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _in_ranges(version: Version, ranges: list[dict]) -> bool:
    """OSV ``ECOSYSTEM`` ranges: affected from each ``introduced`` up to the next ``fixed`` (exclusive)
    or ``last_affected`` (inclusive)."""
    for rng in ranges:
        if rng.get("type") != "ECOSYSTEM":
            continue
        affected = False
        for event in sorted(rng.get("events", []), key=_event_order):
            if "introduced" in event:
                affected = affected or event["introduced"] == "0" or version >= Version(event["introduced"])
            elif "fixed" in event and version >= Version(event["fixed"]):
                affected = False
            elif "last_affected" in event and version > Version(event["last_affected"]):
                affected = False
        if affected:
            return True
    return False


def _event_order(event: dict) -> Version:
    value = next(iter(event.values()))
    return Version("0") if value == "0" else Version(value)


def affects(record: dict, package: str, version: str) -> bool:
    for entry in record.get("affected", []):
        if canonicalize_name(entry.get("package", {}).get("name", "")) != package:
            continue
        if version in entry.get("versions", []):
            return True
        try:
            if _in_ranges(Version(version), entry.get("ranges", [])):
                return True
        except InvalidVersion:
            continue
    return False


def fixed_versions(record: dict, package: str) -> tuple[str, ...]:
    return tuple(
        sorted(
            {
                event["fixed"]
                for entry in record.get("affected", [])
                if canonicalize_name(entry.get("package", {}).get("name", "")) == package
                for rng in entry.get("ranges", [])
                if rng.get("type") == "ECOSYSTEM"
                for event in rng.get("events", [])
                if "fixed" in event
            }
        )
    )


def audit(pins: dict[str, str], db: Path) -> list[Finding]:
    findings: list[Finding] = []
    folders: dict[str, Path] = {canonicalize_name(d.name): d for d in (db / "vulns").iterdir() if d.is_dir()}
    for package, version in sorted(pins.items()):
        folder = folders.get(package)
        if folder is None:
            continue
        for path in sorted(folder.glob("*.yaml")):
            record = yaml.safe_load(path.read_text(encoding="utf-8"))
            if record.get("withdrawn") or not affects(record, package, version):
                continue
            findings.append(
                Finding(
                    record["id"],
                    tuple(record.get("aliases") or ()),
                    package,
                    version,
                    fixed_versions(record, package),
                )
            )
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="checkout of pypa/advisory-database")
    parser.add_argument("--lock", type=Path, default=Path("requirements.lock"))
    args = parser.parse_args(argv)
    if not (args.db / "vulns").is_dir():
        print(
            f"error: {args.db}: no vulns/ folder (expected a checkout of pypa/advisory-database)",
            file=sys.stderr,
        )
        return 2
    if not args.lock.is_file():
        print(f"error: {args.lock}: no such lock file", file=sys.stderr)
        return 2
    pins = read_pins(args.lock)
    findings = audit(pins, args.db)
    for finding in findings:
        print(finding.line())
    print(f"{len(pins)} pins audited, {len(findings)} known vulnerabilities")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
