"""Opsdroid's websocket connector, answering on the socket a message came from.

The stock connector sends a reply to the socket named in the message's ``socket`` field, or else to the
first open socket: with two clients connected, one could read the other's answers. Here a reply (and a
later run notice) goes to the socket the message arrived on. Like the stock connector it trusts the
``user`` its client sends, which is why Atlas binds it to loopback only (``atlas_bot.config``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import aiohttp
import aiohttp.web

# Only the module is imported: Opsdroid instantiates every Connector class found in this module's namespace.
from opsdroid.connector import websocket as stock
from opsdroid.events import Message

_LOGGER = logging.getLogger(__name__)
CONFIG_SCHEMA = {"bot-name": str, "max-connections": int, "connection-timeout": int}
MAX_MESSAGE_CHARS = 2000


def parse_frame(data: str) -> tuple[str, str | None]:
    """(text, user) of one frame: JSON ``{"message": ..., "user": ...}`` or plain text without a user."""
    try:
        payload = json.loads(data)
    except ValueError:
        return data[:MAX_MESSAGE_CHARS], None
    if not isinstance(payload, dict):
        return str(payload)[:MAX_MESSAGE_CHARS], None
    text, user = payload.get("message"), payload.get("user")
    return (text if isinstance(text, str) else "")[:MAX_MESSAGE_CHARS], user if isinstance(
        user, str
    ) else None


class AtlasWebsocket(stock.ConnectorWebsocket):
    """``POST /connector/websocket`` → ``{"socket": id}``; then a websocket at
    ``/connector/websocket/{id}``."""

    async def websocket_handler(self, request: aiohttp.web.Request) -> Any:
        socket = request.match_info.get("socket")
        available = [item for item in self.available_connections if item["id"] == socket]
        if len(available) != 1:
            return aiohttp.web.Response(
                text=json.dumps("Please request a socket first"), headers=stock.HEADERS, status=400
            )
        self.available_connections.remove(available[0])
        if (datetime.now() - available[0]["date"]).total_seconds() > self.connection_timeout:
            return aiohttp.web.Response(
                text=json.dumps("Socket request timed out"), headers=stock.HEADERS, status=408
            )
        websocket = aiohttp.web.WebSocketResponse()
        await websocket.prepare(request)
        self.active_connections[socket] = websocket
        try:
            async for frame in websocket:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    text, user = parse_frame(frame.data)
                    await self.opsdroid.parse(
                        Message(text=text, user=user, user_id=user, target=socket, connector=self)
                    )
                elif frame.type == aiohttp.WSMsgType.ERROR:
                    _LOGGER.warning("websocket %s closed with an error", socket)
        finally:
            self.active_connections.pop(socket, None)
        return websocket
