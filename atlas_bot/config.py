"""The Opsdroid configuration of ``atlas bot run``, built from Atlas settings (``ATLAS_BOT_*``).

Connectors: Atlas's websocket connector on ``127.0.0.1:$ATLAS_BOT_PORT`` (unless ``ATLAS_BOT_WEBSOCKET``
is false) plus any Opsdroid connector declared in ``ATLAS_BOT_CONNECTORS_FILE`` (docs/bot.md).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from atlas_core import yaml_text
from atlas_core.errors import InputRejected
from atlas_core.settings import AtlasSettings

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
# The same "$NAME" / "${NAME}" values Opsdroid's own configuration loader expands from the environment.
ENV_VALUE = re.compile(r"^\$\{?([A-Z_][A-Z0-9_]*)\}?$")


def api_url(settings: AtlasSettings) -> str:
    return settings.bot_api_url or f"http://127.0.0.1:{settings.api_port}"


def _expand(value: Any) -> Any:
    if isinstance(value, str) and (match := ENV_VALUE.match(value)):
        return os.environ.get(match.group(1), "")
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def extra_connectors(path: Path) -> dict[str, Any]:
    """The ``connectors:`` mapping of a YAML file (values ``$NAME`` come from the environment)."""
    try:
        document = yaml_text.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputRejected(f"{path}: cannot read the bot connectors file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InputRejected(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    connectors = document.get("connectors") if isinstance(document, dict) else None
    if not isinstance(connectors, dict) or not all(
        isinstance(v, dict) or v is None for v in connectors.values()
    ):
        raise InputRejected(f"{path}: connectors: expected a mapping of connector name to its settings")
    if "websocket" in connectors:
        raise InputRejected(
            f"{path}: connectors.websocket: the websocket connector is Atlas's own; "
            "use ATLAS_BOT_WEBSOCKET and ATLAS_BOT_PORT"
        )
    return {str(name): _expand(conf or {}) for name, conf in connectors.items()}


def opsdroid_config(settings: AtlasSettings) -> dict[str, Any]:
    connectors: dict[str, Any] = {}
    if settings.bot_websocket:
        if settings.bot_host not in LOOPBACK:
            raise InputRejected(
                f"ATLAS_BOT_HOST={settings.bot_host}: the websocket "
                "connector trusts the user name its client "
                "sends, so the bot listens on loopback only while "
                "it is on (ATLAS_BOT_WEBSOCKET=false to turn it off)"
            )
        connectors["websocket"] = {
            "module": "atlas_bot.websocket",
            "max-connections": 50,
            "connection-timeout": 60,
        }
    if settings.bot_connectors_file is not None:
        connectors.update(extra_connectors(settings.bot_connectors_file.expanduser()))
    if not connectors:
        raise InputRejected(
            "the bot has no connector: keep ATLAS_BOT_WEBSOCKET on or set ATLAS_BOT_CONNECTORS_FILE"
        )
    return {
        "logging": {"level": "info", "console": True, "rich": False, "path": False, "timestamp": True},
        "web": {"host": settings.bot_host, "port": settings.bot_port},
        "module-path": str(settings.resolved_home() / "bot"),
        "connectors": connectors,
        "skills": {
            "atlas": {
                "module": "atlas_bot.skills",
                "api-url": api_url(settings),
                "poll-seconds": settings.bot_poll_seconds,
                "watch-hours": settings.bot_watch_hours,
            },
        },
    }
