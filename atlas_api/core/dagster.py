"""Dagster, reached only through its GraphQL API.

Reads are GraphQL queries over HTTP; runs are submitted with ``dagster_graphql.DagsterGraphQLClient``;
backfills use the ``launchPartitionBackfill`` mutation (the client has no method for them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from atlas_core.dagster_graphql import BACKFILL, LAUNCH_BACKFILL
from atlas_core.errors import AtlasError, InputRejected, ServiceUnavailable

ASSET_JOB = "__ASSET_JOB"
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})

ASSET_NODES = """
query AtlasAssetNodes {
  assetNodes {
    assetKey { path }
    groupName
    description
    isPartitioned
    kinds
    dependencyKeys { path }
    dependedByKeys { path }
    partitionKeysByDimension { name partitionKeys }
    repository { name location { name } }
    metadataEntries { label ... on TextMetadataEntry { text } }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking executionForLatestMaterialization { status timestamp } } }
    }
  }
}"""

LATEST_INFO = """
query AtlasLatest($keys: [AssetKeyInput!]!) {
  assetsLatestInfo(assetKeys: $keys) {
    assetKey { path }
    latestMaterialization { timestamp runId partition }
    inProgressRunIds
  }
}"""

RUN_FIELDS = """
    runId status jobName creationTime startTime endTime updateTime
    assetSelection { path }
    tags { key value }
