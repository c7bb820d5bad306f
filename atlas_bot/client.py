"""The bot's only way into Atlas: the REST API (``/api/v1``), with the relay key and the chat identity.

Every request carries ``X-API-Key`` (the bot's chat relay key) and ``X-Atlas-Chat-User`` (who asked);
the API applies the role of the Atlas user that identity is linked to and audits the request.
"""

from __future__ import annotations

from typing import Any

import httpx

CHAT_USER_HEADER = "X-Atlas-Chat-User"


class ApiError(Exception):
    """The API answered with an error status; ``detail`` is its one-line problem detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class ApiUnavailable(Exception):
    """The API could not be reached (connection refused, timeout)."""


class AtlasClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1", timeout=timeout, headers={"X-API-Key": api_key}
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, chat_user: str, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, headers={CHAT_USER_HEADER: chat_user}, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnavailable(type(exc).__name__) from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        return response.json()

    async def me(self, chat_user: str) -> dict[str, Any]:
        return await self._call(chat_user, "GET", "/me")

    async def assets(self, chat_user: str) -> list[dict[str, Any]]:
        return (await self._call(chat_user, "GET", "/assets"))["items"]

    async def runs(self, chat_user: str, limit: int) -> list[dict[str, Any]]:
        return (await self._call(chat_user, "GET", "/runs", params={"limit": limit}))["items"]

    async def run(self, chat_user: str, run_id: str) -> dict[str, Any]:
        return await self._call(chat_user, "GET", f"/runs/{run_id}")

    async def launch(self, chat_user: str, asset: str, partition: str | None) -> str:
        body: dict[str, Any] = {"assets": [asset]}
        if partition is not None:
            body["partition"] = partition
        return str((await self._call(chat_user, "POST", "/runs", json=body))["run_id"])

    async def cancel(self, chat_user: str, run_id: str) -> dict[str, Any]:
        return await self._call(chat_user, "POST", f"/runs/{run_id}/cancel")

    async def backfill(self, chat_user: str, asset: str, start: str, end: str) -> dict[str, Any]:
        body = {"assets": [asset], "partition_from": start, "partition_to": end}
        return await self._call(chat_user, "POST", "/backfills", json=body)

    async def backfill_status(self, chat_user: str, backfill_id: str) -> dict[str, Any]:
        return await self._call(chat_user, "GET", f"/backfills/{backfill_id}")

    async def quality(self, chat_user: str, dataset: str) -> dict[str, Any]:
        return await self._call(chat_user, "GET", f"/quality/{dataset}")

    async def lineage(self, chat_user: str, dataset: str) -> dict[str, Any]:
        return await self._call(chat_user, "GET", f"/lineage/{dataset}")

    async def ingestions(self, chat_user: str, dataset: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if dataset:
            params["dataset"] = dataset
        return (await self._call(chat_user, "GET", "/ingestions", params=params))["items"]


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail).splitlines()[0][:300] if detail else (response.reason_phrase or "error")
