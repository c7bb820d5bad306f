"""The bot's pure parts: command matching (the same regex module and flags Opsdroid uses), help lines,
reply formatting, frame parsing and the Opsdroid configuration built from settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import regex

from atlas_bot import replies
from atlas_bot.commands import COMMANDS, help_text, usage_hint
from atlas_bot.config import opsdroid_config
from atlas_bot.websocket import parse_frame
from atlas_core.errors import InputRejected
from atlas_core.settings import get_settings

RUN = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


def matches(text: str) -> dict[str, dict[str, str | None]]:
    found = {}
    for name, command in COMMANDS.items():
        m = regex.fullmatch(command.regex, text, regex.IGNORECASE)
        if m:
            found[name] = m.groupdict()
    return found


@pytest.mark.parametrize(
    "text, name, groups",
    [
        ("help", "help", {}),
        ("  Status ", "status", {}),
        ("atlas: runs 5", "runs", {"limit": "5"}),
        ("materialize gold/daily_revenue", "materialize", {"asset": "gold/daily_revenue", "partition": None}),
        (
            "@atlas materialise silver/orders 2026-10-20",
            "materialize",
            {"asset": "silver/orders", "partition": "2026-10-20"},
        ),
        (
            "backfill silver/orders 2026-10-01 2026-10-07",
            "backfill",
            {"asset": "silver/orders", "start": "2026-10-01", "end": "2026-10-07"},
        ),
        (f"cancel {RUN}", "cancel", {"run_id": RUN}),
        ("quality orders", "quality", {"dataset": "orders"}),
        ("lineage customers", "lineage", {"dataset": "customers"}),
        ("ingestions", "ingestions", {"dataset": None}),
    ],
)
def test_each_command_matches_exactly_one_matcher(
    text: str, name: str, groups: dict[str, str | None]
) -> None:
    assert matches(text) == {name: groups}


@pytest.mark.parametrize(
    "text",
    [
        "materialize",
        "materialize ../../etc",
        "cancel 123",
        "quality ../users",
        "runs 10000",
        "status please",
        "backfill silver/orders 2026-10-01",
        "lineage Orders;DROP",
        "",
    ],
)
def test_malformed_commands_match_nothing(text: str) -> None:
    assert matches(text) == {}


def test_help_lists_every_command_and_unknown_text_gets_one_line() -> None:
    text = help_text("websocket:vera acting as vera, viewer")
    assert text.splitlines()[0] == "Atlas bot (websocket:vera acting as vera, viewer). Commands:"
    assert len(text.splitlines()) == 1 + len(COMMANDS)
    assert usage_hint("atlas: backfill x") == "Usage: backfill <asset key> <from> <to>  (try 'help')"
    assert usage_hint("Materialise") == "Usage: materialize <asset key> [partition]  (try 'help')"
    assert usage_hint("what   is\nthis") == "I don't know 'what is this'. Try 'help'."
    assert usage_hint("   ") == "Try 'help'."
    assert all("\n" not in usage_hint(t) for t in ("a\nb", "cancel\n1"))


def test_frames_are_json_or_plain_text_and_never_fail() -> None:
    assert parse_frame('{"message": "status", "user": "vera"}') == ("status", "vera")
    assert parse_frame("status") == ("status", None)
    assert parse_frame('{"message": 5, "user": ["x"]}') == ("", None)
    assert parse_frame("[1, 2]") == ("[1, 2]", None)
    assert len(parse_frame("x" * 10_000)[0]) == 2000


def test_status_groups_layers_and_names_failing_checks() -> None:
    assets: list[dict[str, Any]] = [
        {
            "key": "bronze/orders",
            "layer": "bronze",
            "check_status": "none",
            "checks": [],
            "last_materialization": {"timestamp": "2026-10-21T10:00:00+00:00"},
        },
        {
            "key": "silver/orders",
            "layer": "silver",
            "check_status": "failed",
            "checks": [{"name": "soda_orders", "status": "FAILED"}, {"name": "rows", "status": "SUCCEEDED"}],
            "last_materialization": {"timestamp": "2026-10-21T11:30:00+00:00"},
        },
        {
            "key": "silver/customers",
            "layer": "silver",
            "check_status": "passed",
            "checks": [],
            "last_materialization": None,
        },
    ]
    assert replies.status(assets).splitlines() == [
        "Atlas status:",
        "  bronze: 1 asset, last materialized 2026-10-21 10:00 UTC, checks ok",
        "  silver: 2 assets, last materialized 2026-10-21 11:30 UTC, "
        "1 never materialized, 1 with failing checks",
        "Failing checks: silver/orders (soda_orders)",
    ]


def test_quality_trend_comes_from_the_api_when_offered_else_from_history() -> None:
    report = {
        "dataset": "orders",
        "dimensions": [
            {"dimension": "validity", "score": 0.98, "threshold": 0.95, "passed": True},
            {"dimension": "timeliness", "score": None},
        ],
        "history": [{"scores": {"validity": 0.98}}, {"scores": {"validity": 0.99}}],
    }
    assert replies.quality(report).splitlines() == [
        "Quality of orders:",
        "  validity      0.980 (threshold 0.95) pass, down 0.010",
        "  timeliness    n/a, no trend yet",
    ]
    offered = {**report, "trend": {"validity": "improving"}}
    assert replies.quality(offered).splitlines()[1].endswith("pass, improving")


def test_backfill_outcome_needs_every_run_to_succeed() -> None:
    runs = [{"run_id": "a", "status": "SUCCESS"}, {"run_id": "b", "status": "FAILURE"}]
    assert replies.backfill_outcome({"status": "COMPLETED", "runs": runs[:1]}) == "SUCCESS"
    assert replies.backfill_outcome({"status": "COMPLETED", "runs": runs}) == "FAILURE"
    assert replies.backfill_outcome({"status": "CANCELED", "runs": []}) == "CANCELED"
    assert replies.backfill_finished({"status": "COMPLETED_SUCCESS", "runs": runs})
    assert not replies.backfill_finished(
        {"status": "COMPLETED", "runs": [{"run_id": "c", "status": "STARTED"}]}
    )
    assert not replies.backfill_finished({"status": "REQUESTED", "runs": []})
    assert (
        replies.backfill_ended({"backfill_id": "x1", "status": "FAILED", "runs": runs})
        == "Backfill x1 ended: FAILURE (runs: a, b)"
    )


def test_ingestion_reasons_are_cut_to_one_short_line() -> None:
    items = [
        {
            "file": "/landing/orders/o.csv",
            "dataset": "orders",
            "status": "rejected",
            "rows_bronze": 0,
            "reason": "o.csv: broken quoting (" + "x" * 300 + ")\nsecond line",
            "ingested_at": "2026-10-21T10:00:00Z",
        }
    ]
    line = replies.ingestions(items).splitlines()[1]
    assert line.startswith(
        "  2026-10-21 10:00 UTC  orders/o.csv  rejected (0 rows) - o.csv: broken quoting ("
    )
    assert len(line) < 200 and "second line" not in line


def test_config_binds_the_websocket_connector_to_loopback_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings(home=tmp_path, bot_port=18123, api_port=18124)
    config = opsdroid_config(settings)
    assert config["web"] == {"host": "127.0.0.1", "port": 18123}
    assert config["connectors"] == {
        "websocket": {"module": "atlas_bot.websocket", "max-connections": 50, "connection-timeout": 60}
    }
    assert config["skills"]["atlas"]["module"] == "atlas_bot.skills"
    assert config["skills"]["atlas"]["api-url"] == "http://127.0.0.1:18124"
    with pytest.raises(InputRejected, match="loopback only"):
        opsdroid_config(get_settings(home=tmp_path, bot_host="0.0.0.0"))

    extra = tmp_path / "connectors.yml"
    extra.write_text(
        "connectors:\n  slack:\n    bot-token: $SLACK_BOT_TOKEN\n    default-room: '#data-ops'\n"
    )
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    config = opsdroid_config(
        get_settings(home=tmp_path, bot_host="10.0.0.5", bot_websocket=False, bot_connectors_file=extra)
    )
    assert config["connectors"] == {"slack": {"bot-token": "xoxb-test", "default-room": "#data-ops"}}
    extra.write_text("connectors:\n  websocket: {}\n")
    with pytest.raises(InputRejected, match="connectors.websocket"):
        opsdroid_config(get_settings(home=tmp_path, bot_connectors_file=extra))
    extra.write_text("connectors: [slack]\n")
    with pytest.raises(InputRejected, match="expected a mapping"):
        opsdroid_config(get_settings(home=tmp_path, bot_connectors_file=extra))
    with pytest.raises(InputRejected, match="no connector"):
        opsdroid_config(get_settings(home=tmp_path, bot_websocket=False))


def test_atlas_bot_imports_only_atlas_core_of_atlas() -> None:
    import ast
    import sys

    allowed = {"atlas_bot", "atlas_core", "opsdroid", "httpx", "yaml", "aiohttp"}
    package = Path(__file__).resolve().parents[2] / "atlas_bot"
    seen = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                seen |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                seen.add(node.module.split(".")[0])
    third_party = {name for name in seen if name not in sys.stdlib_module_names and name != "__future__"}
    assert third_party <= allowed, third_party - allowed
    assert {"atlas_core", "opsdroid", "httpx"} <= third_party
