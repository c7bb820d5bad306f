"""What the bot says: plain text built from API answers (pure functions, no IO).

Replies hold names, statuses, counts and scores only — never row values: everything comes from API
endpoints that already keep raw PII out, and free text (rejection reasons) is cut to one short line.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

LAYERS = ("bronze", "silver", "gold", "ai_ready")
RUN_TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
BACKFILL_TERMINAL = frozenset({"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"})
REASON_CHARS = 100
FAILED_CHECK = ("FAILED", "EXECUTION_FAILED")


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    first = " ".join(str(text).split())
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _when(timestamp: str | None) -> str:
    # ISO timestamps from the API; minutes are enough in a chat line.
    return timestamp[:16].replace("T", " ") + " UTC" if timestamp else "never"


def not_linked(chat_user: str) -> str:
    return (
        f"Sorry, {chat_user} is not linked to an Atlas user, so I can't do anything for you. "
        f"Ask an admin to run: atlas bot link {chat_user} --username <atlas user>"
    )


def bot_key_refused() -> str:
    return (
        "The Atlas API refused my own key, so I can't do anything right now; "
        "an admin can fix it (atlas bot key)."
    )


def no_identity() -> str:
    return "Sorry, your chat client sent no user name, so I can't tell who you are."


def denied(detail: str) -> str:
    return f"Not allowed: {one_line(detail)}."


def api_refused(status: int, detail: str) -> str:
    return f"Atlas refused that ({status}): {one_line(detail, 200)}"


def unavailable() -> str:
    return "The Atlas API is not answering right now; try again in a minute."


def status(assets: list[dict[str, Any]]) -> str:
    by_layer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for asset in assets:
        by_layer[asset.get("layer") or "other"].append(asset)
    lines = ["Atlas status:"]
    failing: list[str] = []
    for layer in [*LAYERS, *sorted(set(by_layer) - set(LAYERS))]:
        members = by_layer.get(layer)
        if not members:
            continue
        stamps = [a["last_materialization"]["timestamp"] for a in members if a.get("last_materialization")]
        never = sum(1 for a in members if not a.get("last_materialization"))
        failed = [a["key"] for a in members if a.get("check_status") == "failed"]
        failing += [
            f"{a['key']} ({', '.join(c['name'] for c in a['checks'] if c.get('status') in FAILED_CHECK)})"
            for a in members
            if a.get("check_status") == "failed"
        ]
        last = _when(max(stamps) if stamps else None)
        line = f"  {layer}: {count(len(members), 'asset')}, last materialized {last}"
        if never:
            line += f", {never} never materialized"
        line += f", {len(failed)} with failing checks" if failed else ", checks ok"
        lines.append(line)
    lines.append("Failing checks: " + ("; ".join(failing) if failing else "none"))
    return "\n".join(lines)


def runs(items: list[dict[str, Any]]) -> str:
    if not items:
        return "No runs yet."
    lines = [f"Last {count(len(items), 'run')}:"]
    for run in items:
        what = ", ".join(run.get("assets") or []) or run.get("job_name", "")
        part = f" [{run['partition']}]" if run.get("partition") else ""
        lines.append(
            f"  {run['run_id']}  {run['status']:<9} "
            f"{one_line(what, 80)}{part}  {_when(run.get('created_at'))}"
        )
    return "\n".join(lines)


def run_started(run_id: str, asset: str, partition: str | None) -> str:
    scope = f" partition {partition}" if partition else ""
    return f"Started run {run_id} for {asset}{scope}. I'll post here when it ends."


def run_ended(run_id: str, run_status: str) -> str:
    return f"Run {run_id} ended: {run_status}"


def run_cancelled(run: dict[str, Any]) -> str:
    return f"Cancel requested for run {run['run_id']}: now {run['status']}."


def backfill_started(backfill: dict[str, Any], asset: str) -> str:
    parts = backfill.get("partitions") or []
    span = f"{parts[0]}..{parts[-1]} ({len(parts)} partitions)" if parts else "no partitions"
    return f"Started backfill {backfill['backfill_id']} of {asset} over {span}. I'll post here when it ends."


def backfill_finished(backfill: dict[str, Any]) -> bool:
    """Dagster's bulk action has ended and so has every run it launched (older statuses say COMPLETED
    once all runs are launched, not finished)."""
    return backfill["status"] in BACKFILL_TERMINAL and all(
        r.get("status") in RUN_TERMINAL for r in backfill.get("runs") or []
    )


def backfill_outcome(backfill: dict[str, Any]) -> str:
    """SUCCESS when the backfill completed and every run it launched succeeded, else FAILURE (or CANCELED)."""
    states = [r.get("status") for r in backfill.get("runs") or []]
    if backfill["status"] == "CANCELED":
        return "CANCELED"
    ok = backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS") and all(s == "SUCCESS" for s in states)
    return "SUCCESS" if ok else "FAILURE"


def backfill_ended(backfill: dict[str, Any]) -> str:
    run_ids = ", ".join(r["run_id"] for r in backfill.get("runs") or []) or "none"
    return f"Backfill {backfill['backfill_id']} ended: {backfill_outcome(backfill)} (runs: {run_ids})"


def _trend(quality: dict[str, Any], dimension: str) -> str:
    """The API's ``trend`` when it offers one, else latest vs previous run in ``history``."""
    offered = quality.get("trend")
    if isinstance(offered, dict) and offered.get(dimension) is not None:
        value = offered[dimension]
        return (
            value if isinstance(value, str) else (f"{value:+.3f}" if isinstance(value, (int, float)) else "")
        )
    scores = [h.get("scores", {}).get(dimension) for h in quality.get("history") or []]
    scores = [s for s in scores if s is not None]
    if len(scores) < 2:
        return "no trend yet"
    delta = scores[0] - scores[1]  # history is newest first
    if abs(delta) < 0.0005:
        return "steady"
    return f"{'up' if delta > 0 else 'down'} {abs(delta):.3f}"


