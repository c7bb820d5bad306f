"""Load on the REST API: ``GET /api/v1/assets`` and ``POST /api/v1/runs`` at 50 concurrent clients,
with a direct Dagster GraphQL launch as the baseline, all measured in one run on loopback.

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--requests 1000] [--launches 300]

What it starts (in a scratch ``ATLAS_HOME``, embedded PostgreSQL unless ``ATLAS_POSTGRES_URL`` is set):
``atlas demo`` (data and materializations), ``dagster-webserver`` alone (no daemon, so launched runs
are queued by the QueuedRunCoordinator and never executed: the launch path is what is measured),
and ``atlas api`` with the trigger rate limit raised out of the way.

Measured:
- ``GET /assets``: latency per request (JWT verification + token-family check in Postgres + cached
  asset list keyed on the materialization watermark) and throughput;
- ``POST /runs`` (one asset): latency and throughput through the API (auth, validation against the
  asset graph, ``DagsterGraphQLClient.submit_job_execution`` in a worker thread, audit row);
- baseline: ``DagsterGraphQLClient.submit_job_execution`` called directly by 50 threads with the same
  selection; the two launch phases alternate (baseline, API, baseline, API) to even out drift.
Results go to ``benchmarks/results/api_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import write_result  # noqa: E402
from tests.support.readiness import wait_until_ready  # noqa: E402

BIN = Path(sys.executable).parent
ASSET = ["gold", "dim_product"]
PASSWORD = "benchmark-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(latencies: list[float], seconds: float, errors: int) -> dict[str, Any]:
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "throughput_per_s": round(len(latencies) / seconds, 1),
        "seconds": round(seconds, 2),
    }


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    problem = wait_until_ready(url, process, timeout)
    if problem is not None:
        raise SystemExit(problem)


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a scripted dagster process must stay stoppable
        os.setpgrp()

    return subprocess.Popen(
        cmd, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, preexec_fn=preexec
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def http_load(
    base: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
    clients: int,
    total: int,
    expect: int,
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            for _ in counter:
                started = time.perf_counter()
                response = await client.request(method, path, json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != expect:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds = time.perf_counter() - began
    return summary(latencies, seconds, errors)


def direct_launches(port: int, clients: int, total: int) -> dict[str, Any]:
    from dagster_graphql import DagsterGraphQLClient

    latencies: list[float] = []
    errors = 0

    def launch(_: int) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            DagsterGraphQLClient("127.0.0.1", port_number=port).submit_job_execution(
                "__ASSET_JOB",
                repository_location_name="atlas",
                repository_name="__repository__",
                asset_selection=[ASSET],
                tags={"atlas/benchmark": "direct"},
            )
        except Exception:
            errors += 1
        latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(launch, range(total)))
    return summary(latencies, time.perf_counter() - began, errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1000, help="GET /assets requests")
    parser.add_argument(
        "--launches", type=int, default=300, help="launches per phase (x2 rounds, API and direct)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch home")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="atlas-bench-api-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "DAGSTER_"))}
    webserver_port, api_port = free_port(), free_port()
    env.update(
        {
            "ATLAS_HOME": str(home),
            "ATLAS_PROJECT_DIR": str(ROOT),
            "ATLAS_WEBSERVER_PORT": str(webserver_port),
            "ATLAS_API_PORT": str(api_port),
            "ATLAS_API_TRIGGER_RATE_LIMIT": "1000000000",
            "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
        }
    )
    if os.environ.get("ATLAS_POSTGRES_URL"):
        env["ATLAS_POSTGRES_URL"] = os.environ["ATLAS_POSTGRES_URL"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        print("atlas demo ...", flush=True)
        subprocess.run(
            [str(BIN / "atlas"), "demo", "--quiet"], env=env, check=True, cwd=home, stdout=subprocess.DEVNULL
        )
        # Resolve the runtime exactly as the CLI does (also keeps the embedded server alive for this process).
        os.environ.update(env)
        from atlas_core.settings import get_settings
        from atlas_resources.bootstrap import prepare_runtime

        settings = get_settings()
        runtime = prepare_runtime(settings)
        dagster_env = {**env, **runtime.environment(settings)}
        processes.append(
            start(
                [
                    str(BIN / "dagster-webserver"),
                    "-w",
                    str(ROOT / "workspace.yaml"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(webserver_port),
                ],
                dagster_env,
                home / "webserver.log",
            )
        )
        wait_http(f"http://127.0.0.1:{webserver_port}/server_info", processes[-1], 120)
        subprocess.run(
            [
                str(BIN / "atlas"),
                "users",
                "create",
                "--username",
                "bench",
                "--role",
                "data_engineer",
                "--password-stdin",
            ],
            input=PASSWORD.encode(),
            env=dagster_env,
            check=True,
            cwd=home,
            stdout=subprocess.DEVNULL,
        )
        processes.append(
            start([str(BIN / "atlas"), "api", "--port", str(api_port)], dagster_env, home / "api.log")
        )
        base = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base}/ready", processes[-1], 60)
        token = httpx.post(
            f"{base}/api/v1/auth/token", json={"username": "bench", "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        print("GET /assets ...", flush=True)
        cold = time.perf_counter()
        assert httpx.get(f"{base}/api/v1/assets", headers=headers, timeout=60).status_code == 200
        cold_ms = (time.perf_counter() - cold) * 1000
        asyncio.run(
            http_load(base, "GET", "/api/v1/assets", headers, None, args.clients, 100, 200)
        )  # warm-up
        assets = asyncio.run(
            http_load(base, "GET", "/api/v1/assets", headers, None, args.clients, args.requests, 200)
        )
        single = asyncio.run(http_load(base, "GET", "/api/v1/assets", headers, None, 1, 200, 200))
        health = asyncio.run(http_load(base, "GET", "/health", {}, None, args.clients, args.requests, 200))

        print("POST /runs vs direct GraphQL launches ...", flush=True)
        body = {"assets": ["/".join(ASSET)]}
        direct_launches(webserver_port, args.clients, 20)  # warm-up both paths
        asyncio.run(http_load(base, "POST", "/api/v1/runs", headers, body, args.clients, 20, 202))
        rounds = []
        for _ in range(2):
            direct = direct_launches(webserver_port, args.clients, args.launches)
            api = asyncio.run(
                http_load(base, "POST", "/api/v1/runs", headers, body, args.clients, args.launches, 202)
            )
            rounds.append({"direct": direct, "api": api})

        def combined(kind: str, key: str) -> float:
            return float(statistics.fmean(r[kind][key] for r in rounds))

        result = {
            "benchmark": "api_load",
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "clients": args.clients,
            "get_assets": {**assets, "cold_first_request_ms": round(cold_ms, 1)},
            "get_assets_one_client": single,
            "get_health_reference": health,
            "post_runs": {
                "rounds": rounds,
                "api_p50_ms": round(combined("api", "p50_ms"), 2),
                "api_p99_ms": round(combined("api", "p99_ms"), 2),
                "direct_p50_ms": round(combined("direct", "p50_ms"), 2),
                "direct_p99_ms": round(combined("direct", "p99_ms"), 2),
                "ratio_p50_api_to_direct": round(combined("api", "p50_ms") / combined("direct", "p50_ms"), 3),
                "ratio_p99_api_to_direct": round(combined("api", "p99_ms") / combined("direct", "p99_ms"), 3),
                "ratio_throughput_api_to_direct": round(
                    combined("api", "throughput_per_s") / combined("direct", "throughput_per_s"), 3
                ),
            },
            "notes": (
                "Loopback only; 2 shared cores; "
                "dagster-webserver without daemon (launched runs stay queued). "
                "GET /assets served from the in-process cache after the first request (keyed on the "
                "materialization watermark, re-read every 2 s)."
            ),
        }
        out = ROOT / "benchmarks" / "results" / "api_load.json"
        write_result(out, result)
        print(
            json.dumps(
                {
                    k: result[k]
                    for k in ("get_assets", "get_assets_one_client", "get_health_reference", "post_runs")
                },
                indent=2,
            )
        )
        print(f"written to {out}")
    finally:
        for process in reversed(processes):
            stop(process)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
