"""Atlas's asset graph with no-op bodies, run through the real ``atlas materialize`` code path.

The fixed-cost baseline of ``benchmarks/pipeline.py fixedcost``: the same asset keys, dependencies,
partitions definitions, backfill policies and asset checks as Atlas's real ``Definitions`` (built by
``atlas_assets.definitions.build_definitions`` with the scenario's settings), but every asset body only
returns a ``MaterializeResult`` (and an ``AssetCheckResult(passed=True)`` per selected check), and
every separate check returns ``passed=True``. No body needs a resource.

    python benchmarks/noop_graph.py specs OUT.json
        build the real Definitions in this process and write the graph's specs to OUT.json
    python benchmarks/noop_graph.py materialize --select S [--partition P] (--specs OUT.json | --build)
        ``atlas materialize`` (the Typer app of ``atlas_cli.main``, ``boot``, ``atlas_cli.runs.execute``,
        the Dagster instance of ``ATLAS_HOME``) with the no-op graph in place of the real one;
        ``--specs`` loads the written graph (the process never imports ``atlas_assets``), ``--build``
        builds the real Definitions in-process first and derives the no-op graph from them (so that
        process also pays what building the real Definitions costs: contracts, models, imports).

Run it with the environment of a ``sandbox.Scenario`` (the same settings as the CLI run it is
compared with).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class NodeSpec:
    """What the no-op graph keeps of one asset node or check node."""

    name: str
    specs: list[Any]  # dg.AssetSpec
    check_specs: list[Any]  # dg.AssetCheckSpec
    can_subset: bool
    backfill_policy: Any  # dg.BackfillPolicy | None


@dataclass
class GraphSpec:
    assets: list[NodeSpec]
    checks: list[NodeSpec]


def graph_spec(defs: dg.Definitions) -> GraphSpec:
    assets = [
        NodeSpec(a.node_def.name, list(a.specs), list(a.check_specs), a.can_subset, a.backfill_policy)
        for a in defs.assets or []
        if isinstance(a, dg.AssetsDefinition) and a.is_executable
    ]
    checks = [
        NodeSpec(c.node_def.name, [], list(c.check_specs), True, None)
        for c in defs.asset_checks or []
        if isinstance(c, dg.AssetChecksDefinition)
    ]
    return GraphSpec(assets, checks)


# Dagster's spec classes do not round-trip through pickle (and its serdes is private): the graph is
# written as plain data - keys, dependencies, groups, code versions, daily partitions, check specs
# (name, blocking, extra deps). Descriptions, metadata and automation conditions are left out: they
# play no part in executing a run.
def _pdef_data(pdef: Any) -> dict[str, str] | None:
    if pdef is None:
        return None
    if not isinstance(pdef, dg.TimeWindowPartitionsDefinition) or pdef.cron_schedule != "0 0 * * *":
        raise SystemExit(f"noop_graph: only daily partitions are supported, not {pdef!r}")
    return {
        "start": pdef.start.strftime(pdef.fmt),
        "end": pdef.end.strftime(pdef.fmt) if pdef.end else "",
        "timezone": pdef.timezone or "UTC",
        "fmt": pdef.fmt,
    }


def _pdef(data: dict[str, str] | None) -> dg.PartitionsDefinition | None:
    if data is None:
        return None
    return dg.DailyPartitionsDefinition(
        start_date=data["start"], end_date=data["end"] or None, timezone=data["timezone"], fmt=data["fmt"]
    )


def _check_data(c: Any) -> dict[str, Any]:
    return {
        "name": c.name,
        "asset": c.asset_key.path,
        "blocking": c.blocking,
        "deps": [d.asset_key.path for d in c.additional_deps],
        "partitions": _pdef_data(c.partitions_def),
    }


def _check(data: dict[str, Any], pdefs: dict[str, Any]) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        data["name"],
        asset=dg.AssetKey(data["asset"]),
        blocking=data["blocking"],
        additional_deps=[dg.AssetKey(p) for p in data["deps"]],
        partitions_def=pdefs.get(str(data["partitions"])),
    )


def to_data(spec: GraphSpec) -> dict[str, Any]:
    def node(n: NodeSpec) -> dict[str, Any]:
        return {
            "name": n.name,
            "can_subset": n.can_subset,
            "single_run": n.backfill_policy is not None and n.backfill_policy.max_partitions_per_run is None,
            "specs": [
                {
                    "key": s.key.path,
                    "deps": [d.asset_key.path for d in s.deps],
                    "group": s.group_name,
                    "code_version": s.code_version,
                    "kinds": sorted(s.kinds),
                    "partitions": _pdef_data(s.partitions_def),
                }
                for s in n.specs
            ],
            "checks": [_check_data(c) for c in n.check_specs],
        }

    return {"assets": [node(n) for n in spec.assets], "checks": [node(n) for n in spec.checks]}


def from_data(data: dict[str, Any]) -> GraphSpec:
    pdefs: dict[str, Any] = {}  # one PartitionsDefinition object per distinct definition

    def pdef(d: dict[str, str] | None) -> Any:
        return pdefs.setdefault(str(d), _pdef(d))

    def node(n: dict[str, Any]) -> NodeSpec:
        specs = [
            dg.AssetSpec(
                dg.AssetKey(s["key"]),
                deps=[dg.AssetKey(p) for p in s["deps"]],
                group_name=s["group"],
                code_version=s["code_version"],
                kinds=set(s["kinds"]),
                partitions_def=pdef(s["partitions"]),
            )
            for s in n["specs"]
        ]
        for c in n["checks"]:
            pdef(c["partitions"])
        checks = [_check(c, pdefs) for c in n["checks"]]
        policy = dg.BackfillPolicy.single_run() if n["single_run"] else None
        return NodeSpec(n["name"], specs, checks, n["can_subset"], policy)

    return GraphSpec([node(n) for n in data["assets"]], [node(n) for n in data["checks"]])


def _noop_asset(node: NodeSpec) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=node.name,
        specs=node.specs,
        check_specs=node.check_specs,
        can_subset=node.can_subset,
        backfill_policy=node.backfill_policy,
    )
    def _body(context):  # an annotation would be a string (future import): Dagster rejects it
        for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
            yield dg.MaterializeResult(asset_key=key)
        for check in context.selected_asset_check_keys:
            yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=True)

    return _body


def _noop_check(node: NodeSpec) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(name=node.name, specs=node.check_specs, can_subset=True)
    def _body(context):
        for check in context.selected_asset_check_keys:
            yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=True)

    return _body


def noop_definitions(spec: GraphSpec) -> dg.Definitions:
    return dg.Definitions(
        assets=[_noop_asset(n) for n in spec.assets], asset_checks=[_noop_check(n) for n in spec.checks]
    )


def real_graph_spec() -> GraphSpec:
    from atlas_assets.definitions import build_definitions
    from atlas_cli.runtime import quiet_warnings
    from atlas_core.settings import get_settings

    quiet_warnings()
    return graph_spec(build_definitions(get_settings()))


def materialize(argv: list[str], spec_file: Path | None) -> None:
    """``atlas materialize ARGV`` with the booted Atlas's definitions replaced by the no-op graph."""
    import atlas_cli.runtime as runtime
    from atlas_cli.main import app

    real_boot = runtime.boot

    def boot() -> runtime.Atlas:
        atlas = real_boot()
        if spec_file is not None:
            spec = from_data(json.loads(spec_file.read_text(encoding="utf-8")))
        else:
            spec = real_graph_spec()
        atlas.__dict__["definitions"] = noop_definitions(spec)  # Atlas.definitions is a cached_property
        return atlas

    runtime.boot = boot  # materialize() imports boot from atlas_cli.runtime when it is called
    app(["materialize", *argv])


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["specs"] and len(args) == 2:
        Path(args[1]).write_text(json.dumps(to_data(real_graph_spec())), encoding="utf-8")
        return
    if args[:1] == ["materialize"]:
        rest = args[1:]
        spec_file: Path | None = None
        if "--specs" in rest:
            i = rest.index("--specs")
            spec_file = Path(rest[i + 1])
            rest = rest[:i] + rest[i + 2 :]
        elif "--build" in rest:
            rest.remove("--build")
        else:
            raise SystemExit("materialize needs --specs FILE or --build")
        materialize(rest, spec_file)
        return
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
