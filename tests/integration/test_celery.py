"""Scale-out: two real ``dagster-celery`` workers on the machine's Redis (127.0.0.1:6379), one consuming the
``pipeline`` queue and one ``pii`` + ``quality``. A backfill of several partitions runs with
``ATLAS_EXECUTOR=celery`` through the real instance (steps pickled to the workers); steps must have run on
both workers and the silver rows must equal those of an in-process run of the same range."""

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import redis

from atlas_cli.backfill import plan_backfill, run_backfill
from atlas_cli.runtime import boot
from atlas_engine.sources.landing import BUCKET
from tests.integration.test_daemon_e2e import CONTRACT
from tests.support.orchestration import events_csv, write_project

pytestmark = pytest.mark.slow
REDIS_DB_BROKER, REDIS_DB_BACKEND = 13, 14


def _redis_or_fail() -> None:
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"the Celery test needs Redis on 127.0.0.1:6379: {exc}")


def _preexec() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgrp()


@pytest.fixture
def workers(atlas_env: dict[str, str], tmp_path: Path) -> Iterator[dict]:
    _redis_or_fail()
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB_BROKER).flushdb()
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB_BACKEND).flushdb()
    broker = f"redis://127.0.0.1:6379/{REDIS_DB_BROKER}"
    backend = f"redis://127.0.0.1:6379/{REDIS_DB_BACKEND}"
    atlas_env.update(write_project(tmp_path, contract=CONTRACT, model=None))
    atlas_env.update(
        {"ATLAS_EXECUTOR": "celery", "ATLAS_CELERY_BROKER_URL": broker, "ATLAS_CELERY_BACKEND_URL": backend}
    )
    atlas = boot()
    # Dagster creates its storage tables on first use: do it here, as `atlas up` does before workers join;
    # two workers starting on an empty database race to create them (DuplicateObject, a worker dies).
    assert atlas.instance.get_runs_count() == 0
    config = tmp_path / "celery.yaml"
    config.write_text(
        f"execution:\n  config:\n    broker: {broker}\n    backend: {backend}\n"
        f"    config_source:\n      task_default_queue: pipeline\n      worker_prefetch_multiplier: 1\n"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    suffix = uuid.uuid4().hex[:6]
    names = {"pipeline": f"atlas-pipeline-{suffix}", "pii": f"atlas-pii-{suffix}"}
    commands = {
        "pipeline": ["-q", "pipeline"],
        "pii": ["-q", "pii,quality"],  # celery -Q takes a comma-separated list (a repeated -Q keeps the last)
    }
    processes = []
    for role, queues in commands.items():
        log = open(tmp_path / f"worker-{role}.log", "wb")
        processes.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "dagster-celery"),
                    "worker",
                    "start",
                    "-A",
                    "dagster_celery.app",
                    "-y",
                    str(config),
                    "-n",
                    names[role],
                    *queues,
                    "--",
                    "--concurrency",
                    "1",
                    "--pool",
                    "solo",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_preexec,
                cwd=tmp_path,
            )
        )
    try:
        app = __import__("celery").Celery(broker=broker, backend=backend)
        deadline = time.monotonic() + 120
        while True:
            replies = app.control.ping(timeout=1.0) or []
            alive = {name.split("@")[0] for reply in replies for name in reply}
            if alive >= set(names.values()):
                break
            for process in processes:
                assert process.poll() is None, (tmp_path / "worker-pipeline.log").read_text()[-2000:]
            assert time.monotonic() < deadline, f"workers not up in 120 s (alive: {alive})"
            time.sleep(1)
        yield {"atlas": atlas, "names": names, "tmp": tmp_path}
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):  # a worker that died must not spare the other
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _silver_digest(url: str) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT event_id, event_ts, kind, amount, email, _atlas_partition FROM atlas_silver.events "
            "ORDER BY event_id"
        ).fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.mark.timeout(420)
def test_backfill_on_two_celery_workers_equals_the_in_process_run(workers: dict) -> None:
    atlas = workers["atlas"]
    atlas.lake.put_bytes(BUCKET, "landing/events/oct.csv", events_csv(range(1, 8), 4).encode())
    plan = plan_backfill(
        atlas.definitions, "key:bronze/events or key:silver/events", "2026-10-02", "2026-10-05"
    )
    outcome = run_backfill(atlas.instance, atlas.definitions, plan, port=None, wait=True)
    assert outcome.status == "COMPLETED_SUCCESS", outcome
    (run,) = outcome.runs
    records = atlas.instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    placed = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        metadata = event.engine_event_data.metadata if event and event.engine_event_data else {}
        if "Celery worker" in metadata:
            placed[event.step_key] = str(metadata["Celery worker"].value).split("@")[0]  # type: ignore[union-attr]
    names = workers["names"]
    assert placed["bronze__events"] == names["pipeline"]
    assert placed["silver__events"] == names["pii"]
    assert set(placed.values()) == set(names.values())  # both workers ran steps

    url = os.environ["ATLAS_POSTGRES_URL"]
    on_workers = _silver_digest(url)
    assert on_workers[0] == 16  # 4 partitions x 4 events

    from atlas_assets.definitions import build_definitions

    local = build_definitions(atlas.settings.model_copy(update={"executor": "default"}))
    in_process = run_backfill(
        atlas.instance,
        local,
        plan_backfill(local, "key:silver/events", "2026-10-02", "2026-10-05"),
        port=None,
        wait=True,
    )
    assert in_process.status == "COMPLETED_SUCCESS"
    assert _silver_digest(url) == on_workers
