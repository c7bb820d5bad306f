"""Soda Core v4 on the staging table: dimension-tagged results, recorded history, and no raw values in
logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from atlas_core.contracts.fields import Dimension
from atlas_engine.quality import record
from atlas_resources.warehouse import Warehouse
from tests.integration.quality_support import contract_for, load, unique_name, write_csv

SENTINEL_EMAIL = "SENTINEL-7731-raw-value"
SENTINEL_TS = "2026-10-02T07:31:13Z"
QUALITY_RESULTS_COLUMNS = [
    ("result_id", "bigint"),
    ("run_id", "text"),
    ("dataset", "text"),
    ("partition_key", "text"),
    ("dimension", "text"),
    ("score", "double precision"),
    ("threshold", "double precision"),
    ("passed", "boolean"),
    ("blocking", "boolean"),
    ("rows_evaluated", "bigint"),
    ("failed_rows", "bigint"),
    ("evaluated_at", "timestamp with time zone"),
]


def _dirty_events(tmp_path: Path, name: str, **extra: object):
    rows = [[i, f"user{i}@example.com", "2026-10-01T09:00:00Z", "2026-10-01T10:00:00Z"] for i in range(1, 9)]
    rows += [
        [9, SENTINEL_EMAIL, "2026-10-02T06:00:00Z", SENTINEL_TS],
        [10, SENTINEL_EMAIL, "2026-10-02T05:00:00Z", "2026-10-02T06:00:00Z"],
    ]
    path = write_csv(tmp_path / f"{name}.csv", ["id", "email", "event_ts", "seen_ts"], rows)
    return contract_for(
        name,
        path,
        [
            {"name": "id", "type": "integer"},
            {"name": "email", "pattern": r"^[^@\s]+@[^@\s]+$", "required": True},
            {"name": "event_ts", "type": "timestamp"},
            {"name": "seen_ts", "type": "timestamp", "freshness": "1d"},
        ],
        primary_key=["id"],
        partitioning={"column": "event_ts", "start": "2026-10-01", "end": "2026-10-31"},
        **extra,
    )


def test_soda_results_feed_dimensions_and_history(wh: Warehouse, tmp_path: Path) -> None:
    name = unique_name("events")
    contract = _dirty_events(
        tmp_path,
        name,
        quality={
            "thresholds": {"validity": 0.9},
            "blocking": False,
            "soda": [
                {
                    "row_count": {
                        "threshold": {"must_be_greater_than": 1000},
                        "attributes": {"dimension": "completeness"},
                    }
                }
            ],
        },
    )
    loaded = load(wh, tmp_path, contract, soda=True, run_id="soda-run")
    report = loaded.report
    assert report is not None
    outcomes = {s.check_id: s for s in report.soda}
    assert (
        outcomes["email.invalid"].outcome == "failed"
        and outcomes["email.invalid"].dimension == Dimension.VALIDITY
    )
    assert outcomes["email.invalid"].metrics["invalid_count"] == 2
    assert (
        outcomes["email.missing"].outcome == "passed"
        and outcomes["email.missing"].dimension == Dimension.COMPLETENESS
    )
    # A one-column primary key is checked by that column's duplicate check; no composite-key check.
    assert outcomes["id.duplicate"].outcome == "passed" and "primary_key.duplicate" not in outcomes
    assert outcomes["seen_ts.freshness"].outcome == "passed"  # newest value inside the newest partition's day
    assert outcomes["soda.row_count.extra0"].outcome == "failed"
    assert all(s.outcome != "not_evaluated" for s in report.soda)

    completeness = report.overall(Dimension.COMPLETENESS)
    assert completeness.score == 1.0 and not completeness.passed  # the row-level score alone would pass
    assert completeness.soda_failed == ["soda.row_count.extra0"]
    validity = report.overall(Dimension.VALIDITY)
    assert validity.score == pytest.approx(0.8) and not validity.passed
    assert report.overall(Dimension.UNIQUENESS).passed

    record(wh, report)
    columns = wh.fetch_all(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'atlas_meta' "
        "AND table_name = 'quality_results' ORDER BY ordinal_position"
    )
    assert columns == QUALITY_RESULTS_COLUMNS
    rows = wh.fetch_all(
        "SELECT partition_key, dimension, score, threshold, passed, blocking, rows_evaluated, failed_rows "
        "FROM atlas_meta.quality_results WHERE run_id = 'soda-run' AND dataset = %s ORDER BY 1, 2",
        (name,),
    )
    assert len(rows) == 12  # six dimensions x two partitions
    validity_rows = {r[0]: r for r in rows if r[1] == "validity"}
    assert validity_rows["2026-10-01"][2:] == (
        1.0,
        0.9,
        False,
        False,
        8,
        0,
    )  # Soda's dataset-level failure counts
    assert validity_rows["2026-10-02"][2:] == (0.0, 0.9, False, False, 2, 2)
    checks = {
        (engine, check_id): outcome
        for engine, check_id, outcome in wh.fetch_all(
            "SELECT engine, check_id, outcome FROM atlas_meta.quality_check_results "
            "WHERE run_id = 'soda-run' AND dataset = %s",
            (name,),
        )
    }
    assert (
        checks[("atlas", "email.pattern")] == "failed"
        and checks[("soda", "soda.row_count.extra0")] == "failed"
    )
    # Both engines check freshness under the same id; every seen_ts lies inside its partition's day.
    assert (
        checks[("atlas", "seen_ts.freshness")] == "passed"
        and checks[("soda", "seen_ts.freshness")] == "passed"
    )


def test_soda_never_logs_raw_values(
    wh: Warehouse, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    for logger in ("soda", "soda_core"):
        caplog.set_level(logging.DEBUG, logger=logger)
    name = unique_name("events")
    loaded = load(wh, tmp_path, _dirty_events(tmp_path, name), soda=True)
    assert loaded.report is not None and loaded.report.soda
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "message withheld" in logged  # Soda did log, through the redaction
    for raw in (SENTINEL_EMAIL, SENTINEL_TS, "07:31:13"):
        assert raw not in logged
    for sample in loaded.report.samples.values():
        for row in sample:
            assert set(row) == {"key", "rules"} and set(row["key"]) == {"id"}


def test_without_the_redaction_soda_would_log_values(
    wh: Warehouse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Control for the test above: Soda at DEBUG, run directly, does print data values."""
    import yaml
    from soda_core.common.yaml import ContractYamlSource, DataSourceYamlSource
    from soda_core.contracts.contract_verification import ContractVerificationSession

    from atlas_core.quality.soda_contract import soda_contract
    from atlas_engine.soda import data_source_yaml, qualified_name

    name = unique_name("events")
    contract = _dirty_events(tmp_path, name)
    load(wh, tmp_path, contract, evaluate_quality=False)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="soda")
    document = soda_contract(contract, qualified_name(wh, ("atlas_silver", name)))
    # silver has no cast-error column (staging does): drop that one check, and the filters that read it
    document["checks"] = [c for c in document["checks"] if "failed_rows" not in c]
    for column in document["columns"]:
        for check in column.get("checks", []):
            for body in check.values():
                body.pop("filter", None)
    ContractVerificationSession.execute(
        contract_yaml_sources=[ContractYamlSource.from_str(yaml.safe_dump(document))],
        data_source_yaml_sources=[DataSourceYamlSource.from_str(data_source_yaml(wh.url))],
        variables={"ATLAS_WINDOW_END": "2026-10-03T00:00:00+00:00"},
    )
    # rows 9 and 10 failed the email pattern, so silver's newest seen_ts is a clean row's value - printed by
    # Soda
    assert "Calculating freshness using '2026-10-01 10:00:00" in caplog.text


