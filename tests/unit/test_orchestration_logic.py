"""Pure orchestration logic: error classification, alert bodies, retention windows, backfill ranges,
OpenLineage events (validated against the official 2-0-2 schemas), compressed-input refusal."""

from __future__ import annotations

import bz2
import json
import lzma
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from openlineage.client.serde import Serde

from atlas_core.alerts import slack_payload
from atlas_core.contracts.model import Contract
from atlas_core.csvio import iter_csv_batches
from atlas_core.errors import AtlasError, InputRejected, ServiceUnavailable
from atlas_core.layout import Layer
from atlas_core.lineage import (
    Assertion,
    DatasetRef,
    OutputFacts,
    StepFacts,
    build_events,
    silver_column_lineage,
)
from atlas_core.retention import RetentionPolicy, expired_keys
from atlas_core.transient import is_transient
from atlas_engine.backfills import validate_partition_range
from tests.support.lineage_schema import validate_event

KEYS = [f"2026-10-{d:02d}" for d in range(1, 31)]


def test_transient_errors_are_told_from_data_errors() -> None:
    assert is_transient(ConnectionRefusedError(111, "refused"))
    assert is_transient(ConnectionResetError())
    assert is_transient(ServiceUnavailable("PostgreSQL at x is unreachable"))
    assert is_transient(psycopg.errors.SerializationFailure("could not serialize"))
    assert is_transient(psycopg.errors.DeadlockDetected("deadlock"))
    assert is_transient(psycopg.OperationalError("connection refused"))
    wrapped = AtlasError("S3 SlowDown on s3://b/k: reduce your rate")
    wrapped.__cause__ = _s3_error("SlowDown", 503)
    assert is_transient(wrapped)
    not_found = AtlasError("s3://b/k does not exist")
    not_found.__cause__ = _s3_error("NoSuchKey", 404)
    assert not is_transient(not_found)
    assert not is_transient(InputRejected("orders.csv: missing column(s) 'total'"))
    assert not is_transient(psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_transient(psycopg.errors.InvalidTextRepresentation("invalid input syntax"))
    assert not is_transient(KeyError("bug"))
    # A data error raised while handling a connection error is still a data error.
    rejected = InputRejected("bad file")
    rejected.__context__ = ConnectionResetError()
    assert not is_transient(rejected)


def _s3_error(code: str, status: int) -> Exception:
    from minio.error import S3Error
    from urllib3 import HTTPResponse

    return S3Error(HTTPResponse(status=status), code, "message", "k", "r", "h")


def test_slack_payload_has_text_and_blocks() -> None:
    payload = slack_payload(
        "Atlas run failed: job",
        "• silver__orders: blocking rule(s) failed",
        {"run": "abc", "partition": "", "trigger": "cli"},
    )
    assert payload["text"].startswith("Atlas run failed: job: ")
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Atlas run failed: job"},
    }
    assert "*run:* abc" in payload["blocks"][2]["text"]["text"]
    assert "partition" not in payload["blocks"][2]["text"]["text"]  # empty fields are dropped
    json.dumps(payload)


def test_retention_windows_per_layer_and_dataset() -> None:
    now = datetime(2027, 1, 15, 12, tzinfo=UTC)
    policy = RetentionPolicy(dataset_days={"orders": 30})
    assert policy.cutoff(Layer.BRONZE, now) == date(2026, 10, 17)  # 90 days
    assert policy.cutoff(Layer.SILVER, now) == date(2026, 1, 15)
    assert policy.cutoff(Layer.GOLD, now) == date(2025, 1, 15)
    assert policy.cutoff(Layer.BRONZE, now, "orders") == date(2026, 12, 16)
    assert policy.cutoff(Layer.GOLD, now, "orders") == date(2025, 1, 15)  # gold is not per dataset
    assert expired_keys(KEYS + ["", "not-a-date"], date(2026, 10, 4)) == [
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
    ]


def test_backfill_range_is_validated() -> None:
    assert validate_partition_range(KEYS, "2026-10-03", "2026-10-09") == KEYS[2:9]
    with pytest.raises(
        InputRejected, match=r"unknown partition '2026-11-01' for --to \(valid: 2026-10-01 .. 2026-10-30\)"
    ):
        validate_partition_range(KEYS, "2026-10-03", "2026-11-01")
    with pytest.raises(InputRejected, match="--from 2026-10-09 is after --to 2026-10-03"):
        validate_partition_range(KEYS, "2026-10-09", "2026-10-03")
    with pytest.raises(InputRejected, match="no partitions"):
        validate_partition_range([], "a", "b")


