"""Faults of the processes around a run, on a real stack: the run worker SIGKILLed in the middle of a step,
and the REST API restarted while a run it launched is in flight.

The stack is ``atlas up --no-api`` (Dagster webserver, daemon and code server; queued runs, run monitoring
on) plus ``atlas api`` as a process of its own, as in a deployment that manages API replicas separately.
Runs are launched, inspected and re-executed over HTTP, through the API.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from tests.faults.support import (
    DATASET,
    accounting,
    assert_nothing_lost_nothing_duplicated,
    wait_until,
    write_events,
    write_project,
)
from tests.support import postgres as pg
from tests.support.processes import ATLAS, preexec_new_group, run_atlas, stack_env, stop_group, wait_http_ok
from tests.support.seaweed import free_port

pytestmark = pytest.mark.slow

ROWS = 100_000
SILVER_STEP = f"silver__{DATASET}"
PASSWORD = "fault tolerant passphrase"
RUN_LOGS = """
query FaultRunLogs($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events { __typename ... on MessageEvent { message stepKey } }
    }
  }
}"""
RUN_PARENT = """
query FaultRunParent($runId: ID!) { runOrError(runId: $runId) { ... on Run { parentRunId status } } }"""


@dataclass
class FaultStack:
    env: dict[str, str]
    home: Path
    warehouse_url: str
    graphql: str
    api: str
    expected: dict[str, tuple[int, int]]
    dagster: subprocess.Popen[bytes]
    api_process: subprocess.Popen[bytes]

    def start_api(self) -> None:
        with open(self.home / "api.log", "ab") as log:
            self.api_process = subprocess.Popen(
                [str(ATLAS), "api"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                preexec_fn=preexec_new_group,
            )
        wait_http_ok(f"{self.api}/ready", self.api_process, 90, self.home / "api.log")

    def token(self, http: httpx.Client) -> dict[str, str]:
        response = http.post("/api/v1/auth/token", json={"username": "engineer", "password": PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def events(self, run_id: str) -> list[dict[str, Any]]:
        body = httpx.post(
            self.graphql, json={"query": RUN_LOGS, "variables": {"runId": run_id}}, timeout=30
        ).json()
        return body["data"]["logsForRun"].get("events") or []

    def run_info(self, run_id: str) -> dict[str, Any]:
        body = httpx.post(
            self.graphql, json={"query": RUN_PARENT, "variables": {"runId": run_id}}, timeout=30
        ).json()
        return body["data"]["runOrError"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def fault_stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    home = tmp_path_factory.mktemp("fault-stack")
    with pg.atlas_databases(pg_server, "faults") as (warehouse, dagster_db):
        webserver_port, api_port = free_port(), free_port()
        env = stack_env(home, warehouse, dagster_db, webserver_port, api_port, "fault-secret-" + "y" * 40)
        env.update(write_project(home / "project", "{kind: landing}"))
        expected = write_events(home / "events.csv", ROWS)

        def atlas(*args: str, stdin: str | None = None) -> None:
            done = run_atlas(ATLAS, args, env, home, stdin, 300)
            assert done.returncode == 0, done.stderr[-2000:]

        atlas("ingest", DATASET, str(home / "events.csv"))
        atlas(
            "users",
            "create",
            "--username",
            "engineer",
            "--role",
            "data_engineer",
            "--password-stdin",
            stdin=PASSWORD,
        )
        with open(home / "up.log", "wb") as log:
            dagster = subprocess.Popen(
                [str(ATLAS), "up", "--no-api"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=home,
                preexec_fn=preexec_new_group,
            )
        stack = FaultStack(
            env,
            home,
            warehouse,
            f"http://127.0.0.1:{webserver_port}/graphql",
            f"http://127.0.0.1:{api_port}",
            expected,
            dagster,
            dagster,
        )
        try:
            wait_http_ok(f"http://127.0.0.1:{webserver_port}/server_info", dagster, 120, home / "up.log")
            stack.start_api()
            yield stack
        finally:
            stop_group(stack.api_process, timeout=45)
            stop_group(dagster, timeout=45)


def _status(http: httpx.Client, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    response = http.get(f"/api/v1/runs/{run_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _wait_status(
    http: httpx.Client, headers: dict[str, str], run_id: str, statuses: set[str], timeout: float
) -> dict[str, Any]:
    run: dict[str, Any] = {}

    def reached() -> bool:
        run.update(_status(http, headers, run_id))
        return run["status"] in statuses

    wait_until(reached, timeout=timeout, interval=0.5, what=f"run {run_id} in {sorted(statuses)}")
    return run


def _silver_partitions_whole(url: str, expected: dict[str, tuple[int, int]]) -> None:
    """Whatever silver partitions a reader sees are complete (the killed step published nothing partial)."""
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('atlas_silver.events') IS NOT NULL").fetchone()[0]  # type: ignore[index]
        rows = (
            dict(
                conn.execute(
                    "SELECT _atlas_partition, count(*) FROM atlas_silver.events GROUP BY 1"
                ).fetchall()
            )
            if exists
            else {}
        )
    assert all(rows[key] == expected[key][0] for key in rows), rows


def test_run_worker_killed_mid_step_fails_the_run_and_a_rerun_from_failure_completes(
    fault_stack: FaultStack,
) -> None:
    with httpx.Client(base_url=fault_stack.api, timeout=60) as http:
        headers = fault_stack.token(http)
        launched = http.post("/api/v1/runs", json={"assets": [f"silver/{DATASET}"]}, headers=headers)
        assert launched.status_code == 202, launched.text
        run_id = launched.json()["run_id"]

        # The run worker announces its pid; kill it (and the step process it runs) once the silver step
        # started.
        def started() -> int | None:
            events = fault_stack.events(run_id)
            pids = [
                int(e["message"].split("pid: ")[1].rstrip(")."))
                for e in events
                if e["__typename"] == "EngineEvent" and e["message"].startswith("Started process for run")
            ]
            begun = any(
                e["__typename"] == "ExecutionStepStartEvent" and e["stepKey"] == SILVER_STEP for e in events
            )
            return pids[0] if pids and begun else None

        pid = wait_until(started, timeout=180, interval=0.1, what="silver step started")
        worker = psutil.Process(pid)
        victims = [worker, *worker.children(recursive=True)]
        for process in victims:
            process.send_signal(signal.SIGKILL)
        psutil.wait_procs(victims, timeout=10)

        failed = _wait_status(http, headers, run_id, {"FAILURE", "SUCCESS", "CANCELED"}, timeout=120)
        assert failed["status"] == "FAILURE", failed
        events = fault_stack.events(run_id)
        messages = [e.get("message") or "" for e in events]
        assert any(
            f"Run execution process for {run_id} was terminated by signal 9 (SIGKILL)" in m for m in messages
        )
        assert not any(
            e["__typename"] == "ExecutionStepSuccessEvent" and e["stepKey"] == SILVER_STEP for e in events
        )
        _silver_partitions_whole(fault_stack.warehouse_url, fault_stack.expected)

        # Not yet finished runs cannot be re-executed; the failed one is, from failure, over the API.
        rerun = http.post(
            f"/api/v1/runs/{run_id}/reexecute", json={"strategy": "FROM_FAILURE"}, headers=headers
        )
        assert rerun.status_code == 202, rerun.text
        rerun_id = rerun.json()["run_id"]
        busy = http.post(f"/api/v1/runs/{rerun_id}/reexecute", json={}, headers=headers)
        assert busy.status_code in (409, 202), busy.text  # 202 only if the rerun already finished
        done = _wait_status(http, headers, rerun_id, {"FAILURE", "SUCCESS", "CANCELED"}, timeout=300)
        assert done["status"] == "SUCCESS", done
        assert fault_stack.run_info(rerun_id)["parentRunId"] == run_id
        # Dagster itself refuses to re-execute a successful run from failure: a 422 naming why, not a 5xx.
        refused = http.post(f"/api/v1/runs/{rerun_id}/reexecute", json={}, headers=headers)
        assert refused.status_code == 422, refused.text
        assert "not failed or canceled" in refused.json()["detail"], refused.text
        seen = assert_nothing_lost_nothing_duplicated(fault_stack.warehouse_url, fault_stack.expected)
        assert seen.staging_tables == []  # the killed attempt's staging tables were swept by the rerun
        print(
            f"\nrun worker pid {pid} killed with {len(victims) - 1} step process(es); run FAILURE; "
            f"rerun {rerun_id} SUCCESS, silver {seen.silver_rows} rows"
        )


def test_api_restarted_while_its_run_is_in_flight(fault_stack: FaultStack) -> None:
    with httpx.Client(base_url=fault_stack.api, timeout=60) as http:
        headers = fault_stack.token(http)
        launched = http.post("/api/v1/runs", json={"assets": [f"silver/{DATASET}"]}, headers=headers)
        assert launched.status_code == 202, launched.text
        run_id = launched.json()["run_id"]
        _wait_status(http, headers, run_id, {"STARTED"}, timeout=180)

        fault_stack.api_process.send_signal(signal.SIGKILL)
        fault_stack.api_process.wait(timeout=10)
        killed_at = time.time()
        assert fault_stack.run_info(run_id)["status"] in (
            "STARTED",
            "SUCCESS",
        )  # Dagster runs on without the API
        with pytest.raises(httpx.TransportError):
            http.get("/health")

        fault_stack.start_api()
        # Access tokens are stateless JWTs: the one issued before the restart is still good.
        finished = _wait_status(http, headers, run_id, {"FAILURE", "SUCCESS", "CANCELED"}, timeout=300)
        assert finished["status"] == "SUCCESS", finished
        assert finished["run_id"] == run_id and finished["assets"] == [f"silver/{DATASET}"]
        assert datetime.fromisoformat(finished["ended_at"]).timestamp() >= killed_at, (
            "the run had finished before the API was killed"
        )
        listed = http.get("/api/v1/runs", params={"limit": 5}, headers=headers).json()["items"]
        assert run_id in [r["run_id"] for r in listed]
    seen = assert_nothing_lost_nothing_duplicated(fault_stack.warehouse_url, fault_stack.expected)
    assert accounting(fault_stack.warehouse_url).staging_tables == [] and seen.silver_rows > 0
