"""The shared Presidio engine in child processes, for a CLI run that will analyze free text.

Loading spaCy and Presidio costs ~2.5 s of CPU, nearly all of it holding the GIL: loaded by a thread of
the run's own process, it slowed the steps running meanwhile (bronze) by about as much as it saved
later. One child process loads it instead, at a lower priority, then forks into as many analyzers as
asked (copy-on-write: the engine is loaded once). The run's process cuts each call's distinct texts into
chunks that the analyzers take in turn, and reads back the spans, over one socket per analyzer
(length-prefixed JSON).

The texts stay on the machine and inside the silver boundary: the children log nothing, their output
is discarded, and a failure comes back as the exception's type name only. Every failure (a child died,
could not load, a socket broke) makes the caller analyze in its own process instead, with the same
engine code: the children only ever save time, never change a result.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from io import BufferedIOBase
from typing import Any

from atlas_core.logs import get_logger
from atlas_core.pii.analysis import Span, TextAnalyzer

log = get_logger("atlas.analyzer_process")
_HEADER = struct.Struct(">I")
STOP_SECONDS = 5.0
CHILD_MODULE = "atlas_resources.analyzer_child"
CHUNKS_PER_ANALYZER = 8
MIN_CHUNK_TEXTS = 32


@dataclass(frozen=True)
class EngineConfig:
    """What selects an engine (``atlas_resources.presidio.shared_engine``) and its gazetteers."""

    recognizers_file: str | None
    n_process: int = 1
    batch_size: int = 256
    gazetteer_cache: str | None = None

    @property
    def engine_key(self) -> tuple[str | None, int, int]:
        """What makes two configurations' engines differ (the gazetteer cache only speeds a load up)."""
        return (self.recognizers_file, self.n_process, self.batch_size)


class AnalyzerUnavailable(Exception):
    """The children cannot answer: the caller analyzes in its own process."""


def write_message(stream: BufferedIOBase, message: object) -> None:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def read_message(stream: BufferedIOBase) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return json.loads(body)


