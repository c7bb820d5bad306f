"""Start Opsdroid with Atlas's configuration and skills (``atlas bot run``)."""

from __future__ import annotations

import gettext
import warnings

from atlas_bot.config import opsdroid_config
from atlas_core.errors import AtlasError, InputRejected
from atlas_core.settings import AtlasSettings


def run_bot(settings: AtlasSettings) -> None:
    """Serve until SIGINT/SIGTERM. Opsdroid ends the process itself (``sys.exit``) when it stops."""
    if settings.bot_api_key is None or not settings.bot_api_key.get_secret_value():
        raise InputRejected("ATLAS_BOT_API_KEY is not set: create the bot's relay key with `atlas bot key`")
    config = opsdroid_config(settings)
    # Opsdroid's modules call gettext's _() as a builtin; its own CLI installs it the same way.
    gettext.install("opsdroid")
    # Opsdroid 0.31 still imports pkg_resources (hence setuptools 80.x); its deprecation notice is not ours to
    # act on.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    try:
        from opsdroid.core import OpsDroid
        from opsdroid.logging import configure_logging
    except ImportError:
        raise AtlasError("the chat bot needs Opsdroid: pip install -c requirements.lock '.[bot]'") from None

    configure_logging(config["logging"])
    with OpsDroid(config=config) as bot:
        bot.run()
