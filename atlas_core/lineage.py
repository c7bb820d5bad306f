"""OpenLineage events for asset steps, built with ``openlineage-python`` from plain facts.

The caller (``atlas_assets.lineage``) turns a Dagster run into :class:`StepFacts`; this module makes
the events: START, RUNNING (steps longer than a threshold), and COMPLETE / FAIL / ABORT. Facets are
built from names, types and counts only, never from data values: no PII can reach a lineage event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    data_quality_metrics_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
)

from atlas_core.column_lineage import DerivedColumn
from atlas_core.contracts import Contract

PRODUCER = "https://github.com/atlas-platform/atlas"


class _MetricsFacet(data_quality_metrics_dataset.DataQualityMetricsDatasetFacet):
    """The same fields, pointing at the facet version of the 2-0-2 spec set (the client library
    references a newer, compatible 1-0-1)."""

    @staticmethod
    def _get_schema() -> str:
        return "https://openlineage.io/spec/facets/1-0-0/DataQualityMetricsDatasetFacet.json#/$defs/DataQualityMetricsDatasetFacet"


RUN_ID_NAMESPACE = uuid.UUID("6f1d9d3e-8f0a-4c55-9a43-2d3b0d4f7a11")


@dataclass(frozen=True)
class DatasetRef:
    namespace: str
    name: str


@dataclass
class ColumnSource:
    """Where one output column comes from (``masked`` when a PII transform changed the value)."""

    dataset: DatasetRef
    field: str
    masked: bool
    description: str
    subtype: str = "IDENTITY"  # when not masked: IDENTITY, TRANSFORMATION or AGGREGATION


@dataclass
class OutputFacts:
    dataset: DatasetRef
    columns: list[tuple[str, str]] = field(default_factory=list)
    row_count: int | None = None
    null_counts: dict[str, int] = field(default_factory=dict)
    column_lineage: dict[str, list[ColumnSource]] = field(default_factory=dict)


@dataclass
class Assertion:
    check: str
    success: bool
    severity: str
    column: str | None = None


@dataclass
class StepFacts:
    """One job run in OpenLineage terms: an asset materialized (or its checks evaluated) in a Dagster run."""

    job_name: str
    run_key: str  # stable identity → a deterministic OpenLineage run id
    parent_run_id: str | None  # None: the Dagster run itself (the parent of its steps)
    parent_job_name: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None  # COMPLETE, FAIL, ABORT, or None while running
    job_type: str = "ASSET"
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[OutputFacts] = field(default_factory=list)
    assertions: dict[DatasetRef, list[Assertion]] = field(default_factory=dict)
    nominal: tuple[datetime, datetime] | None = None
    error: str | None = None
    description: str | None = None


def as_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return str(uuid.uuid5(RUN_ID_NAMESPACE, text))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def silver_column_lineage(contract: Contract, bronze: DatasetRef) -> dict[str, list[ColumnSource]]:
    """Each silver column from the bronze column of the same name: identity (typed) or masked (PII policy)."""
    lineage: dict[str, list[ColumnSource]] = {}
    pii = contract.declared_pii_columns
    for column in contract.columns:
        spec = pii.get(column.name)
        if spec is not None and spec.strategy != "keep":
            source = ColumnSource(
                bronze, column.name, True, f"PII {spec.entity}: {spec.strategy or 'policy default'}"
            )
        else:
            source = ColumnSource(bronze, column.name, False, f"typed as {column.type.value}")
        lineage[column.name] = [source]
    return lineage


def derived_column_lineage(
    derived: dict[str, DerivedColumn],
    resolve: Callable[[str], DatasetRef],
) -> dict[str, list[ColumnSource]]:
    """Gold / ai_ready columns from the ``schema.table`` columns their SQL reads
    (``atlas_core.column_lineage``)."""
    lineage: dict[str, list[ColumnSource]] = {}
    for name, column in derived.items():
        how = {"IDENTITY": "passed through", "AGGREGATION": "aggregated"}.get(column.kind, "computed")
        lineage[name] = [
            ColumnSource(resolve(source.table), source.column, False, f"{how} by SQL", column.kind)
            for source in column.sources
        ]
    return lineage


def _column_lineage_facet(
    lineage: dict[str, list[ColumnSource]],
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    fields = {}
    for name, sources in lineage.items():
        masked = any(s.masked for s in sources)
        fields[name] = column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(
                    namespace=s.dataset.namespace,
                    name=s.dataset.name,
                    field=s.field,
                    transformations=[
                        column_lineage_dataset.Transformation(
                            type="DIRECT",
                            subtype="TRANSFORMATION" if s.masked else s.subtype,
                            description=s.description,
                            masking=s.masked,
                        )
                    ],
                )
                for s in sources
            ],
            transformationType="MASKED"
            if masked
            else ("IDENTITY" if all(s.subtype == "IDENTITY" for s in sources) else "TRANSFORMATION"),
            transformationDescription="; ".join(s.description for s in sources),
        )
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields)


def _output(facts: OutputFacts, final: bool) -> OutputDataset:
    facets: dict = {}
    output_facets: dict = {}
    if facts.columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in facts.columns]
        )
    if facts.column_lineage:
        facets["columnLineage"] = _column_lineage_facet(facts.column_lineage)
    if final and facts.row_count is not None:
        facets["dataQualityMetrics"] = _MetricsFacet(
            rowCount=facts.row_count,
            columnMetrics={
                name: data_quality_metrics_dataset.ColumnMetrics(nullCount=int(n))
                for name, n in facts.null_counts.items()
            },
        )
        output_facets["outputStatistics"] = (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=facts.row_count)
        )
    return OutputDataset(
        namespace=facts.dataset.namespace, name=facts.dataset.name, facets=facets, outputFacets=output_facets
    )


def _inputs(step: StepFacts, final: bool) -> list[InputDataset]:
    refs = list(dict.fromkeys([*step.inputs, *step.assertions]))
    out = []
    for ref in refs:
        input_facets: dict = {}
        if final and ref in step.assertions:
            input_facets["dataQualityAssertions"] = (
                data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                    assertions=[
                        data_quality_assertions_dataset.Assertion(
                            assertion=a.check,
                            success=a.success,
                            column=a.column,
                            severity=a.severity.lower(),
                            name=a.check,
                        )
                        for a in step.assertions[ref]
                    ]
                )
            )
        out.append(InputDataset(namespace=ref.namespace, name=ref.name, inputFacets=input_facets))
    return out


def build_events(
    step: StepFacts,
    *,
    namespace: str,
    dagster_version: str,
    running_after: timedelta | None = None,
) -> list[RunEvent]:
    """START, an optional RUNNING, and the final event (when the step ended)."""
    run_id = as_uuid(step.run_key)
    run_facets: dict = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=dagster_version, name="Dagster", openlineageAdapterVersion="atlas"
        ),
    }
    if step.parent_run_id is not None:
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=as_uuid(step.parent_run_id)),
            job=parent_run.Job(namespace=namespace, name=step.parent_job_name),
        )
    if step.nominal is not None:
        run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=iso(step.nominal[0]), nominalEndTime=iso(step.nominal[1])
        )
    job = Job(
        namespace=namespace,
        name=step.job_name,
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="DAGSTER", jobType=step.job_type
            ),
        },
    )

    def event(state: RunState, moment: datetime, final: bool, extra: dict | None = None) -> RunEvent:
        return RunEvent(
            eventType=state,
            eventTime=iso(moment),
            producer=PRODUCER,
            run=Run(runId=run_id, facets={**run_facets, **(extra or {})}),
            job=job,
            inputs=_inputs(step, final),
            outputs=[_output(o, final) for o in step.outputs],
        )

    events = [event(RunState.START, step.started_at, False)]
    end = step.ended_at or datetime.now(UTC)
    if running_after is not None and end - step.started_at > running_after:
        events.append(event(RunState.RUNNING, step.started_at + running_after, False))
    if step.outcome is not None and step.ended_at is not None:
        extra = None
        if step.outcome == "FAIL" and step.error:
            extra = {
                "errorMessage": error_message_run.ErrorMessageRunFacet(
                    message=step.error, programmingLanguage="python"
                )
            }
        events.append(event(RunState[step.outcome], step.ended_at, True, extra))
    return events


def unique_refs(refs: Iterable[DatasetRef]) -> list[DatasetRef]:
    return list(dict.fromkeys(refs))