class _Channel:
    """The socket to one analyzer; one request at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.stream = sock.makefile("rwb")
        self.ready = False
        self.lock = threading.Lock()

    def analyze(self, texts: Sequence[str], entities: Sequence[str]) -> list[list[Span]]:
        with self.lock:
            if not self.ready:
                _answer(read_message(self.stream))  # "ready", or why the engine could not load
                self.ready = True
            write_message(self.stream, {"texts": list(texts), "entities": list(entities)})
            found = _answer(read_message(self.stream))["spans"]
        return [[Span(int(a), int(b), str(e), float(score)) for a, b, e, score in row] for row in found]

    def close(self) -> None:
        for closable in (self.stream, self.sock):
            try:
                closable.close()
            except OSError:
                pass


def _answer(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict) or "error" in message:
        error = message.get("error") if isinstance(message, dict) else type(message).__name__
        log.warning("analyzer_process_failed", error=error)
        raise AnalyzerUnavailable(str(error))
    return message


class AnalyzerPool:
    """``processes`` analyzers sharing one loaded engine; ``analyze_texts`` as :class:`PresidioEngine`'s,
    or :class:`AnalyzerUnavailable`."""

    def __init__(self, config: EngineConfig, processes: int) -> None:
        self.config = config
        self.owner = os.getpid()
        self.calls = 0  # analyze_texts calls answered
        self._broken = False
        pairs = [socket.socketpair() for _ in range(max(1, processes))]
        theirs = [child.fileno() for _, child in pairs]
        self._proc = subprocess.Popen(
            [sys.executable, "-m", CHILD_MODULE, json.dumps(asdict(config)), *map(str, theirs)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=theirs,
        )
        for _, child in pairs:
            child.close()
        self._channels = [_Channel(ours) for ours, _ in pairs]

    @property
    def pid(self) -> int:
        return self._proc.pid

    def usable(self) -> bool:
        """Started by this process (not inherited through a fork) and not failed."""
        return self.owner == os.getpid() and not self._broken

    def analyze_texts(self, texts: Sequence[str], entities: Sequence[str]) -> list[list[Span]]:
        if not self.usable():
            raise AnalyzerUnavailable("the analyzer processes are not usable")
        distinct = list(dict.fromkeys(texts))
        chunks = _split(distinct, _chunk_count(len(distinct), len(self._channels)))
        try:
            if len(chunks) <= 1:
                found = self._channels[0].analyze(distinct, entities)
            else:
                found = _pull_chunks(self._channels, chunks, entities)
        except AnalyzerUnavailable:  # an analyzer said why (an exception's type)
            self.stop()
            raise
        except (OSError, EOFError, ValueError, KeyError) as exc:
            self.stop()
            raise AnalyzerUnavailable(f"the analyzer processes failed ({type(exc).__name__})") from None
        self.calls += 1
        by_text = dict(zip(distinct, found, strict=True))
        return [list(by_text[t]) for t in texts]

    def stop(self) -> None:
        """Close the sockets (every analyzer exits at the end of its input); kill the loader if it does
        not exit in time."""
        if self.owner != os.getpid():
            return
        self._broken = True
        for channel in self._channels:
            channel.close()
        if self._proc.poll() is None:
            try:
                self._proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


def _chunk_count(texts: int, analyzers: int) -> int:
    """How many pieces a call's distinct texts are cut into: several per analyzer, so that one that
    drew slower texts (digits to check as phone numbers, say) does not finish long after the others,
    but none smaller than ``MIN_CHUNK_TEXTS``."""
    if analyzers <= 1:
        return 1
    return max(1, min(analyzers * CHUNKS_PER_ANALYZER, texts // MIN_CHUNK_TEXTS))


def _pull_chunks(
    channels: Sequence[_Channel], chunks: list[list[str]], entities: Sequence[str]
) -> list[list[Span]]:
    """Every analyzer takes the next chunk nobody has taken until none is left (or one failed: the caller
    analyzes everything itself then); spans in text order."""
    answers: list[list[list[Span]]] = [[] for _ in chunks]
    pending = iter(range(len(chunks)))
    taking = threading.Lock()
    failed = threading.Event()

    def work(channel: _Channel) -> None:
        while not failed.is_set():
            with taking:
                index = next(pending, None)
            if index is None:
                return
            try:
                answers[index] = channel.analyze(chunks[index], entities)
            except BaseException:
                failed.set()
                raise

    used = channels[: len(chunks)]
    with ThreadPoolExecutor(len(used), thread_name_prefix="atlas-analyzer") as pool:
        for done in [pool.submit(work, channel) for channel in used]:
            done.result()  # the first failure, if any, reaches the caller
    return [spans for answer in answers for spans in answer]


def _split(texts: list[str], parts: int) -> list[list[str]]:
    """Consecutive runs of ``texts`` with about the same number of characters each."""
    total = sum(len(t) for t in texts)
    out: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if out[-1] and len(out) < parts and size >= total * len(out) / parts:
            out.append([])
        out[-1].append(text)
        size += len(text)
    return [part for part in out if part]


_running: AnalyzerPool | None = None  # a process keeps one pool
_running_lock = threading.Lock()


def start(config: EngineConfig, processes: int = 1) -> AnalyzerPool:
    """The analyzers for ``config``, started on the first call of this process. A process keeps one pool:
    starting one for another configuration stops the previous one."""
    global _running
    with _running_lock:
        running = started(config)
        if running is None:
            if _running is not None:
                _running.stop()
            running = _running = AnalyzerPool(config, processes)
        return running


def started(config: EngineConfig) -> AnalyzerPool | None:
    """The usable analyzers for ``config`` that this process started, if any."""
    running = _running
    if running is None or running.config.engine_key != config.engine_key or not running.usable():
        return None
    return running


@atexit.register
def _stop_all() -> None:
    if _running is not None:
        _running.stop()


# -- the children's side (their entry point is CHILD_MODULE) ------------------------------------------
def serve(engine: TextAnalyzer, stream: BufferedIOBase) -> None:
    """Say the engine is ready, then answer requests until the end of ``stream``."""
    write_message(stream, {"ready": True})
    while True:
        try:
            request = read_message(stream)
        except (EOFError, OSError):
            return
        try:
            found = engine.analyze_texts(request["texts"], request["entities"])
            reply: dict[str, object] = {
                "spans": [[[s.start, s.end, s.entity, s.score] for s in spans] for spans in found]
            }
        except Exception as exc:
            reply = {"error": type(exc).__name__}
        write_message(stream, reply)


def refuse(stream: BufferedIOBase, exc: BaseException) -> None:
    """Tell the parent why this analyzer cannot serve (the exception's type only)."""
    try:
        write_message(stream, {"error": type(exc).__name__})
    except OSError:
        pass
