"""``atlas up`` for real: the Dagster webserver answers, and SIGTERM stops every process it started."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import postgres as pg
from tests.support.processes import atlas_process_env

pytestmark = pytest.mark.slow

ATLAS = Path(sys.executable).parent / "atlas"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_webserver(process: subprocess.Popen[bytes], url: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            pytest.fail(f"atlas up exited early with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer 200 within {timeout:.0f}s")


def snapshot_children(pid: int, until_present: str, timeout: float) -> list[psutil.Process]:
    """Every descendant of ``pid``, once one whose command line contains ``until_present`` has started."""
    deadline = time.monotonic() + timeout
    while True:
        children = psutil.Process(pid).children(recursive=True)
        cmdlines = []
        for child in children:
            try:
                cmdlines.append(" ".join(child.cmdline()))
            except psutil.NoSuchProcess:
                continue
        if any(until_present in c for c in cmdlines) or time.monotonic() > deadline:
            return children
        time.sleep(0.5)


def alive(processes: list[psutil.Process]) -> list[str]:
    survivors = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                survivors.append(f"{proc.pid}: {' '.join(proc.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return survivors


def test_up_serves_the_webserver_and_stops_everything_on_sigterm(pg_server: str, tmp_path: Path) -> None:
    warehouse = pg.create_database(pg_server, "atlas_up", migrate=False)
    dagster_db = pg.create_database(pg_server, "dagster_up", migrate=False)
    port = free_port()
    env = atlas_process_env(
        tmp_path / "home",
        warehouse,
        dagster_db,
        ATLAS_WEBSERVER_PORT=str(port),
        ATLAS_API_PORT=str(free_port()),
    )
    log = open(tmp_path / "up.log", "wb")
    process = subprocess.Popen(
        [str(ATLAS), "up"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
    )
    children: list[psutil.Process] = []
    try:
        waited = wait_for_webserver(process, f"http://127.0.0.1:{port}/server_info", timeout=90)
        children = snapshot_children(process.pid, until_present="code-server", timeout=30)
        commands = [" ".join(c.cmdline()) for c in children]
        assert any("dagster dev" in c for c in commands), commands
        assert any("dagster_webserver" in c or "dagster-webserver" in c for c in commands), commands
        assert any("code-server" in c or "api grpc" in c for c in commands), commands

        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        process.wait(timeout=40)
        took = time.monotonic() - stopped
        assert process.returncode == 0, (tmp_path / "up.log").read_text(errors="replace")[-2000:]
        deadline = time.monotonic() + 5  # reaping of grandchildren may lag the parent's exit a little
        while alive(children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert alive(children) == [], "processes left behind by atlas up"
        print(
            f"atlas up: webserver ready after {waited:.1f}s, stopped in {took:.1f}s, {len(children)} children"
        )
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for child in children:  # only processes this test started
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        log.close()
        for url in (warehouse, dagster_db):
            pg.drop_database(url)
