"""Entry point of the analyzer processes (``atlas_resources.analyzer_process``): load the shared Presidio
engine and the gazetteers once, fork one analyzer per further socket, and answer on each socket.

``python -m atlas_resources.analyzer_child CONFIG_JSON FD [FD ...]``
"""

from __future__ import annotations

import json
import os
import socket
import sys
from io import BufferedIOBase

from atlas_resources.analyzer_process import EngineConfig, refuse, serve
from atlas_resources.presidio import load_engine

# Below the run's own processes: loading takes the CPU they leave.
NICENESS = 10


def _stream(fd: int) -> BufferedIOBase:
    return socket.socket(fileno=fd).makefile("rwb")


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:  # already closed (handed to an analyzer forked before)
        pass


def main() -> None:
    os.nice(NICENESS)
    config = EngineConfig(**json.loads(sys.argv[1]))
    fds = [int(fd) for fd in sys.argv[2:]]
    try:
        engine = load_engine(config)
    except Exception as exc:
        for fd in fds:
            refuse(_stream(fd), exc)
        os._exit(1)
    forked = []
    for fd in fds[1:]:
        try:
            pid = os.fork()  # after the load: every analyzer shares the loaded engine's memory
        except OSError as exc:
            refuse(_stream(fd), exc)
            pid = -1
        if pid == 0:
            for other in fds:
                if other != fd:
                    _close(other)
            serve(engine, _stream(fd))
            os._exit(0)
        forked.append(pid)
        _close(fd)
    serve(engine, _stream(fds[0]))
    for pid in forked:  # they end with their sockets, which the parent closes together
        if pid > 0:
            os.waitpid(pid, 0)
    os._exit(0)  # skip tearing spaCy down: the parent may be exiting


if __name__ == "__main__":
    main()
