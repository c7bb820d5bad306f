"""Child processes that tests start in their own process group (``dagster dev``, ``atlas up``, ``atlas
api``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from tests.support.readiness import wait_until_ready

PROJECT_DIR = Path(__file__).resolve().parents[2]
ATLAS = Path(sys.executable).parent / "atlas"


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


def atlas_process_env(home: Path, warehouse_url: str, dagster_url: str, **extra: str) -> dict[str, str]:
    """The environment of an isolated ``atlas`` process: this process's variables without any ATLAS_* or
    DAGSTER_* one, plus its own home, databases and this project; ``extra`` variables on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "DAGSTER_"))}
    env.update(
        {
            "ATLAS_HOME": str(home),
            "ATLAS_POSTGRES_URL": warehouse_url,
            "ATLAS_DAGSTER_POSTGRES_URL": dagster_url,
            "ATLAS_PROJECT_DIR": str(PROJECT_DIR),
            **extra,
        }
    )
    return env


def stack_env(
    home: Path, warehouse_url: str, dagster_url: str, webserver_port: int, api_port: int, jwt_secret: str
) -> dict[str, str]:
    """The environment of an isolated ``atlas up`` / ``atlas api`` stack: :func:`atlas_process_env` with
    its own ports and JWT secret."""
    return atlas_process_env(
        home,
        warehouse_url,
        dagster_url,
        ATLAS_WEBSERVER_PORT=str(webserver_port),
        ATLAS_API_PORT=str(api_port),
        ATLAS_JWT_SECRET=jwt_secret,
        TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="",
    )


def preexec_new_group() -> None:
    """For child processes we stop as a group: default SIGINT (a script may inherit it ignored, and dagster
    dev then cannot be stopped), own process group."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgrp()


def start_atlas_up(atlas: Path, env: dict[str, str], home: Path) -> subprocess.Popen[bytes]:
    """``atlas up`` in a process group of its own, run from ``home``, its output in ``home/up.log``."""
    with open(home / "up.log", "wb") as out:
        return subprocess.Popen(
            [str(atlas), "up"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            preexec_fn=preexec_new_group,
        )


def stop_atlas_up(process: subprocess.Popen[bytes], timeout: float = 45) -> None:
    """SIGTERM to ``atlas up`` (it forwards it to the process groups of dagster dev and the API); SIGKILL to
    its group when it has not exited within ``timeout`` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_http_ok(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail with the tail of ``log`` if ``process`` exits or time runs
    out."""
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


class AtlasStack:
    """What a test stack started with ``atlas up`` offers its tests: the API's base URL and ``atlas``
    commands in the stack's environment. For dataclasses that have ``env``, ``home`` and ``api_port``."""

    env: dict[str, str]
    home: Path
    api_port: int
    command_timeout: ClassVar[float] = 180

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def atlas(
        self, *args: str, stdin: str | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_atlas(ATLAS, args, self.env, self.home, stdin, timeout or self.command_timeout)
