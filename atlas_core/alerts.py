"""Alert payloads: Slack-compatible (``text`` + ``blocks``), built from names and counts only."""

from __future__ import annotations

from collections.abc import Mapping

MAX_TEXT = 2900  # Slack truncates section text at 3000 characters


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def slack_payload(title: str, summary: str, fields: Mapping[str, str], *, link: str | None = None) -> dict:
    """A message any Slack-compatible incoming webhook accepts; ``text`` is the plain fallback."""
    lines = [f"*{k}:* {v}" for k, v in fields.items() if v]
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(summary)}},
    ]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines))}})
    if link:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|open in Dagster>"}]}
        )
    return {"text": _clip(f"{title}: {summary}"), "blocks": blocks}