"""

RUNS = f"""
query AtlasRuns($limit: Int, $filter: RunsFilter) {{
  runsOrError(limit: $limit, filter: $filter) {{
    __typename
    ... on Runs {{ results {{ {RUN_FIELDS} }} }}
    ... on PythonError {{ message }}
  }}
}}"""

RUN = f"""
query AtlasRun($runId: ID!) {{
  runOrError(runId: $runId) {{
    __typename
    ... on Run {{ {RUN_FIELDS} }}
  }}
}}"""

RUN_EVENTS = """
query AtlasRunEvents($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor
      events {
        __typename
        ... on MessageEvent { timestamp stepKey eventType }
        ... on MaterializationEvent { assetKey { path } partition }
        ... on AssetCheckEvaluationEvent { evaluation { checkName success } }
      }
    }
  }
}"""

REEXECUTE = """
mutation AtlasReexecute($params: ReexecutionParams!) {
  launchRunReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}"""

TERMINATE = """
mutation AtlasTerminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunSuccess { run { runId status } }
    ... on Error { message }
  }
}"""


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class DagsterGateway:
    """Async GraphQL reads plus run and backfill submission; errors become one-line Atlas errors."""

    def __init__(self, graphql_url: str, timeout: float = 30.0, submit_threads: int = 32) -> None:
        self.graphql_url = graphql_url
        # Run submission goes through the synchronous DagsterGraphQLClient: a pool of its own, sized for
        # bursts of triggers (the default executor has only cpu+4 threads and is shared with everything).
        self._submitter = ThreadPoolExecutor(max_workers=submit_threads, thread_name_prefix="dagster-submit")
        parts = urlsplit(graphql_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AtlasError(f"invalid Dagster GraphQL URL {graphql_url!r}")
        self._host = parts.hostname
        self._port = parts.port
        self._https = parts.scheme == "https"
        self._prefix = parts.path.removesuffix("/graphql").rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()
        self._submitter.shutdown(wait=False, cancel_futures=True)

    async def query(
        self, document: str, variables: dict[str, Any] | None = None, *, refusal: str | None = None
    ) -> dict[str, Any]:
        """Run a query or mutation. Dagster answers HTTP 500 when a resolver raised, even one whose error it
        returns as data (``PythonError``). With ``refusal`` (mutations), such an answer is the mutation's
        result or, with only an error, :class:`InputRejected` (422) starting with ``refusal``."""
        try:
            response = await self._http.post(
                self.graphql_url, json={"query": document, "variables": variables or {}}
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                f"Dagster GraphQL at {self.graphql_url} is unreachable ({type(exc).__name__})"
            ) from None
        body = (
            _json_body(response)
            if response.status_code < 400 or (response.status_code == 500 and refusal)
            else {}
        )
        if not body:
            raise ServiceUnavailable(f"Dagster GraphQL answered HTTP {response.status_code}")
        data, errors = body.get("data"), body.get("errors")
        if errors and not (refusal and data):
            message = str(errors[0].get("message") or "error").strip().splitlines()[0][:300]
            if refusal:
                raise InputRejected(f"{refusal}: {message}")
            raise AtlasError(f"Dagster GraphQL error: {message}")
        if not isinstance(data, dict):
            raise AtlasError("Dagster GraphQL answered without data")
        return data

    async def _mutation(
        self, document: str, variables: dict[str, Any], field: str, success: str, refusal: str
    ) -> dict[str, Any]:
        """The ``field`` result of a mutation; any result but ``success`` is InputRejected naming
        ``refusal``."""
        result = (await self.query(document, variables, refusal=refusal))[field]
        if result["__typename"] != success:
            message = str(result.get("message") or result["__typename"]).splitlines()[0]
            raise InputRejected(f"{refusal}: {message[:300]}")
        return result

    async def ping(self) -> str:
        data = await self.query("query { version }")
        return str(data["version"])

    async def asset_nodes(self) -> list[dict[str, Any]]:
        return (await self.query(ASSET_NODES))["assetNodes"]

    async def latest_info(self, paths: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
        keys = [{"path": list(p)} for p in paths]
        return (await self.query(LATEST_INFO, {"keys": keys}))["assetsLatestInfo"]

    async def runs(
        self, limit: int, statuses: Sequence[str] | None = None, tags: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        run_filter: dict[str, Any] = {}
        if statuses:
            run_filter["statuses"] = list(statuses)
        if tags:
            run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        data = (await self.query(RUNS, {"limit": limit, "filter": run_filter or None}))["runsOrError"]
        if data["__typename"] != "Runs":
            raise AtlasError(f"Dagster could not list runs: {data.get('message', data['__typename'])}")
        return data["results"]

    async def run(self, run_id: str) -> dict[str, Any] | None:
        data = (await self.query(RUN, {"runId": run_id}))["runOrError"]
        return data if data["__typename"] == "Run" else None

    async def run_events(self, run_id: str, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        data = (await self.query(RUN_EVENTS, {"runId": run_id, "cursor": cursor}))["logsForRun"]
        if data["__typename"] != "EventConnection":
            return [], cursor
        return data["events"], data["cursor"]

    async def submit_run(
        self,
        paths: Sequence[Sequence[str]],
        tags: dict[str, str],
        location: str,
        repository: str,
        run_config: dict[str, Any] | None = None,
    ) -> str:
        """Launch one run of the implicit asset job through DagsterGraphQLClient (in a worker thread)."""

        def submit() -> str:
            # A client per call: gql's synchronous client cannot be shared between threads.
            client = DagsterGraphQLClient(
                self._host,
                port_number=self._port,
                use_https=self._https,
                path_prefix=self._prefix,
                timeout=60,
            )
            return client.submit_job_execution(
                ASSET_JOB,
                repository_location_name=location,
                repository_name=repository,
                asset_selection=[list(p) for p in paths],
                tags=tags,
                run_config=run_config or {},
            )

        try:
            return await asyncio.get_running_loop().run_in_executor(self._submitter, submit)
        except DagsterGraphQLClientError as exc:
            text = str(exc)
            if "Error when connecting" in text:
                raise ServiceUnavailable(f"Dagster GraphQL at {self.graphql_url} is unreachable") from None
            raise InputRejected(f"Dagster refused the run: {text.splitlines()[0][:300]}") from None

    async def reexecute(self, run_id: str, strategy: str, tags: dict[str, str]) -> str:
        """Launch a re-execution of a finished run (``FROM_FAILURE`` or ``ALL_STEPS``); returns the new run
        id."""
        params = {
            "parentRunId": run_id,
            "strategy": strategy,
            "extraTags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        result = await self._mutation(
            REEXECUTE,
            {"params": params},
            "launchRunReexecution",
            "LaunchRunSuccess",
            "Dagster refused the re-execution",
        )
        return str(result["run"]["runId"])

    async def terminate(self, run_id: str) -> str:
        """Ask Dagster to terminate a queued or running run (its run launcher stops the process); returns
        the run's status right after the request (``CANCELING`` or ``CANCELED``)."""
        result = await self._mutation(
            TERMINATE,
            {"runId": run_id},
            "terminateRun",
            "TerminateRunSuccess",
            "Dagster refused to cancel the run",
        )
        return str(result["run"]["status"])

    async def launch_backfill(
        self, paths: Sequence[Sequence[str]], partitions: Sequence[str], tags: dict[str, str], title: str
    ) -> str:
        params = {
            "assetSelection": [{"path": list(p)} for p in paths],
            "partitionNames": list(partitions),
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
            "title": title,
        }
        result = (await self.query(LAUNCH_BACKFILL, {"params": params}))["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise InputRejected(
                f"Dagster refused the backfill: {str(result.get('message', result['__typename']))[:300]}"
            )
        return str(result["backfillId"])

    async def backfill(self, backfill_id: str) -> dict[str, Any] | None:
        data = (await self.query(BACKFILL, {"id": backfill_id}))["partitionBackfillOrError"]
        return data if data["__typename"] == "PartitionBackfill" else None
