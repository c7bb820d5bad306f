"""Run the real ``atlas`` CLI in a subprocess and measure it: wall time and peak RSS (``wait4`` rusage)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ATLAS = Path(sys.executable).parent / "atlas"
PEAK_RSS = Path(__file__).resolve().parents[1] / "support" / "peak_rss.py"


@dataclass
class CliRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float
    timed_out: bool

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def run_atlas(args: list[str], env: dict[str, str], cwd: Path, limit: float) -> CliRun:
    """``atlas *args``; killed (process group) after ``limit`` seconds. Peak RSS is the CLI's own, measured
    by ``tests/support/peak_rss.py`` (a ``wait4`` from a tiny parent, so this process's size does not leak
    in)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss,
    ):
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, str(PEAK_RSS), rss.name, str(ATLAS), *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            os.killpg(process.pid, signal.SIGKILL)

        timer = threading.Timer(limit, kill)
        timer.start()
        try:
            _, status, _ = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        text = rss.read()
        peak_kib = json.loads(text)["max_rss_kib"] if text else 0
        return CliRun(
            args,
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            peak_kib / 1024,
            expired.is_set(),
        )
