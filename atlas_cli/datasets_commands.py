"""``atlas datasets``: versions of AI-ready feature sets (``atlas_meta.dataset_versions``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from atlas_cli.errors import fail, one_line_errors
from atlas_cli.options import JsonOutput

datasets_app = typer.Typer(
    help="AI-ready feature sets: versions, hashes, splits, exports.", no_args_is_help=True
)
console = Console()


def _warehouse_and_specs() -> tuple[object, list[str]]:
    from atlas_cli.runtime import quiet_warnings
    from atlas_core.features.spec import load_feature_sets
    from atlas_core.logs import configure_logging
    from atlas_core.settings import get_settings
    from atlas_resources.bootstrap import prepare_runtime
    from atlas_resources.warehouse import Warehouse

    quiet_warnings()
    settings = get_settings()
    configure_logging(file=settings.resolved_home() / "logs" / "atlas.log")
    names = [s.name for s in load_feature_sets(settings.resolved_models_dir())]
    runtime = prepare_runtime(settings)
    return Warehouse(runtime.postgres_url), names


@datasets_app.command("versions")
@one_line_errors
def versions(
    name: Annotated[str, typer.Argument(help="Feature set name, e.g. customer_features")],
    as_json: JsonOutput = False,
) -> None:
    """List the recorded versions of a feature set, newest first."""
    from atlas_engine.ai_ready import dataset_versions
    from atlas_resources.warehouse import Warehouse

    wh, known = _warehouse_and_specs()
    assert isinstance(wh, Warehouse)
    found = dataset_versions(wh, name)
    if not found and name not in known:
        raise fail(f"unknown feature set {name!r}; defined: {', '.join(known) or 'none'}", 2)
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return
    if not found:
        console.print(f"{name}: no version materialized yet")
        return
    table = Table(
        "version",
        "latest",
        "rows",
        "train/validation/test",
        "runs",
        "last materialized",
        title=f"{name} versions",
    )
    for i, v in enumerate(found):
        counts = v["split_counts"]
        splits = "/".join(str(counts.get(k, 0)) for k in ("train", "validation", "test"))
        table.add_row(
            v["version"],
            "*" if i == 0 else "",
            f"{v['rows']:,}",
            splits,
            str(v["materializations"]),
            str(v["last_materialized_at"])[:19],
        )
    console.print(table)
