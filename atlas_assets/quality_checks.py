"""Quality checks of silver assets: one Dagster asset check per dimension per dataset.

The checks are declared on the silver asset itself (``check_specs``) because they are evaluated on
the load's staging table before it is published - the asset returns their results with its
materialization. With ``quality.blocking: true`` they are blocking ERROR checks: a dimension below
its threshold (or failing a Soda check of that dimension) fails the silver step after publishing,
so downstream assets of the run do not execute. Otherwise they are WARN checks that never block.

Partitioned datasets get partitioned checks: a single-partition run records the result for its
partition; a run over a partition range also records one evaluation per partition, then the
required result for the whole range (passed only if every partition passed).

Metadata holds numbers (scores, thresholds, row counts: the UI plots them) and failing-row samples
made of row keys and rule ids only - never column values.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg

from atlas_assets.partitions import partitions_for
from atlas_core.contracts import Contract
from atlas_core.contracts.fields import Dimension
from atlas_core.errors import ContractError
from atlas_core.logs import get_logger
from atlas_engine.quality import DimensionScore, QualityReport, evaluate, record, soda_checks
from atlas_engine.soda import SodaOutcome
from atlas_engine.staging import StagedLoad
from atlas_resources.warehouse import Warehouse

DIMENSIONS = list(Dimension)
log = get_logger("atlas.quality")

DESCRIPTIONS = {
    Dimension.COMPLETENESS: "Share of rows with every required value present (and a non-empty load).",
    Dimension.VALIDITY: (
        "Share of rows whose values have the declared types, patterns, allowed values and ranges."
    ),
    Dimension.CONSISTENCY: (
        "Share of rows agreeing with functional dependencies and references to other datasets."
    ),
    Dimension.ACCURACY: "Share of rows passing accuracy expressions and reference-data checks.",
    Dimension.TIMELINESS: "Share of rows whose timestamps are fresh (vs now, or vs their partition day).",
    Dimension.UNIQUENESS: "Share of rows that are not duplicates of the primary key or unique columns.",
}


def referenced_datasets(contract: Contract) -> list[str]:
    """Other datasets whose silver tables this dataset's references read (upstream of its silver asset)."""
    return sorted({r.dataset for r in contract.rules.references if r.dataset != contract.dataset})


def check_references(contracts: list[Contract]) -> None:
    """Every reference names a declared dataset and existing columns of compatible types."""
    by_name = {c.dataset: c for c in contracts}
    for contract in contracts:
        for index, ref in enumerate(contract.rules.references):
            where = f"{contract.dataset}: rules.references.{index}"
            target = by_name.get(ref.dataset)
            if target is None:
                raise ContractError(f"{where}: dataset {ref.dataset!r} has no contract")
            for local, remote in zip(ref.columns, ref.ref_columns, strict=True):
                if remote not in target.column_names:
                    raise ContractError(f"{where}: {ref.dataset} has no column {remote!r}")
                if target.column(remote).type != contract.column(local).type:
                    raise ContractError(
                        f"{where}: {contract.dataset}.{local} is {contract.column(local).type.value} but "
                        f"{ref.dataset}.{remote} is {target.column(remote).type.value}"
                    )