def quality(report: dict[str, Any]) -> str:
    lines = [f"Quality of {report['dataset']}:"]
    for dim in report.get("dimensions") or []:
        score = dim.get("score")
        shown = f"{score:.3f}" if isinstance(score, (int, float)) else "n/a"
        verdict = "" if dim.get("passed") is None else (" pass" if dim["passed"] else " FAIL")
        threshold = (
            f" (threshold {dim['threshold']:.2f})" if isinstance(dim.get("threshold"), (int, float)) else ""
        )
        lines.append(
            f"  {dim['dimension']:<13} {shown}{threshold}{verdict}, {_trend(report, dim['dimension'])}"
        )
    return "\n".join(lines)


def lineage(graph: dict[str, Any]) -> str:
    def names(keys: list[str]) -> str:
        return ", ".join(keys) if keys else "none"

    return "\n".join(
        [
            f"Lineage of {graph['dataset']}:",
            f"  assets: {names(graph.get('assets') or [])}",
            f"  upstream: {names(graph.get('upstream') or [])}",
            f"  downstream: {names(graph.get('downstream') or [])}",
        ]
    )


def ingestions(items: list[dict[str, Any]]) -> str:
    if not items:
        return "No files ingested yet."
    lines = [f"Last {count(len(items), 'file')}:"]
    for item in items:
        name = item["file"].rsplit("/", 1)[-1]
        rows = f"{item['rows_bronze']} rows"
        if item.get("rows_quarantined"):
            rows += f", {item['rows_quarantined']} quarantined"
        why = f" - {one_line(item['reason'])}" if item.get("reason") else ""
        lines.append(
            f"  {_when(item.get('ingested_at'))}  {item['dataset']}/{one_line(name, 80)}  "
            f"{item['status']} ({rows}){why}"
        )
    return "\n".join(lines)
