"""Leave the CLI process without the interpreter's teardown of every module and object.

With Dagster, Presidio and their dependencies loaded, that teardown takes about a second after the
command has finished (measured in docs/BENCHMARKS.md, "Per-run fixed cost"). Everything an exit has
to do still happens: the ``atexit`` handlers (embedded PostgreSQL stop, log and trace flushes,
temporary directories) and flushed output streams.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading


def exit_now(code: int) -> None:
    """Run the exit handlers, flush, and end the process with ``code``.

    Returns without exiting when a non-daemon thread is still running: the interpreter would wait
    for it, so the caller's normal exit must.
    """
    main = threading.main_thread()
    if any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more can be written anyway
            pass
    os._exit(code)
