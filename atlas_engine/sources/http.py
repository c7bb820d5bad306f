"""``http`` source: pull JSON records from an API, page by page, into bronze.

Pagination follows a next-page URL found in the body (``next_path``) or increments a page number
(``page_param``, stops at a short or empty page); ``max_pages`` bounds it. Each request has a
timeout and is retried with exponential backoff and jitter (tenacity) on connection errors,
timeouts, 429 and 5xx; other statuses fail at once. Records are written to a CSV file as they
arrive (bounded memory) which then takes the ordinary bronze path (raw copy, sha256 idempotency:
an unchanged API response is a duplicate).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from atlas_core.contracts import Contract
from atlas_core.contracts.sources import HttpSource
from atlas_core.errors import AtlasError, InputRejected, ServiceUnavailable
from atlas_core.logs import get_logger
from atlas_core.transient import TRANSIENT_HTTP_STATUS

log = get_logger("atlas.sources.http")


class TransientHttpError(ServiceUnavailable):
    """A status worth retrying (429, 5xx)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (TransientHttpError, httpx.TransportError))


def dig(body: Any, path: str | None) -> Any:
    """Follow a dotted path (``data.items``) into a JSON document; ``None`` when absent."""
    if not path:
        return body
    current = body
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def _with_params(url: str, params: Mapping[str, object]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class HttpPuller:
    """Fetches the pages of one ``http`` source."""

    def __init__(
        self, source: HttpSource, env: Mapping[str, str] | None = None, *, max_wait: float = 10.0
    ) -> None:
        self.source = source
        environ = os.environ if env is None else env
        self.headers = {"Accept": "application/json", "User-Agent": "atlas-platform"}
        for header, variable in source.headers_env.items():
            value = environ.get(variable)
            if value is None:
                raise AtlasError(f"environment variable {variable} (source.headers_env.{header}) is not set")
            self.headers[header] = value
        self.max_wait = max_wait
        self.requests = 0

    def _get(self, client: httpx.Client, url: str) -> Any:
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.source.max_retries + 1),
            wait=wait_exponential_jitter(initial=0.2, max=self.max_wait),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self.requests += 1
                response = client.get(url)
                if response.status_code in TRANSIENT_HTTP_STATUS:
                    raise TransientHttpError(
                        f"GET {url} answered {response.status_code}", response.status_code
                    )
                if response.status_code >= 400:
                    raise AtlasError(f"GET {url} answered {response.status_code}")
                try:
                    return response.json()
                except ValueError:
                    raise InputRejected(f"GET {url}: the response is not JSON") from None
        raise AssertionError("unreachable")

    def pages(self) -> Iterator[list[dict]]:
        source = self.source
        timeout = httpx.Timeout(source.timeout_seconds)
        url: str | None = source.url
        page = 1
        with httpx.Client(timeout=timeout, headers=self.headers, follow_redirects=True) as client:
            for _ in range(source.max_pages):
                assert url is not None
                request_url = url
                if source.page_param:
                    params: dict[str, object] = {source.page_param: page}
                    if source.page_size_param:
                        params[source.page_size_param] = source.page_size
                    request_url = _with_params(url, params)
                try:
                    body = self._get(client, request_url)
                except httpx.TransportError as exc:
                    raise ServiceUnavailable(f"GET {request_url} failed: {type(exc).__name__}") from exc
                records = dig(body, source.records_path)
                if not isinstance(records, list):
                    raise InputRejected(
                        f"GET {request_url}: no list of records at {source.records_path or 'the top level'!r}"
                    )
                yield [r for r in records if isinstance(r, dict)]
                if source.next_path:
                    nxt = dig(body, source.next_path)
                    if not nxt:
                        return
                    url = urljoin(request_url, str(nxt))
                elif source.page_param:
                    if len(records) < source.page_size or not records:
                        return
                    page += 1
                else:
                    return
            log.warning("http_source_max_pages", url=source.url, max_pages=source.max_pages)


def write_snapshot(
    contract: Contract, source: HttpSource, path: Path, env: Mapping[str, str] | None, max_wait: float
) -> int:
    """Write every page's records to ``path`` as CSV with a header; returns the number of records."""
    puller = HttpPuller(source, env, max_wait=max_wait)
    columns = contract.column_names
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for records in puller.pages():
            for record in records:
                writer.writerow([_cell(record.get(c)) for c in columns])
            rows += len(records)
    log.info("http_source_pulled", dataset=contract.dataset, rows=rows, requests=puller.requests)
    return rows
