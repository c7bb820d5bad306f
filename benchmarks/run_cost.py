"""Per-run fixed cost: one daily partition (~670 rows) through the orders chain, through the CLI.

Loads the bundled samples once into a scratch ``ATLAS_HOME`` (``atlas materialize --select '*'``),
then runs the daily command ``--runs`` times for each source tree given (runs interleaved, so a
busier machine moves every tree alike) and reports the median wall-clock seconds, the median CPU
seconds of the process tree (user + system, from ``resource.getrusage(RUSAGE_CHILDREN)``: less
sensitive to other jobs than wall time) and the run's own seconds as the CLI prints them. The
first run of each tree is a warm-up (compiled bytecode, caches under ``ATLAS_HOME``) and not counted.

    .venv/bin/python benchmarks/run_cost.py [--runs 5] [--tree /path/to/other/checkout ...]

Writes ``benchmarks/results/run_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELECT = 'key:"bronze/orders" or key:"silver/orders" or key:"gold/fact_orders" or key:"gold/daily_revenue"'
PARTITION = "2026-10-15"
ATLAS = [sys.executable, "-m", "atlas_cli.main"]
RUN_SECONDS = re.compile(r"\((\d+) materializations, ([\d.]+)s\)")


def atlas(tree: Path, home: Path, *args: str) -> tuple[float, float, float]:
    """Run ``atlas ARGS`` with ``tree`` first on the path: (wall s, CPU s of the process tree, run s)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "ATLAS_HOME": str(home)}
    env.pop("ATLAS_POSTGRES_URL", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([*ATLAS, *args], env=env, cwd=home, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"atlas {' '.join(args)} failed in {tree}:\n{done.stdout}\n{done.stderr}")
    found = RUN_SECONDS.search(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, float(found.group(2)) if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="counted runs per tree (after one warm-up)")
    parser.add_argument("--tree", type=Path, action="append", default=[], help="another checkout to compare")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "run_cost.json")
    args = parser.parse_args()
    trees = [ROOT, *(t.resolve() for t in args.tree)]
    with tempfile.TemporaryDirectory(prefix="atlas-run-cost-") as tmp:
        home = Path(tmp)
        atlas(ROOT, home, "materialize", "--select", "*")
        samples: dict[Path, list[tuple[float, float, float]]] = {t: [] for t in trees}
        for round_ in range(args.runs + 1):
            for tree in trees:
                measured = atlas(tree, home, "materialize", "--select", SELECT, "--partition", PARTITION)
                if round_:
                    samples[tree].append(measured)
                    print(f"{tree}: wall {measured[0]:.2f}s cpu {measured[1]:.2f}s run {measured[2]:.1f}s")
    results = {
        str(tree): {
            "wall_s": statistics.median(s[0] for s in runs),
            "cpu_s": statistics.median(s[1] for s in runs),
            "run_s": statistics.median(s[2] for s in runs),
            "runs": len(runs),
        }
        for tree, runs in samples.items()
    }
    report = {
        "command": f"atlas materialize --select '{SELECT}' --partition {PARTITION}",
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for tree, r in results.items():
        print(f"{tree}: median wall {r['wall_s']:.2f}s, cpu {r['cpu_s']:.2f}s, run {r['run_s']:.1f}s")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