@pytest.mark.parametrize(("kind", "compress"), [("bzip2", bz2.compress), ("xz", lzma.compress)])
def test_other_compressions_are_refused_by_name(tmp_path: Path, kind: str, compress: object) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(compress(b"a,b\n1,2\n"))  # type: ignore[operator]
    with pytest.raises(InputRejected, match=f"orders.csv: {kind}-compressed files are not supported"):
        list(iter_csv_batches(path, ["a", "b"]))


def test_a_row_larger_than_the_read_block_is_refused_with_a_size_message(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:
        fh.write(b"a,b\n1,")
        fh.write(b"x" * (20 << 20))
        fh.write(b"\n")
    with pytest.raises(InputRejected, match=r"huge.csv: a row is longer than 4 MiB .* memory bounded"):
        list(iter_csv_batches(path, ["a", "b"]))


CONTRACT = Contract.model_validate(
    {
        "dataset": "people",
        "source": {"kind": "landing"},
        "columns": [
            {"name": "person_id", "type": "integer"},
            {"name": "email", "pii": {"entity": "EMAIL_ADDRESS", "strategy": "hash"}},
            {"name": "city"},
            {"name": "nickname", "pii": {"entity": "PERSON", "strategy": "keep"}},
        ],
    }
)


def _facts(outcome: str | None, ended: datetime | None) -> StepFacts:
    bronze = DatasetRef("postgres://localhost:5432", "atlas.atlas_bronze.people")
    silver = DatasetRef("postgres://localhost:5432", "atlas.atlas_silver.people")
    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    return StepFacts(
        job_name="silver.people",
        run_key="run-1:silver__people",
        parent_run_id="0b4d4b4e-0000-4000-8000-000000000001",
        parent_job_name="__ASSET_JOB",
        started_at=start,
        ended_at=ended,
        outcome=outcome,
        inputs=[bronze],
        outputs=[
            OutputFacts(
                silver,
                [("person_id", "bigint"), ("email", "text")],
                10,
                {"email": 2},
                silver_column_lineage(CONTRACT, bronze),
            )
        ],
        assertions={silver: [Assertion("email_valid", False, "ERROR", "email")]},
        nominal=(start, start + timedelta(days=1)),
        error="silver__people: blocking rule(s) failed",
    )


def test_events_are_valid_openlineage_2_0_2_with_masked_pii_lineage() -> None:
    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    events = build_events(
        _facts("COMPLETE", start + timedelta(minutes=3)),
        namespace="atlas",
        dagster_version="1.13.27",
        running_after=timedelta(seconds=60),
    )
    assert [e.eventType.value for e in events] == ["START", "RUNNING", "COMPLETE"]  # type: ignore[union-attr]
    documents = [json.loads(Serde.to_json(e)) for e in events]
    for document in documents:
        validate_event(document)
    assert len({d["run"]["runId"] for d in documents}) == 1
    complete = documents[-1]
    assert complete["run"]["facets"]["parent"]["run"]["runId"] == "0b4d4b4e-0000-4000-8000-000000000001"
    assert complete["run"]["facets"]["nominalTime"]["nominalStartTime"] == "2026-11-01T10:00:00.000Z"
    output = complete["outputs"][0]
    lineage = output["facets"]["columnLineage"]["fields"]
    assert lineage["email"]["transformationType"] == "MASKED"
    assert lineage["email"]["inputFields"][0]["transformations"][0]["masking"] is True
    assert lineage["city"]["transformationType"] == "IDENTITY"
    assert lineage["nickname"]["transformationType"] == "IDENTITY"  # strategy keep
    assert output["facets"]["dataQualityMetrics"]["rowCount"] == 10
    assert output["facets"]["dataQualityMetrics"]["columnMetrics"]["email"]["nullCount"] == 2
    assertions = [i for i in complete["inputs"] if "dataQualityAssertions" in i["inputFacets"]]
    assert assertions[0]["inputFacets"]["dataQualityAssertions"]["assertions"][0]["success"] is False
    # START carries no metrics yet (nothing measured before the step ran).
    assert "dataQualityMetrics" not in documents[0]["outputs"][0]["facets"]


def test_failed_step_gets_an_error_facet_and_a_running_step_no_final_event() -> None:
    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    failed = build_events(
        _facts("FAIL", start + timedelta(seconds=5)), namespace="atlas", dagster_version="1.13.27"
    )
    assert [e.eventType.value for e in failed] == ["START", "FAIL"]  # type: ignore[union-attr]
    document = json.loads(Serde.to_json(failed[-1]))
    validate_event(document)
    assert document["run"]["facets"]["errorMessage"]["message"] == "silver__people: blocking rule(s) failed"
    running = build_events(_facts(None, None), namespace="atlas", dagster_version="1.13.27")
    assert [e.eventType.value for e in running] == ["START"]  # type: ignore[union-attr]
