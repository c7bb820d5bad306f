"""The chat bot end to end: ``atlas demo``, then ``atlas up`` with ATLAS_BOT_ENABLED (Dagster webserver +
daemon, the API, the bot), conversations through the real websocket connector, and the API's audit trail.

Tests run in file order and share the stack; every conversation is kept as the transcript that
docs/bot.md shows (written to ``<stack home>/transcript.txt``).
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx
import psycopg
import pytest
from psycopg import sql
from websockets.sync.client import ClientConnection, connect

from tests.api.conftest import PASSWORD, TEST_SECRET, free_port, require_redis
from tests.support import postgres as pg
from tests.support.processes import (
    ATLAS,
    PROJECT_DIR,
    AtlasStack,
    stack_env,
    start_atlas_up,
    stop_atlas_up,
    wait_http_ok,
)

pytestmark = pytest.mark.slow
RUN_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass
class BotStack(AtlasStack):
    env: dict[str, str]
    home: Path
    warehouse_url: str
    api_port: int
    bot_port: int
    transcript: list[str] = field(default_factory=list)
    command_timeout: ClassVar[float] = 300

    def audit(self, where: str, *params: str) -> list[tuple[str, ...]]:
        with psycopg.connect(self.warehouse_url) as conn:
            query = sql.SQL(
                "SELECT action, outcome, principal, target FROM atlas_meta.audit WHERE {} ORDER BY audit_id"
            ).format(sql.SQL(where))
            return [tuple(r) for r in conn.execute(query, params).fetchall()]


class Chat:
    """One websocket conversation with the bot, as ``user``."""

    def __init__(self, stack: BotStack, user: str) -> None:
        base = f"127.0.0.1:{stack.bot_port}/connector/websocket"
        socket_id = httpx.post(f"http://{base}", timeout=10).json()["socket"]
        self.ws: ClientConnection = connect(f"ws://{base}/{socket_id}", open_timeout=10)
        self.user, self.transcript = user, stack.transcript

    def say(self, text: str, timeout: float = 60) -> str:
        self.ws.send(json.dumps({"message": text, "user": self.user}))
        self.transcript.append(f"{self.user}> {text}")
        return self.hear(timeout)

    def hear(self, timeout: float) -> str:
        reply = self.ws.recv(timeout=timeout)
        assert isinstance(reply, str)
        self.transcript.append("\n".join(f"atlas> {line}" for line in reply.splitlines()))
        return reply

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def bot_stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotStack]:
    home = tmp_path_factory.mktemp("bot-stack")
    with pg.atlas_databases(pg_server, "bots") as (warehouse, dagster_db):
        api_port, bot_port = free_port(), free_port()
        env = stack_env(home, warehouse, dagster_db, free_port(), api_port, TEST_SECRET)
        env.update(
            {
                "ATLAS_REDIS_URL": require_redis(),
                "ATLAS_BOT_ENABLED": "true",
                "ATLAS_BOT_PORT": str(bot_port),
                "ATLAS_BOT_POLL_SECONDS": "1",
            }
        )
        stack = BotStack(env, home, warehouse, api_port, bot_port)
        # The whole graph on the sample data: minutes on a busy 2-core machine.
        demo = stack.atlas("demo", "--quiet", timeout=900)
        if demo.returncode != 0:
            pytest.fail(f"atlas demo failed: {demo.stderr[-2000:]}")
        up = start_atlas_up(ATLAS, env, home)
        try:
            wait_http_ok(f"{stack.api}/ready", up, 180, home / "up.log")
            wait_http_ok(f"http://127.0.0.1:{bot_port}/", up, 60, home / "up.log")
            for name, role in (("bot_viewer", "viewer"), ("bot_engineer", "data_engineer")):
                made = stack.atlas(
                    "users",
                    "create",
                    "--username",
                    name,
                    "--role",
                    role,
                    "--password-stdin",
                    stdin=PASSWORD + "\n",
                )
                assert made.returncode == 0, made.stderr
            yield stack
        finally:
            (home / "transcript.txt").write_text("\n".join(stack.transcript) + "\n", encoding="utf-8")
            stop_atlas_up(up)


def test_atlas_up_starts_the_bot_on_loopback_with_a_relay_key(bot_stack: BotStack) -> None:
    log = (bot_stack.home / "up.log").read_text(errors="replace")
    assert f"http://127.0.0.1:{bot_stack.bot_port}/connector/websocket" in log
    with psycopg.connect(bot_stack.warehouse_url) as conn:
        keys = conn.execute(
            "SELECT name, created_by FROM atlas_meta.api_keys WHERE chat_relay AND revoked_at IS NULL"
        ).fetchall()
    assert keys == [("atlas-bot-up", "atlas up")]


def test_unlinked_user_is_refused_in_one_line(bot_stack: BotStack) -> None:
    chat = Chat(bot_stack, "mallory")
    try:
        for text in ("status", "help", "materialize gold/daily_revenue", "frobnicate"):
            reply = chat.say(text)
            assert reply.startswith("Sorry, websocket:mallory is not linked to an Atlas user"), reply
            assert "\n" not in reply and "bronze" not in reply and "Commands" not in reply
    finally:
        chat.close()
    failures = bot_stack.audit("action = 'auth.failure' AND detail->>'reason' LIKE %s", "%websocket:mallory%")
    assert len(failures) == 4


def test_linking_needs_an_existing_user_and_a_qualified_identity(bot_stack: BotStack) -> None:
    unknown = bot_stack.atlas("bot", "link", "websocket:nobody", "--username", "no_such_user")
    assert unknown.returncode == 2 and unknown.stderr.startswith(
        "error: no enabled Atlas user 'no_such_user'"
    )
    bare = bot_stack.atlas("bot", "link", "vera", "--username", "bot_viewer")
    assert (
        bare.returncode == 2 and "invalid chat user 'vera'" in bare.stderr and "Traceback" not in bare.stderr
    )
    linked = bot_stack.atlas("bot", "link", "websocket:vera", "--username", "bot_viewer")
    assert linked.returncode == 0 and linked.stdout.strip() == "linked websocket:vera to bot_viewer (viewer)"
    linked = bot_stack.atlas("bot", "link", "websocket:erin", "--username", "bot_engineer")
    assert linked.returncode == 0, linked.stderr
    listing = bot_stack.atlas("bot", "links").stdout.splitlines()
    assert listing == ["websocket:erin\tbot_engineer\tdata_engineer", "websocket:vera\tbot_viewer\tviewer"]


def test_viewer_reads_status_but_cannot_materialize(bot_stack: BotStack) -> None:
    chat = Chat(bot_stack, "vera")
    try:
        helped = chat.say("help")
        assert helped.startswith("Atlas bot (websocket:vera acting as bot_viewer, viewer). Commands:")
        status = chat.say("status")
        lines = status.splitlines()
        assert lines[0] == "Atlas status:"
        for layer in ("bronze", "silver", "gold", "ai_ready"):
            assert any(
                re.match(rf"  {layer}: \d+ assets?, last materialized 20\d\d-", line) for line in lines
            ), status
        assert lines[-1].startswith("Failing checks: ")
        refused = chat.say("materialize gold/daily_revenue")
        assert refused == "Not allowed: role 'viewer' may not do this.", refused
    finally:
        chat.close()
    denied = bot_stack.audit("action = 'chat.request' AND outcome = 'denied'")
    assert denied == [("chat.request", "denied", "user:bot_viewer chat:websocket:vera", "POST /api/v1/runs")]
    assert not bot_stack.audit("action = 'run.launch' AND principal LIKE %s", "%bot_viewer%")


def test_reads_show_runs_quality_lineage_and_ingestions(bot_stack: BotStack) -> None:
    chat = Chat(bot_stack, "vera")
    try:
        runs = chat.say("runs 5")
        assert re.match(r"Last \d+ runs?:", runs) and re.search(rf"  {RUN_ID}  SUCCESS ", runs), runs
        quality = chat.say("quality orders").splitlines()
        assert quality[0] == "Quality of orders:" and len(quality) == 7
        dims = [line.split()[0] for line in quality[1:]]
        assert dims == ["completeness", "validity", "consistency", "accuracy", "timeliness", "uniqueness"]
        lineage = chat.say("lineage orders")
        assert "  assets: bronze/orders, silver/orders" in lineage and "gold/daily_revenue" in lineage
        ingestions = chat.say("ingestions")
        assert ingestions.startswith("Last 3 files:") and re.search(
            r"orders/orders\.csv\s+accepted \(\d+ rows", ingestions
        )
        assert (
            chat.say("quality no_such_dataset")
            == "Atlas refused that (404): unknown dataset 'no_such_dataset'"
        )
    finally:
        chat.close()


def test_bad_commands_get_a_short_help_line(bot_stack: BotStack) -> None:
    chat = Chat(bot_stack, "vera")
    try:
        assert chat.say("materialize") == "Usage: materialize <asset key> [partition]  (try 'help')"
        assert chat.say("cancel not-a-run-id") == "Usage: cancel <run id>  (try 'help')"
        assert chat.say("frobnicate the pipeline") == "I don't know 'frobnicate the pipeline'. Try 'help'."
        assert chat.say("backfill gold/daily_revenue 2026-13-01 2026-13-02").startswith("Not allowed:")
    finally:
        chat.close()


def test_engineer_materializes_daily_revenue_and_hears_success(bot_stack: BotStack) -> None:
    chat = Chat(bot_stack, "erin")
    try:
        started = chat.say("materialize gold/daily_revenue")
        match = re.fullmatch(
            rf"Started run ({RUN_ID}) for gold/daily_revenue\. I'll post here when it ends\.", started
        )
        assert match, started
        run_id = match.group(1)
        ended = chat.hear(timeout=600)
        assert ended == f"Run {run_id} ended: SUCCESS"
    finally:
        chat.close()
    launched = bot_stack.audit("action = 'run.launch' AND target = %s", f"run:{run_id}")
    assert launched == [("run.launch", "ok", "user:bot_engineer chat:websocket:erin", f"run:{run_id}")]
    polls = bot_stack.audit("action = 'chat.request' AND target = %s", f"GET /api/v1/runs/{run_id}")
    assert polls and all(p[2] == "user:bot_engineer chat:websocket:erin" for p in polls)


def test_cancel_stops_a_running_run(bot_stack: BotStack) -> None:
    chat = Chat(bot_stack, "erin")
    try:
        started = chat.say("materialize silver/orders")
        match = re.match(rf"Started run ({RUN_ID}) ", started)
        assert match, started
        run_id = match.group(1)
        # Cancel it once it has left the queue: its run worker is starting or running (Dagster cannot
        # terminate a STARTING run; the bot retries until it has started).
        deadline = time.monotonic() + 120
        while not re.search(rf"{run_id}  (STARTING|STARTED) ", chat.say("runs 1")):
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(1.5)
        cancelled = chat.say(f"cancel {run_id}")
        assert re.fullmatch(rf"Cancel requested for run {run_id}: now (CANCELING|CANCELED)\.", cancelled), (
            cancelled
        )
        assert chat.hear(timeout=180) == f"Run {run_id} ended: CANCELED"
        again = chat.say(f"cancel {run_id}")
        assert (
            again == f"Atlas refused that (409): run {run_id} is CANCELED; "
            "only a queued or running run can be cancelled"
        )
    finally:
        chat.close()
    cancels = bot_stack.audit("action = 'run.cancel' AND target = %s", f"run:{run_id}")
    # The bot waits out STARTING with reads; a refusal right after STARTED would show as an 'error' row.
    assert cancels[-1] == ("run.cancel", "ok", "user:bot_engineer chat:websocket:erin", f"run:{run_id}")
    assert len(cancels) <= 3 and {c[2] for c in cancels} == {"user:bot_engineer chat:websocket:erin"}


def test_engineer_backfills_a_range_and_hears_the_outcome(bot_stack: BotStack) -> None:
    chat = Chat(bot_stack, "erin")
    try:
        started = chat.say("backfill silver/orders 2026-10-03 2026-10-04")
        match = re.fullmatch(
            r"Started backfill (\w+) of silver/orders over 2026-10-03\.\.2026-10-04 \(2 partitions\)\. "
            r"I'll post here when it ends\.",
            started,
        )
        assert match, started
        ended = chat.hear(timeout=600)
        assert re.fullmatch(rf"Backfill {match.group(1)} ended: SUCCESS \(runs: {RUN_ID}\)", ended), ended
        assert chat.say("backfill silver/orders 2026-10-09 2026-10-02").startswith(
            "Atlas refused that (422): "
        )
    finally:
        chat.close()
    launched = bot_stack.audit("action = 'backfill.launch' AND target = %s", f"backfill:{match.group(1)}")
    assert [row[2] for row in launched] == ["user:bot_engineer chat:websocket:erin"]


def test_unlinking_revokes_access_and_no_reply_carried_raw_pii(bot_stack: BotStack) -> None:
    assert bot_stack.atlas("bot", "unlink", "websocket:vera").returncode == 0
    chat = Chat(bot_stack, "vera")
    try:
        assert chat.say("status").startswith("Sorry, websocket:vera is not linked")
    finally:
        chat.close()
    with open(PROJECT_DIR / "data" / "samples" / "customers.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    secrets = {r[c] for r in rows for c in ("email", "phone", "ssn") if r[c]}
    assert len(secrets) > 100
    said = "\n".join(bot_stack.transcript)
    assert not [s for s in secrets if s in said]
    assert "Traceback" not in said


def test_a_revoked_relay_key_stops_the_bot_for_everyone(bot_stack: BotStack) -> None:
    rotated = bot_stack.atlas("bot", "key", "--name", "atlas-bot-up")
    assert rotated.returncode == 0 and rotated.stdout.strip().startswith("atlas_")
    chat = Chat(bot_stack, "erin")
    try:
        reply = chat.say("status")
    finally:
        chat.close()
    assert reply == (
        "The Atlas API refused my own key, so I can't do anything right now; "
        "an admin can fix it (atlas bot key)."
    )
