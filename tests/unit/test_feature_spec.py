"""Feature set files: validation with one-line errors, the shipped customer_features, and the Arrow
(serving) implementation of the transforms."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest

from atlas_core.errors import ContractError
from atlas_core.features.spec import Fill, Transform, load_feature_set, load_feature_sets
from atlas_core.features.transforms import apply_transforms, output_columns

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"

# The output features of the shipped customer_features and the kinds of their transforms, in order:
# every numeric one is standardized, the categorical ones are one-hot encoded.
SHIPPED_TRANSFORMS = {
    "recency_days": ["standardize"],
    "frequency": ["standardize"],
    "monetary": ["standardize", "log"],
    "avg_order_value": ["standardize"],
    "distinct_products": ["standardize", "min_max"],
    "tenure_days": ["standardize", "bucketize"],
    "cancel_rate": ["standardize"],
    "orders_last_7d": ["standardize"],
    "preferred_channel": ["one_hot"],
    "top_category": ["one_hot"],
}

MINIMAL = """description: test
entity_key: customer_id
spine: SELECT customer_id, as_of AS event_timestamp FROM atlas_gold.labels
sources:
  orders: {model: gold.orders, timestamp: order_ts}
features:
  - name: spend
    aggregate: {source: orders, function: sum, column: total}
"""


def write(tmp_path: Path, text: str, name: str = "fs") -> Path:
    folder = tmp_path / "ai_ready"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(text)
    return path


def test_shipped_customer_features() -> None:
    (spec,) = load_feature_sets(MODELS_DIR)
    assert spec.name == "customer_features" and spec.entity_key == "customer_id"
    assert spec.refs == [("gold", "dim_customer"), ("gold", "dim_product"), ("gold", "fact_orders")]
    assert {f.name: [t.kind for t in f.transforms] for f in spec.features if f.output} == SHIPPED_TRANSFORMS
    assert spec.split.seed == 42 and spec.split.fractions == {"train": 0.7, "validation": 0.15, "test": 0.15}
    assert spec.spec_hash == load_feature_set(Path(spec.path)).spec_hash


def test_spec_hash_follows_content_not_formatting(tmp_path: Path) -> None:
    first = load_feature_set(write(tmp_path, MINIMAL))
    reformatted = load_feature_set(
        write(
            tmp_path,
            "# comment\n"
            + MINIMAL.replace(
                "{model: gold.orders, timestamp: order_ts}",
                "\n    model: gold.orders\n    timestamp: order_ts",
            ),
        )
    )
    assert reformatted.spec_hash == first.spec_hash
    changed = load_feature_set(write(tmp_path, MINIMAL.replace("function: sum", "function: avg")))
    assert changed.spec_hash != first.spec_hash


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("source: orders, function", "source: returns, function"), "unknown source 'returns'"),
        (("{model: gold.orders", "{model: silver.orders"), "feature sets read gold only"),
        (
            ("FROM atlas_gold.labels", "FROM atlas_silver.customers"),
            "reads atlas_silver.customers: feature sets read gold models only",
        ),
        (("column: total}", "column: total, window: 3 months}"), "window '3 months'"),
        (("function: sum, column: total", "function: sum"), "sum needs a column or an expression"),
        (("name: spend", "name: split"), "feature name 'split' is reserved"),
        (
            ("column: total}", "column: total}\n    transforms: [{bucketize: {boundaries: [5, 1]}}]"),
            "strictly increasing",
        ),
        (("column: total}", "column: total}\n    transforms: [scale]"), "features.0.transforms.0.kind"),
        (
            ("column: total}", "column: total}\n    output: false\n    transforms: [log]"),
            "output: false cannot have transforms",
        ),
        (
            (
                "entity_key: customer_id",
                "entity_key: customer_id\nsplit: {fractions: {train: 0.5, test: 0.4}}",
            ),
            "must sum to 1",
        ),
        (("entity_key: customer_id", "entity_key: customer_id\ncolour: blue"), "colour: Extra inputs"),
    ],
)
def test_bad_feature_sets_are_one_line_errors(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    assert change[0] in MINIMAL
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(ContractError) as excinfo:
        load_feature_set(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert expected in message


def test_shorthands() -> None:
    assert Fill.model_validate(0).value == 0 and Fill.model_validate(0).strategy == "constant"
    assert Fill.model_validate("median").fitted
    assert Fill.model_validate({"value": "none"}).value == "none"
    assert Transform.model_validate("log").kind == "log"
    assert Transform.model_validate({"one_hot": {"top_k": 2}}).top_k == 2


def test_arrow_transforms_follow_the_stored_statistics(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "column: total}",
        "column: total}\n    fill: mean\n"
        "    transforms: [standardize, min_max, log, {bucketize: {boundaries: [0, 10]}}]\n"
        "  - name: channel\n    latest: {source: orders, column: channel}\n"
        "    transforms: [{one_hot: {top_k: 2}}]",
    )
    spec = load_feature_set(write(tmp_path, text))
    stats = {
        "spend": {"fill": 4.0, "mean": 2.0, "std": 4.0, "min": -2.0, "max": 18.0},
        "channel": {"categories": ["Web Shop", "store"]},
    }
    table = pa.table(
        {"spend": pa.array([-2.0, None, 10.0, 30.0]), "channel": ["store", None, "Web Shop", "fax"]}
    )
    out = apply_transforms(table, spec, stats)
    assert out.column("spend").to_pylist() == [-2.0, 4.0, 10.0, 30.0]  # fitted fill applied
    assert out.column("spend_z").to_pylist() == [-1.0, 0.5, 2.0, 7.0]
    assert out.column("spend_minmax").to_pylist() == [0.0, 0.3, 0.6, 1.6]
    assert out.column("spend_log").to_pylist() == [0.0, math.log(5.0), math.log(11.0), math.log(31.0)]
    assert out.column("spend_bucket").to_pylist() == [0, 1, 2, 2]
    channel = spec.features[1]
    names = output_columns(channel, channel.transforms[0], stats["channel"])
    assert names == ["channel__web_shop", "channel__store", "channel__other"]
    assert out.column("channel__web_shop").to_pylist() == [0, 0, 1, 0]
    assert out.column("channel__store").to_pylist() == [1, 0, 0, 0]
    assert out.column("channel__other").to_pylist() == [0, 1, 0, 1]
