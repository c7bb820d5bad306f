"""The bot's commands: one regex each (matched whole, case-insensitive), a usage line and what it does.

An optional leading ``atlas`` / ``@atlas:`` lets people address the bot in a shared channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = r"\s*(?:@?atlas[:,]?\s+)?"
DATASET = r"[a-z_][a-z0-9_]{0,62}"
RUN_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ASSET_KEY = r"[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+)*"
PARTITION = r"[0-9A-Za-z_\-:.]{1,100}"


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    does: str
    pattern: str

    @property
    def regex(self) -> str:
        return PREFIX + self.pattern + r"\s*"


COMMANDS = {
    c.name: c
    for c in [
        Command("help", "help", "this list", r"help"),
        Command("status", "status", "layers, last materializations, failing checks", r"status"),
        Command(
            "runs",
            "runs [N]",
            "the N (default 10) most recent runs and their states",
            r"runs(?:\s+(?P<limit>\d{1,3}))?",
        ),
        Command(
            "materialize",
            "materialize <asset key> [partition]",
            "launch a run; I post its outcome here",
            rf"materiali[sz]e\s+(?P<asset>{ASSET_KEY})(?:\s+(?P<partition>{PARTITION}))?",
        ),
        Command(
            "backfill",
            "backfill <asset key> <from> <to>",
            "backfill a partition range; I post its outcome here",
            rf"backfill\s+(?P<asset>{ASSET_KEY})\s+(?P<start>{PARTITION})\s+(?P<end>{PARTITION})",
        ),
        Command(
            "cancel", "cancel <run id>", "cancel a queued or running run", rf"cancel\s+(?P<run_id>{RUN_ID})"
        ),
        Command(
            "quality",
            "quality <dataset>",
            "the six quality scores and their trend",
            rf"quality\s+(?P<dataset>{DATASET})",
        ),
        Command(
            "lineage",
            "lineage <dataset>",
            "what feeds a dataset and what it feeds",
            rf"lineage\s+(?P<dataset>{DATASET})",
        ),
        Command(
            "ingestions",
            "ingestions [dataset]",
            "recent accepted and rejected files",
            rf"ingestions(?:\s+(?P<dataset>{DATASET}))?",
        ),
    ]
}


def help_text(who: str | None = None) -> str:
    head = f"Atlas bot ({who}). Commands:" if who else "Atlas bot. Commands:"
    width = max(len(c.usage) for c in COMMANDS.values())
    return "\n".join([head, *(f"  {c.usage:<{width}}  {c.does}" for c in COMMANDS.values())])


def usage_hint(text: str) -> str:
    """A short help line for a message no command matched: the usage of the command it started with, if
    any."""
    words = re.sub(r"^\s*@?atlas[:,]?\s+", "", text, flags=re.IGNORECASE).split()
    first = words[0].lower() if words else ""
    if first == "materialise":
        first = "materialize"
    if first in COMMANDS:
        return f"Usage: {COMMANDS[first].usage}  (try 'help')"
    shown = " ".join(text.split())[:40]
    return f"I don't know {shown!r}. Try 'help'." if shown else "Try 'help'."
