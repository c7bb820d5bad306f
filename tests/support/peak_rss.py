"""Run a command and write its peak RSS and CPU time to a file: ``python peak_rss.py OUT CMD ARGS...``.

Linux folds the parent's memory high-water mark into a child's ``ru_maxrss`` when the child is
forked (or vforked) and exec'd, so a large parent (a pytest process late in a session, a benchmark
driver) would inflate every measurement. Spawning from this tiny interpreter keeps that floor at
about 10 MB; the figures written (JSON: ``max_rss_kib``, ``cpu_seconds``) are the command's own
(and those of descendants it waited for).
"""

import json
import os
import sys


def main() -> int:
    out, *command = sys.argv[1:]
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    with open(out, "w", encoding="ascii") as fh:
        json.dump({"max_rss_kib": usage.ru_maxrss, "cpu_seconds": usage.ru_utime + usage.ru_stime}, fh)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
