"""Waiting for a child process's HTTP endpoint, shared by the tests and the benchmarks (no pytest here)."""

from __future__ import annotations

import subprocess
import time

import httpx


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> str | None:
    """Poll ``url`` until it answers 200. None when it did; otherwise why not (the process exited, or
    ``timeout`` seconds passed), for the caller to fail its own way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"{process.args} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return None
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    return f"{url} not ready within {timeout:.0f}s"
