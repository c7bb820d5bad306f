"""Child processes that tests start in their own process group (``dagster dev``, ``atlas up``, ``atlas api``)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.readiness import wait_until_ready

PROJECT_DIR = Path(__file__).resolve().parents[2]


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


def stack_env(
    home: Path, warehouse_url: str, dagster_url: str, webserver_port: int, api_port: int, jwt_secret: str
) -> dict[str, str]:
    """The environment of an isolated ``atlas up`` / ``atlas api`` stack: this process's variables without
    any ATLAS_* or DAGSTER_* one, plus its own home, databases, ports and JWT secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "DAGSTER_"))}
    env.update(
        {
            "ATLAS_HOME": str(home),
            "ATLAS_POSTGRES_URL": warehouse_url,
            "ATLAS_DAGSTER_POSTGRES_URL": dagster_url,
            "ATLAS_PROJECT_DIR": str(PROJECT_DIR),
            "ATLAS_WEBSERVER_PORT": str(webserver_port),
            "ATLAS_API_PORT": str(api_port),
            "ATLAS_JWT_SECRET": jwt_secret,
            "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
        }
    )
    return env


def wait_http_ok(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail with the tail of ``log`` if ``process`` exits or time runs out."""
    problem = wait_until_ready(url, process, timeout)
    if problem is not None:
        pytest.fail(f"{problem}: {log.read_text(errors='replace')[-3000:]}")


def run_atlas(
    atlas: Path, args: tuple[str, ...], env: dict[str, str], home: Path, stdin: str | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    """One ``atlas`` command of a test stack, its output captured as text."""
    return subprocess.run(
        [str(atlas), *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=home
    )
