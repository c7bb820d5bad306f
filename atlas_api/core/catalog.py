"""The asset graph as Dagster's GraphQL API reports it: keys, layers, tables, partitions, edges.

Requests are validated against it before anything is launched: unknown asset keys and partition
keys are rejected with a message naming them (Dagster itself would drop out-of-range keys silently).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from atlas_api.core.problems import unprocessable
from atlas_core.identifiers import is_identifier
from atlas_core.layout import Layer

LAYER_NAMES = tuple(layer.value for layer in Layer)


@dataclass(frozen=True)
class AssetInfo:
    key: str
    path: tuple[str, ...]
    layer: str | None
    table: str | None
    dataset: str
    group: str
    description: str | None
    partition_keys: tuple[str, ...] | None
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    checks: tuple[dict[str, Any], ...]
    location: str
    repository: str
    kinds: tuple[str, ...] = ()

    @property
    def partitioned(self) -> bool:
        return self.partition_keys is not None


def _key(path: Sequence[str]) -> str:
    return "/".join(path)


def _asset_from_node(node: dict[str, Any]) -> AssetInfo:
    path = tuple(node["assetKey"]["path"])
    metadata = {m["label"]: m.get("text") for m in node.get("metadataEntries") or []}
    layer = metadata.get("atlas/layer") or (path[0] if path[0] in LAYER_NAMES else None)
    table = metadata.get("dagster/table_name")
    dims = node.get("partitionKeysByDimension") or []
    keys = tuple(dims[0]["partitionKeys"]) if node.get("isPartitioned") and len(dims) == 1 else None
    checks_or_error = node.get("assetChecksOrError") or {}
    checks = tuple(
        {
            "name": c["name"],
            "blocking": c["blocking"],
            "status": (c.get("executionForLatestMaterialization") or {}).get("status"),
        }
        for c in checks_or_error.get("checks", [])
    )
    return AssetInfo(
        key=_key(path),
        path=path,
        layer=layer if layer in LAYER_NAMES else None,
        table=table,
        dataset=path[-1],
        group=node.get("groupName") or "",
        description=node.get("description"),
        partition_keys=keys,
        upstream=tuple(sorted(_key(k["path"]) for k in node.get("dependencyKeys") or [])),
        downstream=tuple(sorted(_key(k["path"]) for k in node.get("dependedByKeys") or [])),
        checks=checks,
        location=node["repository"]["location"]["name"],
        repository=node["repository"]["name"],
        kinds=tuple(node.get("kinds") or ()),
    )


@dataclass
class Catalog:
    assets: dict[str, AssetInfo] = field(default_factory=dict)

    @classmethod
    def from_nodes(cls, nodes: Iterable[dict[str, Any]]) -> Catalog:
        infos = [_asset_from_node(n) for n in nodes]
        return cls({a.key: a for a in sorted(infos, key=lambda a: a.key)})

    def resolve(self, keys: Sequence[str]) -> list[AssetInfo]:
        """The assets named by slash-joined keys; 422 naming every unknown key."""
        if not keys:
            raise unprocessable("assets: give at least one asset key")
        unknown = [k for k in keys if k not in self.assets]
        if unknown:
            shown = ", ".join(repr(k[:80]) for k in unknown[:5])
            raise unprocessable(
                f"unknown asset key(s): {shown}", unknown_assets=[k[:200] for k in unknown[:20]]
            )
        return [self.assets[k] for k in dict.fromkeys(keys)]

    @staticmethod
    def partition_keys_of(assets: Sequence[AssetInfo]) -> tuple[str, ...]:
        """The partition keys shared by the partitioned assets of a selection (422 when they disagree)."""
        sets = {a.partition_keys for a in assets if a.partition_keys is not None}
        if len(sets) > 1:
            raise unprocessable(
                "the selected assets have different partitions; select them in separate requests"
            )
        return next(iter(sets)) if sets else ()

    def validate_partition(self, assets: Sequence[AssetInfo], partition: str) -> None:
        partitioned = [a for a in assets if a.partitioned]
        if not partitioned:
            raise unprocessable(
                f"partition {partition[:40]!r} given, but no selected asset is partitioned",
                unknown_partitions=[partition[:100]],
            )
        keys = self.partition_keys_of(partitioned)
        if partition not in keys:
            raise unprocessable(
                f"unknown partition {partition[:40]!r} for "
                f"{partitioned[0].key} (valid: {keys[0]} .. {keys[-1]})",
                unknown_partitions=[partition[:100]],
            )

    def partition_range(self, assets: Sequence[AssetInfo], start: str, end: str) -> list[str]:
        unpartitioned = [a.key for a in assets if not a.partitioned]
        if unpartitioned:
            raise unprocessable(
                f"{unpartitioned[0]} is not partitioned: launch it with POST /api/v1/runs",
                unknown_partitions=[],
            )
        keys = self.partition_keys_of(assets)
        unknown = [k for k in (start, end) if k not in keys]
        if unknown:
            shown = ", ".join(repr(k[:40]) for k in dict.fromkeys(unknown))
            raise unprocessable(
                f"unknown partition(s) {shown} for {assets[0].key} (valid: {keys[0]} .. {keys[-1]})",
                unknown_partitions=[k[:100] for k in dict.fromkeys(unknown)],
            )
        first, last = keys.index(start), keys.index(end)
        if first > last:
            raise unprocessable(f"partition_from {start!r} is after partition_to {end!r}")
        return list(keys[first : last + 1])

    def table(self, layer: str, table: str) -> AssetInfo | None:
        """The asset whose warehouse table is ``atlas_<layer>.<table>`` (only safe identifiers match)."""
        if not is_identifier(table):
            return None
        asset = self.assets.get(f"{layer}/{table}")
        return asset if asset is not None and asset.layer == layer else None

    def datasets(self) -> set[str]:
        return {a.dataset for a in self.assets.values()}

    def lineage(self, dataset: str) -> dict[str, Any] | None:
        """Every asset of ``dataset`` with its transitive upstream and downstream assets, as nodes and
        edges."""
        seeds = [a.key for a in self.assets.values() if a.dataset == dataset]
        if not seeds:
            return None
        upstream = self._closure(seeds, lambda a: a.upstream)
        downstream = self._closure(seeds, lambda a: a.downstream)
        keys = sorted(set(seeds) | upstream | downstream)
        nodes = [{"key": k, "layer": self.assets[k].layer, "dataset": self.assets[k].dataset} for k in keys]
        edges = [{"from": u, "to": k} for k in keys for u in self.assets[k].upstream if u in keys]
        return {
            "dataset": dataset,
            "assets": sorted(seeds),
            "upstream": sorted(upstream - set(seeds)),
            "downstream": sorted(downstream - set(seeds)),
            "nodes": nodes,
            "edges": edges,
        }

    def _closure(self, seeds: Iterable[str], step: Any) -> set[str]:
        seen: set[str] = set()
        todo = list(seeds)
        while todo:
            for nxt in step(self.assets[todo.pop()]):
                if nxt in self.assets and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
