"""Free-text PII on public labeled corpora nobody here wrote (issue 14).

Corpora (fetched by hand, kept outside every git repository, passed as arguments; see docs/pii.md):

- ``--presidio-research FILE``: ``data/synth_dataset_v2.json`` of github.com/microsoft/presidio-research
  (MIT): 1,500 short texts with PERSON, STREET_ADDRESS, GPE, ZIP_CODE, PHONE_NUMBER, CREDIT_CARD,
  IBAN_CODE, EMAIL_ADDRESS, US_SSN, IP_ADDRESS, US_DRIVER_LICENSE... spans.
- ``--usaddress FILE``: ``training/labeled.xml`` of github.com/datamade/usaddress (MIT): real US
  addresses tagged component by component (``Recipient`` is neutral, everything else is address).
- ``--wnut DIR``: ``wnut17train.conll``, ``emerging.dev.conll``, ``emerging.test.annotated`` of
  github.com/leondz/emerging_entities_17 (CC-BY 4.0): tweets, Reddit, YouTube, StackExchange posts
  with person and location labels (corporation, product, creative-work, group are neutral).

Every text is put in a deterministic part by the hash of its text: ``dev`` (tuned on) or ``test``
(reported untouched). Scoring is token level: the words of the anonymized output are aligned to the
input words (difflib); a word inside a labeled span of a scored type counts as removed when it no
longer appears (recall); a removed word inside no labeled span at all counts against precision.
Per-type precision uses the detector's own spans (share of the words it flagged as that type that
lie in some labeled span).

Systems, in one process: Atlas' free-text transform (the silver stage's ``PiiTransform`` on a column
declared free text, the same code ``atlas pii scan`` runs), and default Presidio (``AnalyzerEngine``
on the same spaCy model, every default recognizer, per text, then ``AnonymizerEngine``). Speed: the
whole ``scan_csv`` (``atlas pii scan``, columns classified from the file itself) of the presidio-research
notes against per-text default Presidio + AnonymizerEngine on the same notes.

    .venv/bin/python benchmarks/pii_public.py \
        --presidio-research /work/data-public/presidio-research/synth_dataset_v2.json \
        --usaddress /work/data-public/usaddress/labeled.xml --wnut /work/data-public/wnut17

Writes ``benchmarks/results/pii_public.json``.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from benchmarks.results import write_result  # noqa: E402

# Scored categories (the issue's list) and how each corpus' labels map to them; other labels are neutral.
SCORED = ("person", "address", "place", "postal", "phone", "email", "card", "iban", "ssn", "ip", "licence")
NEUTRAL = "neutral"
# Entities Presidio's research corpus labels and the detector reports under the same names.
_SAME_NAMED = {
    "PHONE_NUMBER": "phone",
    "EMAIL_ADDRESS": "email",
    "CREDIT_CARD": "card",
    "IBAN_CODE": "iban",
    "US_SSN": "ssn",
    "IP_ADDRESS": "ip",
    "US_DRIVER_LICENSE": "licence",
}
PRESIDIO_RESEARCH = {
    "PERSON": "person",
    "STREET_ADDRESS": "address",
    "GPE": "place",
    "ZIP_CODE": "postal",
    **_SAME_NAMED,
}
WNUT = {"person": "person", "location": "place"}
# Detector entities -> category (for per-type precision only).
DETECTED = {
    "PERSON": "person",
    "LOCATION": "place",
    "STREET_ADDRESS": "address",
    "POSTAL_CODE": "postal",
    **_SAME_NAMED,
}
WORD = re.compile(r"\w+")


@dataclass
class Doc:
    corpus: str
    text: str
    spans: list[tuple[int, int, str]]  # (start, end, category or NEUTRAL)

    @property
    def part(self) -> str:
        digest = hashlib.sha256(f"{self.corpus}\x00{self.text}".encode()).digest()
        return "dev" if digest[0] % 2 == 0 else "test"


# -- corpora -------------------------------------------------------------------------------------------
def load_presidio_research(path: Path) -> list[Doc]:
    docs = []
    for item in json.loads(path.read_text(encoding="utf-8")):
        spans = [
            (s["start_position"], s["end_position"], PRESIDIO_RESEARCH.get(s["entity_type"], NEUTRAL))
            for s in item["spans"]
        ]
        docs.append(Doc("presidio_research", item["full_text"], spans))
    return docs


def load_usaddress(path: Path) -> list[Doc]:
    docs = []
    for node in ET.parse(path).getroot().iter("AddressString"):
        text, spans = "", []
        for part in node:
            start = len(text)
            text += part.text or ""
            spans.append((start, len(text), NEUTRAL if part.tag == "Recipient" else "address"))
            text += part.tail or " "
        text = text.rstrip()
        if text:
            docs.append(Doc("usaddress", text, spans))
    return docs


def load_wnut(directory: Path) -> list[Doc]:
    docs = []
    for name in ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated"):
        for block in re.split(r"\n\s*\n", (directory / name).read_text(encoding="utf-8")):
            text, spans = "", []
            current: list[int] | None = None
            for line in block.splitlines():
                if "\t" not in line:
                    continue
                token, tag = line.rsplit("\t", 1)
                if text:
                    text += " "
                start = len(text)
                text += token
                if tag.startswith("B-") or (tag.startswith("I-") and current is None):
                    label = WNUT.get(tag[2:], NEUTRAL)
                    current = [start, len(text)]
                    spans.append((start, len(text), label))
                elif tag.startswith("I-") and current is not None:
                    s, _, label = spans[-1]
                    spans[-1] = (s, len(text), label)
                else:
                    current = None
            if text.strip():
                docs.append(Doc("wnut17", text, spans))
    return docs


# -- scoring -------------------------------------------------------------------------------------------
def removed_words(text: str, output: str) -> list[tuple[int, int, bool]]:
    """Input words (start, end, removed) with the output's words aligned to them."""
    words = [(m.start(), m.end(), m.group()) for m in WORD.finditer(text)]
    out_words = WORD.findall(output)
    kept = [False] * len(words)
    matcher = difflib.SequenceMatcher(None, [w[2] for w in words], out_words, autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            kept[i] = True
    return [(s, e, not k) for (s, e, _), k in zip(words, kept, strict=True)]


def _label_of(start: int, end: int, spans: list[tuple[int, int, str]]) -> str | None:
    labels = [lab for s, e, lab in spans if s < end and start < e]
    scored = [lab for lab in labels if lab in SCORED]
    return scored[0] if scored else (labels[0] if labels else None)


def score(docs: list[Doc], outputs: list[str], detected: list[list[tuple[int, int, str]]]) -> dict:
    in_span = {c: [0, 0] for c in SCORED}  # removed, total
    flagged = {c: [0, 0] for c in SCORED}  # inside a label, total
    removed_total = removed_inside = 0
    for doc, output, found in zip(docs, outputs, detected, strict=True):
        for start, end, removed in removed_words(doc.text, output):
            label = _label_of(start, end, doc.spans)
            if label in SCORED:
                in_span[label][1] += 1
                in_span[label][0] += removed
            if removed:
                removed_total += 1
                removed_inside += label is not None
            for s, e, entity in found:
                category = DETECTED.get(entity)
                if category and s < end and start < e:
                    flagged[category][1] += 1
                    flagged[category][0] += label is not None
                    break
    recall_words = sum(v[0] for v in in_span.values())
    total_words = sum(v[1] for v in in_span.values())
    return {
        "texts": len(docs),
        "recall": _ratio(recall_words, total_words),
        "precision": _ratio(removed_inside, removed_total),
        "labeled_words": total_words,
        "removed_words": removed_total,
        "recall_by_type": {c: {"recall": _ratio(*v), "words": v[1]} for c, v in in_span.items() if v[1]},
        "precision_by_type": {
            c: {"precision": _ratio(*v), "words": v[1]} for c, v in flagged.items() if v[1]
        },
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


# -- systems -------------------------------------------------------------------------------------------
def atlas_system(engine, keys) -> Callable[[list[str]], tuple[list[str], list[list[tuple[int, int, str]]]]]:
    """The silver stage's free-text transform on a column declared free text (``replace``)."""
    import pyarrow as pa

    from atlas_core.pii.classify import ColumnDecision
    from atlas_core.pii.entities import FREE_TEXT_EXCLUDED
    from atlas_core.pii.policy import PiiPolicy
    from atlas_core.pii.strategies import Anonymizer
    from atlas_core.pii.transform import PiiTransform

    def run(texts: list[str]) -> tuple[list[str], list[list[tuple[int, int, str]]]]:
        decision = ColumnDecision("note", "PERSON", 1.0, "replace", free_text=True, source="contract")
        transform = PiiTransform(PiiPolicy({"note": decision}), Anonymizer(keys), engine)
        batch = pa.RecordBatch.from_arrays([pa.array(texts, pa.string())], names=["note"])
        out = transform(batch).column(0).to_pylist()
        entities = [e for e in engine.entities if e not in FREE_TEXT_EXCLUDED]
        spans = engine.analyze_texts(texts, entities)
        return out, [[(s.start, s.end, s.entity) for s in doc] for doc in spans]

    return run


def presidio_system(analyzer, anonymizer):
    def run(texts: list[str]) -> tuple[list[str], list[list[tuple[int, int, str]]]]:
        outs, found = [], []
        for text in texts:
            results = analyzer.analyze(text, "en")
            outs.append(anonymizer.anonymize(text, results).text)
            found.append([(r.start, r.end, r.entity_type) for r in results])
        return outs, found

    return run


def speed(docs: list[Doc], engine, keys, analyzer, anonymizer) -> dict:
    """``atlas pii scan`` of the notes file (classified from the file) vs per-text default Presidio."""
    from atlas_engine.pii_scan import scan_csv

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "notes.csv"
        with src.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["note_id", "note"])
            for i, doc in enumerate(docs):
                writer.writerow([i, doc.text])
        engine.analyze_texts(["warm up"], engine.entities)
        started = time.perf_counter()
        result = scan_csv(src, Path(tmp) / "out.csv", engine, keys)
        atlas_s = time.perf_counter() - started
        with (Path(tmp) / "out.csv").open(encoding="utf-8", newline="") as fh:
            scanned = [row["note"] for row in csv.DictReader(fh)]
    started = time.perf_counter()
    presidio_system(analyzer, anonymizer)([d.text for d in docs])
    presidio_s = time.perf_counter() - started
    return {
        "notes": len(docs),
        "atlas_pii_scan_seconds": round(atlas_s, 2),
        "presidio_per_text_seconds": round(presidio_s, 2),
        "speedup": round(presidio_s / atlas_s, 2),
        "scan_columns": result.columns,
        "scan_accuracy_all_parts": score(docs, scanned, [[] for _ in docs]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--presidio-research", type=Path, help="synth_dataset_v2.json of microsoft/presidio-research"
    )
    parser.add_argument("--usaddress", type=Path, help="training/labeled.xml of datamade/usaddress")
    parser.add_argument("--wnut", type=Path, help="directory with the WNUT-17 .conll files")
    parser.add_argument("--part", choices=("dev", "test", "both"), default="both")
    parser.add_argument("--skip-presidio", action="store_true", help="only Atlas (faster while tuning)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pii_public.json")
    args = parser.parse_args()

    corpora: dict[str, list[Doc]] = {}
    if args.presidio_research:
        corpora["presidio_research"] = load_presidio_research(args.presidio_research)
    if args.usaddress:
        corpora["usaddress"] = load_usaddress(args.usaddress)
    if args.wnut:
        corpora["wnut17"] = load_wnut(args.wnut)
    if not corpora:
        parser.error("give at least one corpus")

    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    from atlas_core.pii.keys import build_keyring
    from atlas_resources.presidio import SPACY_MODEL, default_recognizers_path, shared_engine

    keys = build_keyring(None, "dev", None, environment="development")
    engine = shared_engine(str(default_recognizers_path(ROOT)))
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    anonymizer = AnonymizerEngine()
    systems = {"atlas": atlas_system(engine, keys)}
    if not args.skip_presidio:
        systems["presidio_default"] = presidio_system(analyzer, anonymizer)

    parts = ("dev", "test") if args.part == "both" else (args.part,)
    results: dict = {"parts": {}, "corpora": {n: len(d) for n, d in corpora.items()}}
    for part in parts:
        results["parts"][part] = {}
        for system, run in systems.items():
            per_corpus = {}
            all_docs, all_out, all_found = [], [], []
            for name, docs in corpora.items():
                chosen = [d for d in docs if d.part == part]
                outs, found = run([d.text for d in chosen])
                per_corpus[name] = score(chosen, outs, found)
                all_docs += chosen
                all_out += outs
                all_found += found
            per_corpus["all"] = score(all_docs, all_out, all_found)
            results["parts"][part][system] = per_corpus
            for name, s in per_corpus.items():
                by_type = " ".join(f"{c}={v['recall']}" for c, v in s["recall_by_type"].items())
                print(
                    f"{part:4} {system:16} {name:17} n={s['texts']:5} recall={s['recall']} "
                    f"precision={s['precision']} | {by_type}"
                )
    if "presidio_research" in corpora and not args.skip_presidio:
        results["speed"] = speed(corpora["presidio_research"], engine, keys, analyzer, anonymizer)
        sp = results["speed"]
        print(
            f"speed: atlas pii scan {sp['atlas_pii_scan_seconds']}s, per-text Presidio "
            f"{sp['presidio_per_text_seconds']}s: {sp['speedup']}x; scan recall "
            f"{sp['scan_accuracy_all_parts']['recall']} precision "
            f"{sp['scan_accuracy_all_parts']['precision']}"
        )
    write_result(args.out, results)


if __name__ == "__main__":
    main()
