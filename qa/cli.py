"""``cardex diff`` and ``cardex review``: QA pages over published runs.

    cardex diff OLD_DIR NEW_DIR --out REPORT_DIR [--fail-on-change FIELD,...] [--ignore-whitespace] [--no-crops]
    cardex review RUN_DIR [--out REPORT_DIR] [--no-crops]

``diff`` writes REPORT_DIR/diff.parquet (one row per change) and
REPORT_DIR/report.html (+ crops/). ``review`` writes REPORT_DIR/review.html
(+ crops/, sources/); REPORT_DIR defaults to RUN_DIR/review.

Exit codes: 0 done (for diff: no field named by --fail-on-change changed);
1 a field named by --fail-on-change changed (the CI gate; the report is
still written); 2 usage error, including a folder that is not a readable run
directory; 3 the report could not be written or an internal error.

Registered in the ``cardex`` parser by :func:`add_qa_commands`.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

PROG = "cardex"

DIFF_EPILOG = (
    "Cards are paired by agreement identity (agreement_key; then title, category, parties), not by number or "
    "position: renumbered or reordered cards are not changes. Not compared: survey_id, source_path, source_sha256, "
    "extractor_version, card_id, card_no, page_start, page_end, provenance, agreement_key. "
    "exit status: 0 done, no gated field changed; 1 a --fail-on-change field changed; 2 usage error or not a run "
    "directory; 3 could not write the report"
)


def _err(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _write_failed(exc: Exception, target: object) -> int:
    """Exit status 3 after a report could not be written (``OSError``) or a bug (anything else: one line)."""
    if isinstance(exc, OSError):
        _err(f"could not write {exc.filename or target}: {exc.strerror or exc}")
    else:
        _err(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
    return 3


def _field_list(value: str) -> list[str]:
    from extractors.records import RECORD_SCHEMA
    from qa.diff import BOOKKEEPING_FIELDS, CARD

    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give one or more field names, e.g. phones,emails")
    allowed = [n for n in RECORD_SCHEMA.names if n not in BOOKKEEPING_FIELDS]
    unknown = [n for n in names if n != CARD and n not in allowed]
    if unknown:
        bookkeeping = [n for n in unknown if n in BOOKKEEPING_FIELDS]
        hint = f" ({', '.join(bookkeeping)}: bookkeeping, never compared)" if bookkeeping else ""
        raise argparse.ArgumentTypeError(
            f"unknown field(s) {', '.join(unknown)}{hint}; choose from {', '.join(allowed)}, or * for cards added/removed"
        )
    return names


def add_qa_commands(sub: Any) -> None:
    """Register ``diff`` and ``review`` on the ``cardex`` subparsers."""
    d = sub.add_parser(
        "diff",
        help="compare two runs card by card: diff.parquet and report.html",
        description=(
            "Compare two run folders (made by `cardex extract`) card by card and field by field. "
            "Writes REPORT_DIR/diff.parquet (one row per changed field; a whole card added or removed is one row "
            "with field *) and REPORT_DIR/report.html, a static page with totals, changes per field, added and "
            "removed cards and every changed value old vs new, highlighted character by character, beside a crop "
            "of the PDF page it was read from (REPORT_DIR/crops/)."
        ),
        epilog=DIFF_EPILOG,
    )
    d.add_argument("old_dir", metavar="OLD_DIR", help="run folder of the earlier run")
    d.add_argument("new_dir", metavar="NEW_DIR", help="run folder of the later run")
    d.add_argument("--out", required=True, metavar="REPORT_DIR", help="folder for diff.parquet and report.html")
    d.add_argument(
        "--fail-on-change", type=_field_list, metavar="FIELD,...", default=[],
        help="exit 1 when any of these fields changed (* = a card added or removed); for CI gates",
    )
    d.add_argument(
        "--ignore-whitespace", action=argparse.BooleanOptionalAction, default=False,
        help="leave out values that differ only in white space (line breaks, spaces); they are counted, not "
        "listed (default: listed and marked 'white space only')",
    )
    d.add_argument("--no-crops", action="store_true", help="do not render PDF crops (faster)")
    d.set_defaults(func=cmd_diff)

    r = sub.add_parser(
        "review",
        help="write a review page for one run: rejects, warnings, records with their sources",
        description=(
            "Write REPORT_DIR/review.html for one run folder: rejects first (reasons, raw text), then records "
            "with warnings, the reconciliation (reconciliation.json, when the run has one) and every record, each "
            "value beside its source: a crop of the PDF page, or a link to the lines of the source text."
        ),
        epilog="exit status: 0 done; 2 usage error or not a run directory; 3 could not write the page",
    )
    r.add_argument("run_dir", metavar="RUN_DIR", help="run folder made by `cardex extract`")
    r.add_argument("--out", metavar="REPORT_DIR", help="output folder (default: RUN_DIR/review)")
    r.add_argument("--no-crops", action="store_true", help="do not render PDF crops (faster)")
    r.set_defaults(func=cmd_review)


def cmd_diff(args: argparse.Namespace) -> int:
    from qa.diff import CARD, RunDirError, diff_runs, load_run, write_diff_parquet
    from qa.report import render_diff_report

    started = time.perf_counter()
    try:
        old, new = load_run(args.old_dir), load_run(args.new_dir)
    except RunDirError as exc:
        _err(str(exc))
        return 2
    try:
        diff = diff_runs(old, new, ignore_whitespace=args.ignore_whitespace)
        write_diff_parquet(diff, args.out)
        page = render_diff_report(diff, args.out, crops=not args.no_crops)
    except Exception as exc:  # noqa: BLE001 - one line, exit 3
        return _write_failed(exc, args.out)
    counts = diff.changed_fields()
    print(f"{PROG} diff: {diff.summary_line()} -> {page} ({time.perf_counter() - started:.1f} s)", flush=True)
    gated = {f: counts[f] for f in args.fail_on_change if counts.get(f)}
    if gated:
        what = ", ".join(f"{'cards added/removed' if f == CARD else f} {n}" for f, n in gated.items())
        print(f"{PROG} diff: FAIL: gated fields changed: {what}", file=sys.stderr, flush=True)
        return 1
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qa.diff import RunDirError, load_run
    from qa.report import render_review

    started = time.perf_counter()
    try:
        run = load_run(args.run_dir)
    except RunDirError as exc:
        _err(str(exc))
        return 2
    out = Path(args.out) if args.out else Path(args.run_dir) / "review"
    try:
        page = render_review(run, out, crops=not args.no_crops)
    except Exception as exc:  # noqa: BLE001 - one line, exit 3
        return _write_failed(exc, out)
    warned = sum(1 for r in run.records if r.get("warnings"))
    print(
        f"{PROG} review: {len(run.records)} records, {len(run.rejects)} rejects, {warned} cards with warnings"
        f" -> {page} ({time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    return 0
