"""Benchmark: each extraction stage on the text and the PDF, against bare pdfplumber text extraction.

Not a test: it measures and reports. Run from the repository root:

    .venv/bin/python bench/bench_extract.py [--repeat 5] [--json outputs/bench.json]

Reports medians (seconds) of `--repeat` runs for:
  * text input: read, segment, extract (fields + validation), total;
  * PDF input: the same stages, and bare `pdfplumber` `page.extract_text()`
    over every page of the same PDF, in the same process, and the ratio
    full extraction / bare text extraction;
  * one-time costs, apart: loading spaCy's Japanese pipeline (SudachiPy);
  * Prefect overhead: the embedded flow on the text input minus the library path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXT = ROOT / "corpus" / "002_e59d51f378d5a747.txt"
PDF = ROOT / "corpus" / "pdf" / "clair2012_tokutei.pdf"


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def stages(path: Path) -> dict[str, float]:
    """Time read -> segment -> extract for one input."""
    from extractors.pipeline import cards_to_records
    from extractors.readers import read_document
    from extractors.segment import document_to_cards

    doc, t_read = timed(read_document, path)
    seg, t_segment = timed(document_to_cards, doc)
    (records, rejects), t_extract = timed(cards_to_records, seg.cards, doc, "bench")
    assert len(seg.cards) == len(records) + len(rejects)
    return {"read": t_read, "segment": t_segment, "extract": t_extract,
            "total": t_read + t_segment + t_extract, "cards": len(seg.cards)}


def bare_pdfplumber(path: Path) -> float:
    """pdfplumber's own extract_text over every page: the floor for any PDF extraction."""
    import pdfplumber

    t0 = time.perf_counter()
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            page.extract_text()
    return time.perf_counter() - t0


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def prefect_overhead(repeat: int) -> dict[str, float]:
    """Wall time of `cardex extract` (embedded Prefect) vs the library path, each in a fresh process."""
    lib = [
        "import time,sys; t=time.perf_counter(); from extractors.pipeline import extract_document; "
        f"extract_document({str(TEXT)!r}, 'bench'); print(time.perf_counter()-t)"
    ]
    cli = ROOT / ".venv" / "bin" / "cardex"
    out: dict[str, list[float]] = {"library_process": [], "cardex_extract_process": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", *lib], cwd=ROOT, check=True, capture_output=True)
        out["library_process"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([str(cli), "extract", str(TEXT), "--survey-id", "bench", "--out",
                        str(ROOT / "outputs" / "bench-prefect")], cwd=ROOT, check=True, capture_output=True)
        out["cardex_extract_process"].append(time.perf_counter() - t0)
    result = {k: statistics.median(v) for k, v in out.items()}
    result["prefect_overhead"] = result["cardex_extract_process"] - result["library_process"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument("--no-prefect", action="store_true", help="skip the Prefect overhead runs")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from nlp.tokenizer import japanese

    japanese()
    load = time.perf_counter() - t0
    stages(TEXT)  # warm caches once (rule files, pycountry names)

    text = medians([stages(TEXT) for _ in range(args.repeat)])
    pdf_runs, bare_runs = [], []
    for _ in range(args.repeat):
        pdf_runs.append(stages(PDF))
        bare_runs.append(bare_pdfplumber(PDF))
    pdf = medians(pdf_runs)
    bare = statistics.median(bare_runs)
    report = {
        "repeat": args.repeat,
        "one_time": {"import_and_load_spacy_japanese": load},
        "text": text,
        "pdf": pdf,
        "pdf_bare_pdfplumber_extract_text": bare,
        "pdf_ratio_full_over_bare": pdf["total"] / bare,
    }
    if not args.no_prefect:
        report["prefect"] = prefect_overhead(max(1, min(args.repeat, 3)))

    print(f"medians of {args.repeat} runs (seconds)")
    print(f"  one-time: import + load spaCy ja pipeline {load:.3f}")
    for name, figures in (("text", text), ("pdf", pdf)):
        print(f"  {name:4s}: read {figures['read']:.3f}  segment {figures['segment']:.3f}  "
              f"extract {figures['extract']:.3f}  total {figures['total']:.3f}  ({int(figures['cards'])} cards)")
    print(f"  bare pdfplumber extract_text, all pages: {bare:.3f}")
    print(f"  ratio full PDF extraction / bare text extraction: {report['pdf_ratio_full_over_bare']:.2f}x (goal <= 1.3x)")
    print(f"  text input, 175 cards: {text['total']:.3f} s (goal <= 1 s, Prefect excluded)")
    if "prefect" in report:
        p = report["prefect"]
        print(f"  prefect: library process {p['library_process']:.2f}  cardex extract process "
              f"{p['cardex_extract_process']:.2f}  overhead {p['prefect_overhead']:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
