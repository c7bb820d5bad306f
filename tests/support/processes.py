"""Child processes that tests start in their own process group (``dagster dev``, ``atlas up``, ``atlas api``)."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_group(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM the process group, SIGKILL it when it has not exited within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
