"""``atlas up``: embedded services plus ``dagster dev`` (and the API, and the chat bot when ATLAS_BOT_ENABLED)
in the foreground, stopped cleanly on Ctrl-C/SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from rich.console import Console

from atlas_cli.runtime import boot


def _child_preexec() -> None:
    # dagster dev spawned from a script inherits an ignored SIGINT and can then never be stopped.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgrp()


def extra_processes(host: str) -> list[list[str]]:
    """Commands started beside the Dagster webserver: the REST API (``atlas api``) on ATLAS_API_PORT."""
    from atlas_core.settings import get_settings

    settings = get_settings()
    # The API reaches the webserver over loopback unless it listens on one specific other interface.
    graphql_host = "127.0.0.1" if host in ("0.0.0.0", "::", "127.0.0.1", "localhost") else host
    graphql = f"http://{graphql_host}:{settings.webserver_port}/graphql"
    return [
        [
            sys.executable,
            "-m",
            "atlas_cli.main",
            "api",
            "--host",
            host,
            "--port",
            str(settings.api_port),
            "--dagster-url",
            graphql,
        ]
    ]


def bot_process(postgres_url: str) -> tuple[list[str], dict[str, str]]:
    """``atlas bot run`` and its environment. Without ATLAS_BOT_API_KEY a fresh relay key is issued (the
    previous one of ``atlas up`` is revoked) and handed to the bot through its environment only."""
    from atlas_cli.bot_commands import mint_relay_key

    env = os.environ.copy()
    if not env.get("ATLAS_BOT_API_KEY"):
        env["ATLAS_BOT_API_KEY"] = mint_relay_key(postgres_url, "atlas-bot-up", created_by="atlas up")
    return [sys.executable, "-m", "atlas_cli.main", "bot", "run"], env


def run_up(host: str, with_api: bool = True) -> int:
    atlas = boot()
    console = Console()
    port = atlas.settings.webserver_port
    workspace = atlas.settings.project_dir / "workspace.yaml"
    commands = [
        [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", host, "-p", str(port)],
        *(extra_processes(host) if with_api else []),
    ]
    children = [subprocess.Popen(cmd, env=os.environ.copy(), preexec_fn=_child_preexec) for cmd in commands]
    if with_api and atlas.settings.bot_enabled:
        command, env = bot_process(atlas.runtime.postgres_url)
        children.append(subprocess.Popen(command, env=env, preexec_fn=_child_preexec))
        console.print(
            f"Atlas bot: http://{atlas.settings.bot_host}:{atlas.settings.bot_port}/connector/websocket"
        )
    console.print(f"Dagster webserver: http://{host}:{port}  (Ctrl-C to stop)")
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                console.print(f"{child.args!s} exited ({child.returncode})")
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return exit_code
