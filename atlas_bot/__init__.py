"""atlas bot: an Opsdroid chat bot that manages Atlas pipelines through the REST API only (docs/bot.md)."""
