"""The CLI's fast exit: exit handlers run, output is flushed, the exit code is kept; a live thread waits."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from atlas_core.settings import PROJECT_DIR


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_exit_now_runs_handlers_flushes_and_keeps_the_code() -> None:
    done = _python(
        """
        import atexit, sys
        from atlas_cli.fastexit import exit_now
        atexit.register(lambda: print("handler ran", file=sys.stderr))
        sys.stdout.write("buffered, no newline")
        exit_now(3)
        print("not reached")
        """
    )
    assert done.returncode == 3
    assert done.stdout == "buffered, no newline"
    assert done.stderr == "handler ran\n"


def test_exit_now_leaves_a_running_thread_to_the_normal_exit() -> None:
    done = _python(
        """
        import threading, time
        from atlas_cli.fastexit import exit_now
        worker = threading.Thread(target=lambda: (time.sleep(0.5), print("worker finished")))
        worker.start()
        exit_now(4)
        print("normal exit")
        """
    )
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["normal exit", "worker finished"]


def test_the_cli_exit_code_is_kept() -> None:
    failed = subprocess.run(
        [sys.executable, "-m", "atlas_cli.main", "generate", "--dataset", "nope", "--out", "x.csv"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().endswith("choose one of customers, products, orders")
    ok = subprocess.run(
        [sys.executable, "-m", "atlas_cli.main", "--help"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0 and "materialize" in ok.stdout
