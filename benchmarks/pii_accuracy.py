"""Accuracy of Atlas' PII detection on generated, labeled data.

1. Free-text spans (``pii_data.labeled_texts``: Faker values in several locales inside templates,
   several phone / card / IBAN formats, non-ASCII names, empty cells). A gold span is *found* when
   predicted spans cover at least 90 % of its characters; a predicted span is *correct* when at
   least half of it lies inside gold spans. Two views: ``any_entity`` (what anonymization needs:
   the value is replaced, whatever it is called) and ``same_entity`` (the entity must match too).
   Precision, recall and F2 (recall weighs four times precision: a missed value leaks, an extra
   replacement only costs information) for Atlas' fast path (NER-only batched spaCy + gated
   recognizers on precomputed artifacts) and for plain per-text ``AnalyzerEngine.analyze``.
2. Column classification (``pii_data.labeled_columns``): share of columns whose decided entity
   (or "not PII", or free text) matches the label.

    .venv/bin/python benchmarks/pii_accuracy.py [--texts 800]

Writes ``benchmarks/results/pii_accuracy.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from benchmarks.pii_data import LabeledText, labeled_columns, labeled_texts  # noqa: E402
from benchmarks.results import write_result  # noqa: E402

FOUND_COVERAGE = 0.9
CORRECT_INSIDE = 0.5


def _covered(start: int, end: int, spans: list[tuple[int, int, str]], entity: str | None = None) -> float:
    marks = [False] * (end - start)
    for s, e, ent in spans:
        if entity is not None and ent != entity:
            continue
        for i in range(max(s, start), min(e, end)):
            marks[i - start] = True
    return sum(marks) / max(1, end - start)


def score(items: list[LabeledText], predicted: list[list[tuple[int, int, str]]], same_entity: bool) -> dict:
    gold_total = found = pred_total = correct = 0
    per_entity: dict[str, list[int]] = {}
    for item, pred in zip(items, predicted, strict=True):
        for s, e, ent in item.spans:
            gold_total += 1
            hit = _covered(s, e, pred, ent if same_entity else None) >= FOUND_COVERAGE
            found += hit
            per_entity.setdefault(ent, [0, 0])
            per_entity[ent][0] += hit
            per_entity[ent][1] += 1
        for s, e, ent in pred:
            pred_total += 1
            inside = [(gs, ge, gent) for gs, ge, gent in item.spans if not same_entity or gent == ent]
            correct += _covered(s, e, inside) >= CORRECT_INSIDE
    precision = correct / pred_total if pred_total else 1.0
    recall = found / gold_total if gold_total else 1.0
    f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f2": round(f2, 4),
        "gold_spans": gold_total,
        "predicted_spans": pred_total,
        "recall_by_entity": {k: round(v[0] / v[1], 3) for k, v in sorted(per_entity.items())},
    }


def atlas_spans(engine, texts: list[str]) -> list[list[tuple[int, int, str]]]:
    from atlas_core.pii.classify import FREE_TEXT_MIN_SCORE
    from atlas_core.pii.entities import FREE_TEXT_EXCLUDED
    from atlas_core.pii.freetext import merge_spans

    entities = [e for e in engine.entities if e not in FREE_TEXT_EXCLUDED]
    out = []
    for spans in engine.analyze_texts(texts, entities):
        kept = merge_spans(s for s in spans if s.score >= FREE_TEXT_MIN_SCORE)
        out.append([(s.start, s.end, s.entity) for s in kept])
    return out


def presidio_spans(engine, texts: list[str]) -> list[list[tuple[int, int, str]]]:
    from atlas_core.pii.classify import FREE_TEXT_MIN_SCORE
    from atlas_core.pii.entities import FREE_TEXT_EXCLUDED
    from atlas_core.pii.freetext import merge_spans

    entities = [e for e in engine.entities if e not in FREE_TEXT_EXCLUDED]
    out = []
    for text in texts:
        spans = engine.analyze_cell(text, entities) if text else []
        kept = merge_spans(s for s in spans if s.score >= FREE_TEXT_MIN_SCORE)
        out.append([(s.start, s.end, s.entity) for s in kept])
    return out


def classification(engine) -> dict:
    from atlas_core.pii.classify import ColumnInput
    from atlas_core.pii.policy import classify_columns

    labeled = labeled_columns()
    columns = [ColumnInput(name, kind, values) for name, kind, values, _ in labeled]
    decisions = classify_columns(columns, engine).decisions
    rows = []
    for name, _, _, expected in labeled:
        d = decisions[name]
        got = "FREE_TEXT" if d.free_text and d.entity else d.entity
        rows.append(
            {
                "column": name,
                "expected": expected,
                "decided": got,
                "confidence": round(d.confidence, 3),
                "ok": got == expected,
            }
        )
    correct = sum(r["ok"] for r in rows)
    pii_expected = [r for r in rows if r["expected"]]
    return {
        "columns": len(rows),
        "correct": correct,
        "accuracy": round(correct / len(rows), 4),
        "pii_columns_detected": round(sum(1 for r in pii_expected if r["decided"]) / len(pii_expected), 4),
        "false_positive_columns": [r["column"] for r in rows if not r["expected"] and r["decided"]],
        "mistakes": [r for r in rows if not r["ok"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=800)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pii_accuracy.json")
    args = parser.parse_args()
    from atlas_resources.presidio import shared_engine

    engine = shared_engine(str(ROOT / "pii" / "recognizers.yml"), 1, 256)
    items = labeled_texts(args.texts)
    texts = [i.text for i in items]
    kinds = Counter(ent for i in items for _, _, ent in i.spans)
    print(
        f"{len(items)} texts ({sum(1 for t in texts if not t)} empty), gold spans {dict(kinds)}", flush=True
    )

    started = time.perf_counter()
    fast = atlas_spans(engine, texts)
    fast_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plain = presidio_spans(engine, texts)
    plain_seconds = time.perf_counter() - started
    result = {
        "texts": len(items),
        "empty_texts": sum(1 for t in texts if not t),
        "gold_spans_by_entity": dict(sorted(kinds.items())),
        "atlas_fast_path": {
            "seconds": round(fast_seconds, 2),
            "any_entity": score(items, fast, False),
            "same_entity": score(items, fast, True),
        },
        "presidio_per_text": {
            "seconds": round(plain_seconds, 2),
            "any_entity": score(items, plain, False),
            "same_entity": score(items, plain, True),
        },
        "column_classification": classification(engine),
    }
    for name in ("atlas_fast_path", "presidio_per_text"):
        a, s = result[name]["any_entity"], result[name]["same_entity"]
        print(
            f"{name}: any entity P={a['precision']} R={a['recall']} F2={a['f2']}; "
            f"same entity P={s['precision']} R={s['recall']} F2={s['f2']} ({result[name]['seconds']}s)"
        )
    c = result["column_classification"]
    print(
        f"column classification: {c['correct']}/{c['columns']} = {c['accuracy']}; mistakes: "
        f"{[(m['column'], m['expected'], m['decided']) for m in c['mistakes']]}"
    )
    write_result(args.out, result)


if __name__ == "__main__":
    main()
