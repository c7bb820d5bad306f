"""``WS /runs/{run_id}/events``: a run's status changes and step events until it ends.

Authentication as for HTTP: ``?token=<access token>`` / ``?api_key=<key>``, or a first message
``{"token": ...}`` / ``{"api_key": ...}`` within 10 seconds. Only event types and step keys are sent,
never log messages (they can contain data). Close codes: 4401 unauthenticated, 4404 unknown run.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from atlas_api.api.deps import RUN_ID_PATTERN, Principal, authenticate, record_auth_failure
from atlas_api.core.dagster import TERMINAL_STATUSES
from atlas_api.core.services import Services

router = APIRouter(prefix="/runs", tags=["runs"])
POLL_SECONDS = 0.5
AUTH_TIMEOUT_SECONDS = 10.0
FORWARDED_EVENTS = frozenset(
    {
        "RunEnqueuedEvent",
        "RunDequeuedEvent",
        "RunStartingEvent",
        "RunStartEvent",
        "RunSuccessEvent",
        "RunFailureEvent",
        "RunCancelingEvent",
        "RunCanceledEvent",
        "ExecutionStepStartEvent",
        "ExecutionStepSuccessEvent",
        "ExecutionStepFailureEvent",
        "ExecutionStepSkippedEvent",
        "ExecutionStepUpForRetryEvent",
        "ExecutionStepRestartEvent",
        "MaterializationEvent",
        "AssetCheckEvaluationEvent",
    }
)
_RUN_ID = re.compile(RUN_ID_PATTERN)


def event_message(event: dict[str, Any]) -> dict[str, Any] | None:
    """The forwarded shape of one Dagster event (allow-listed types, no message text), or None."""
    if event.get("__typename") not in FORWARDED_EVENTS:
        return None
    out: dict[str, Any] = {
        "type": "event",
        "event": event.get("eventType") or event["__typename"],
        "step_key": event.get("stepKey"),
        "timestamp": datetime.fromtimestamp(int(event["timestamp"]) / 1000, UTC).isoformat(),
    }
    if event.get("assetKey"):
        out["asset_key"] = "/".join(event["assetKey"]["path"])
        out["partition"] = event.get("partition")
    if event.get("evaluation"):
        out["check"] = event["evaluation"]["checkName"]
        out["success"] = event["evaluation"]["success"]
    return out


async def _credentials(websocket: WebSocket) -> tuple[str | None, str | None]:
    token = websocket.query_params.get("token")
    api_key = websocket.query_params.get("api_key")
    if token or api_key:
        return token, api_key
    try:
        first = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_SECONDS)
        message = json.loads(first)
    except (TimeoutError, ValueError):
        return None, None
    if not isinstance(message, dict):
        return None, None
    return message.get("token"), message.get("api_key")


@router.websocket("/{run_id}/events")
async def run_events(websocket: WebSocket, run_id: str) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    token, api_key = await _credentials(websocket)
    principal = await authenticate(
        services, token if isinstance(token, str) else None, api_key if isinstance(api_key, str) else None
    )
    if not isinstance(principal, Principal):
        await record_auth_failure(services, principal, websocket, target="websocket:run_events")
        await websocket.send_json({"type": "error", "status": 401, "detail": principal})
        await websocket.close(code=4401)
        return
    websocket.scope.setdefault("state", {})["principal"] = principal
    run = await services.dagster.run(run_id) if _RUN_ID.match(run_id) else None
    if run is None:
        await websocket.send_json({"type": "error", "status": 404, "detail": f"unknown run {run_id[:40]}"})
        await websocket.close(code=4404)
        return
    try:
        await _stream(websocket, services, run_id, run["status"])
    except WebSocketDisconnect:
        return


async def _stream(websocket: WebSocket, services: Services, run_id: str, status: str) -> None:
    await websocket.send_json({"type": "status", "run_id": run_id, "status": status})
    cursor: str | None = None
    while True:
        events, cursor = await services.dagster.run_events(run_id, cursor)
        for event in events:
            message = event_message(event)
            if message is not None:
                await websocket.send_json(message)
        run = await services.dagster.run(run_id)
        new_status = run["status"] if run else status
        if new_status != status:
            status = new_status
            await websocket.send_json({"type": "status", "run_id": run_id, "status": status})
        if status in TERMINAL_STATUSES:
            # Drain what was written between the last read and the end, then finish.
            events, cursor = await services.dagster.run_events(run_id, cursor)
            for event in events:
                message = event_message(event)
                if message is not None:
                    await websocket.send_json(message)
            await websocket.send_json({"type": "end", "run_id": run_id, "status": status})
            await websocket.close(code=1000)
            return
        await asyncio.sleep(POLL_SECONDS)
