"""Atlas's Opsdroid skills: one regex-matched method per command, a catch-all with a short help line.

Every command goes through the REST API as the chat identity that sent it (``<connector>:<user id>``);
the API decides what that identity's linked Atlas user may do. Nothing here reaches Dagster or the
warehouse. Errors become one line in the chat, never a traceback (they are logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from opsdroid.events import Message
from opsdroid.matchers import match_catchall, match_regex
from opsdroid.skill import Skill

from atlas_bot import replies
from atlas_bot.client import ApiError, ApiUnavailable, AtlasClient
from atlas_bot.commands import COMMANDS, help_text, usage_hint
from atlas_core.settings import get_settings

_LOGGER = logging.getLogger(__name__)
CANCEL_WAIT_SECONDS = 60.0
T = TypeVar("T")


def command(name: str) -> Callable[[Any], Any]:
    return match_regex(COMMANDS[name].regex, case_sensitive=False, matching_condition="fullmatch")


def chat_identity(message: Message) -> str | None:
    """``<connector name>:<user id>``: the key ``atlas bot link`` stores (ids are stable, names may not
    be)."""
    user = message.user_id or message.user
    if not user or message.connector is None:
        return None
    return f"{message.connector.name}:{user}"


def _group(message: Message, name: str) -> str | None:
    value = message.regex.group(name) if message.regex is not None else None
    return str(value) if value else None


class AtlasSkill(Skill):
    def __init__(self, opsdroid: Any, config: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(opsdroid, config, *args, **kwargs)
        settings = get_settings()
        key = settings.bot_api_key.get_secret_value() if settings.bot_api_key else ""
        self.client = AtlasClient(str(config["api-url"]), key)
        self.poll_seconds = float(config.get("poll-seconds", settings.bot_poll_seconds))
        self.watch_seconds = float(config.get("watch-hours", settings.bot_watch_hours)) * 3600
        self.watches: set[asyncio.Task[None]] = set()

    async def _answer(self, message: Message, action: Callable[[str], Awaitable[str]]) -> None:
        chat_user = chat_identity(message)
        if chat_user is None:
            await message.respond(replies.no_identity())
            return
        try:
            text = await action(chat_user)
        except ApiError as exc:
            if exc.status == 401 and "not linked" in exc.detail:
                text = replies.not_linked(chat_user)
            elif exc.status == 401:
                _LOGGER.error("the API refused the bot's relay key: %s", exc.detail)
                text = replies.bot_key_refused()
            elif exc.status == 403:
                text = replies.denied(exc.detail)
            else:
                text = replies.api_refused(exc.status, exc.detail)
        except ApiUnavailable:
            text = replies.unavailable()
        except Exception:
            _LOGGER.exception("command failed")
            text = "Something went wrong on my side; it is logged. Try 'help'."
        await message.respond(text)

    @command("help")
    async def help(self, message: Message) -> None:
        async def act(chat_user: str) -> str:
            me = await self.client.me(chat_user)
            return help_text(f"{chat_user} acting as {me['name']}, {me['role']}")

        await self._answer(message, act)

    async def _show(
        self, message: Message, fetch: Callable[[str], Awaitable[T]], render: Callable[[T], str]
    ) -> None:
        """Answer with ``render`` of what ``fetch`` reads as the chat identity."""

        async def act(chat_user: str) -> str:
            return render(await fetch(chat_user))

        await self._answer(message, act)

    @command("status")
    async def status(self, message: Message) -> None:
        await self._show(message, self.client.assets, replies.status)

    @command("runs")
    async def runs(self, message: Message) -> None:
        limit = min(max(int(_group(message, "limit") or 10), 1), 50)
        await self._show(message, lambda chat_user: self.client.runs(chat_user, limit), replies.runs)

    @command("materialize")
    async def materialize(self, message: Message) -> None:
        asset, partition = str(_group(message, "asset")), _group(message, "partition")

        async def act(chat_user: str) -> str:
            run_id = await self.client.launch(chat_user, asset, partition)
            self._watch(self._watch_run(message, chat_user, run_id))
            return replies.run_started(run_id, asset, partition)

        await self._answer(message, act)

    @command("backfill")
    async def backfill(self, message: Message) -> None:
        asset, start, end = (
            str(_group(message, "asset")),
            str(_group(message, "start")),
            str(_group(message, "end")),
        )

        async def act(chat_user: str) -> str:
            started = await self.client.backfill(chat_user, asset, start, end)
            self._watch(self._watch_backfill(message, chat_user, started["backfill_id"]))
            return replies.backfill_started(started, asset)

        await self._answer(message, act)

    @command("cancel")
    async def cancel(self, message: Message) -> None:
        run_id = str(_group(message, "run_id"))
        await self._show(message, lambda chat_user: self._cancel(chat_user, run_id), replies.run_cancelled)

    @command("quality")
    async def quality(self, message: Message) -> None:
        dataset = str(_group(message, "dataset"))
        await self._show(message, lambda chat_user: self.client.quality(chat_user, dataset), replies.quality)

    @command("lineage")
    async def lineage(self, message: Message) -> None:
        dataset = str(_group(message, "dataset"))
        await self._show(message, lambda chat_user: self.client.lineage(chat_user, dataset), replies.lineage)

    @command("ingestions")
    async def ingestions(self, message: Message) -> None:
        dataset = _group(message, "dataset")
        await self._show(
            message, lambda chat_user: self.client.ingestions(chat_user, dataset, 10), replies.ingestions
        )

    @match_catchall(messages_only=True)
    async def unknown(self, message: Message) -> None:
        async def act(chat_user: str) -> str:
            await self.client.me(chat_user)  # an unlinked identity gets the refusal, not the help
            return usage_hint(message.text or "")

        await self._answer(message, act)

    async def _cancel(self, chat_user: str, run_id: str) -> dict[str, Any]:
        """Dagster refuses to terminate a run whose worker is still STARTING: wait until it has started
        (reads, not failed cancel attempts, so the audit trail shows one cancel)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_WAIT_SECONDS
        while True:
            run = await self.client.run(chat_user, run_id)
            if run["status"] == "STARTING" and loop.time() < deadline:
                await asyncio.sleep(1.0)
                continue
            try:
                return await self.client.cancel(chat_user, run_id)
            except ApiError as exc:
                # Right after STARTED the worker may not be registered yet: one more round.
                if exc.status != 422 or loop.time() > deadline:
                    raise
            await asyncio.sleep(1.0)

    # -- posting the outcome of what the bot started ------------------------------------------------

    def _watch(self, job: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(job)
        self.watches.add(task)
        task.add_done_callback(self.watches.discard)

    async def _poll(
        self,
        chat_user: str,
        fetch: Callable[[str], Awaitable[dict[str, Any]]],
        done: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any] | None:
        """Poll until ``done``; None when the time runs out or the identity lost its access."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.watch_seconds
        delay = self.poll_seconds
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            # Polls are audited requests too: slow down to at most one every 15 s on long runs.
            delay = min(delay * 1.25, max(self.poll_seconds, 15.0))
            try:
                state = await fetch(chat_user)
            except ApiUnavailable:
                continue
            except ApiError as exc:
                if exc.status in (401, 403):
                    return None
                continue
            if done(state):
                return state
        return None

    async def _watch_run(self, message: Message, chat_user: str, run_id: str) -> None:
        try:
            run = await self._poll(
                chat_user,
                lambda who: self.client.run(who, run_id),
                lambda r: r["status"] in replies.RUN_TERMINAL,
            )
            if run is not None:
                await message.respond(replies.run_ended(run_id, run["status"]))
        except Exception:
            _LOGGER.exception("watching run %s failed", run_id)

    async def _watch_backfill(self, message: Message, chat_user: str, backfill_id: str) -> None:
        try:
            found = await self._poll(
                chat_user,
                lambda who: self.client.backfill_status(who, backfill_id),
                replies.backfill_finished,
            )
            if found is not None:
                await message.respond(replies.backfill_ended(found))
        except Exception:
            _LOGGER.exception("watching backfill %s failed", backfill_id)