def quality_check_specs(contract: Contract, asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    blocking = contract.quality.blocking
    return [
        dg.AssetCheckSpec(
            dim.value,
            asset=asset_key,
            description=f"{DESCRIPTIONS[dim]} Threshold {contract.quality.thresholds[dim]:.2f}"
            + (" (blocking)." if blocking else " (warning only)."),
            blocking=blocking,
            partitions_def=partitions_for(contract),
            metadata={"atlas/dimension": dim.value},
        )
        for dim in DIMENSIONS
    ]


def _metadata(report: QualityReport, score: DimensionScore) -> dict[str, Any]:
    dim = score.dimension
    rules = [r for r in report.rules if r.dimension == dim]
    return {
        "score": float(score.score),
        "threshold": float(score.threshold),
        "rows_evaluated": int(score.rows_evaluated),
        "failed_rows": int(score.failed_rows),
        "blocking": dg.MetadataValue.bool(score.blocking),
        "rules": dg.MetadataValue.json(
            [
                {"id": r.id, "failed_rows": r.failed_rows, "on_fail": r.on_fail, "evaluated": r.evaluated}
                for r in rules
            ]
        ),
        "soda_checks": dg.MetadataValue.json(
            [
                {"id": s.check_id, "outcome": s.outcome, "metrics": s.metrics}
                for s in report.soda
                if s.dimension == dim
            ]
        ),
        "failing_samples": dg.MetadataValue.json(report.samples.get(dim.value, [])),
        "sample_key_columns": dg.MetadataValue.json(report.key_columns or ["row"]),
    }


def _partition_metadata(score: DimensionScore) -> dict[str, Any]:
    return {
        "score": float(score.score),
        "threshold": float(score.threshold),
        "rows_evaluated": int(score.rows_evaluated),
        "failed_rows": int(score.failed_rows),
        "soda_failed": dg.MetadataValue.json(score.soda_failed),
    }


class QualityGate:
    """The ``on_staged`` hook of a silver load, then the source of its check results."""

    def __init__(
        self, wh: Warehouse, contract: Contract, asset_key: dg.AssetKey, *, run_soda: bool = True
    ) -> None:
        self.wh = wh
        self.contract = contract
        self.asset_key = asset_key
        self.run_soda = run_soda
        self.report: QualityReport | None = None
        self.soda: list[SodaOutcome] | None = None

    def scan(self, staged: StagedLoad) -> None:
        """Soda's checks of the staged rows: the ``scan_staged`` hook, which may start before the verdicts."""
        self.soda = soda_checks(self.wh, staged) if self.run_soda else []

    def __call__(self, staged: StagedLoad) -> None:
        self.report = evaluate(self.wh, staged, run_soda=self.run_soda, soda=self.soda)

    def check_results(self, context: dg.AssetExecutionContext) -> list[dg.AssetCheckResult]:
        """Record the scores, log failures, and return one result per selected dimension check."""
        if self.report is None:
            raise dg.Failure(f"{self.contract.dataset}: quality was not evaluated (no staged load)")
        report = self.report
        record(self.wh, report)
        severity = dg.AssetCheckSeverity.ERROR if report.blocking else dg.AssetCheckSeverity.WARN
        selected = {key.name for key in context.selected_asset_check_keys if key.asset_key == self.asset_key}
        per_partition = self.contract.is_partitioned and len(report.partitions) > 1
        results = []
        for dim in DIMENSIONS:
            if dim.value not in selected:
                continue
            if per_partition:
                for score in report.scores(dim):
                    context.log_event(
                        dg.AssetCheckEvaluation(
                            asset_key=self.asset_key,
                            check_name=dim.value,
                            passed=score.passed,
                            metadata=_partition_metadata(score),
                            severity=severity,
                            blocking=report.blocking,
                            partition=score.partition_key,
                        )
                    )
            overall = report.overall(dim)
            metadata = _metadata(report, overall)
            if per_partition:
                below = [s.partition_key for s in report.scores(dim) if not s.passed]
                metadata["partitions_evaluated"] = len(report.partitions)
                metadata["partitions_failed"] = dg.MetadataValue.json(below)
            if not overall.passed:
                _alert(context.log.error if report.blocking else context.log.warning, report, overall)
            results.append(
                dg.AssetCheckResult(
                    asset_key=self.asset_key,
                    check_name=dim.value,
                    passed=overall.passed,
                    severity=severity,
                    metadata=metadata,
                    description=f"{dim.value} {overall.score:.4f} vs threshold {overall.threshold:.2f}",
                )
            )
        return results


def _alert(emit: Callable[[str], None], report: QualityReport, score: DimensionScore) -> None:
    reasons = []
    if score.score < score.threshold:
        reasons.append(
            f"score {score.score:.4f} below threshold {score.threshold:.2f} "
            f"({score.failed_rows} of {score.rows_evaluated} rows failing)"
        )
    if score.soda_failed:
        reasons.append(f"failed Soda checks: {', '.join(score.soda_failed)}")
    if not reasons:  # only some partitions of a range failed
        reasons.append("below threshold in some partitions")
    kind = "blocking" if score.blocking else "warning"
    emit(f"{report.dataset}: {score.dimension.value} check failed ({kind}): {'; '.join(reasons)}")
    event = log.error if score.blocking else log.warning
    event(
        "quality_check_failed",
        dataset=report.dataset,
        dimension=score.dimension.value,
        run_id=report.run_id,
        score=round(score.score, 6),
        threshold=score.threshold,
        failed_rows=score.failed_rows,
        rows_evaluated=score.rows_evaluated,
        blocking=score.blocking,
        soda_failed=score.soda_failed,
    )