class _ForeignErrorOnce(logging.Filter):
    """When Soda starts validating, log an error from another library in the same thread, as SQLAlchemy's
    pool does when the garbage collector finalizes a broken connection of Dagster's storage mid-session."""

    def __init__(self) -> None:
        super().__init__()
        self.fired = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.fired and record.getMessage().startswith("Validating contract"):
            self.fired = True
            logging.getLogger("sqlalchemy.pool.impl.QueuePool").error("Exception during reset or similar")
        return True


def test_a_foreign_error_logged_during_validation_does_not_reject_the_contract(
    wh: Warehouse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="soda")
    foreign = _ForeignErrorOnce()
    logging.getLogger("soda").addFilter(foreign)
    try:
        loaded = load(wh, tmp_path, _dirty_events(tmp_path, unique_name("events")), soda=True)
    finally:
        logging.getLogger("soda").removeFilter(foreign)
    assert foreign.fired
    assert loaded.report is not None and loaded.report.soda
    assert {s.check_id: s.outcome for s in loaded.report.soda}["email.invalid"] == "failed"


def test_an_invalid_soda_check_rejects_the_contract_in_one_line(wh: Warehouse, tmp_path: Path) -> None:
    from atlas_core.errors import ContractError

    contract = _dirty_events(
        tmp_path,
        unique_name("events"),
        quality={"soda": [{"row_count": {"threshold": {"must_be_greater_than": "many"}}}]},
    )
    with pytest.raises(
        ContractError, match=r"generated Soda contract rejected \(check quality\.soda\): "
    ) as error:
        load(wh, tmp_path, contract, soda=True)
    assert "\n" not in str(error.value)
