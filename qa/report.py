"""Static HTML pages for QA: ``report.html`` for a diff of two runs, and a review of one run.

The pages are rendered with Jinja2 templates (``qa/templates/*.html.j2``) with
autoescaping on: every piece of document text (titles, free text, URLs, raw
card text, reconciliation values) is escaped, so a card that prints
``<script>`` shows it as text. URLs from documents are shown as text, never as
links, and nothing is fetched. The pages need no server and no network: CSS is
inline, images are PNG crops next to the page (``crops/``), and a text source
is copied, line-numbered, to ``sources/`` for ``cardex review``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from extractors.write import atomic_write_bytes
from qa.crops import Sources, SourceView
from qa.diff import (
    BOOKKEEPING_FIELDS,
    Change,
    Diff,
    Pair,
    Run,
    char_diff,
    display,
    is_empty,
)

REPORT_FILE = "report.html"
REVIEW_FILE = "review.html"
TEMPLATES = Path(__file__).resolve().parent / "templates"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Fields shown in a card's one-line summary.
SUMMARY_FIELDS = ("jp_entities", "foreign_entities", "agreement_date_raw")

# White space made visible inside a highlighted insertion or deletion.
_VISIBLE_WS = str.maketrans({"\n": "↵\n", " ": "␣", "\u3000": "␣", "\t": "⇥"})


def environment() -> jinja2.Environment:
    """The Jinja2 environment of the QA pages: autoescape on for every template, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # the templates end in .html.j2, which select_autoescape would not recognise
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["display"] = display
    env.filters["is_empty"] = is_empty
    return env


def _search_paths(runs: Sequence[Run]) -> list[Path]:
    return [*(r.path for r in runs), PROJECT_ROOT]


def _run_meta(run: Run) -> dict[str, Any]:
    info = run.info or {}
    versions = sorted({r.get("extractor_version") or "?" for r in run.records})
    inputs = [
        {"path": i.get("path"), "kind": i.get("kind"), "status": i.get("status"), "error": i.get("error"),
         "counts": i.get("counts") or {}}
        for i in info.get("inputs") or ()
    ]
    return {
        "path": str(run.path),
        "survey_ids": run.survey_ids,
        "extractor_versions": versions,
        "finished": info.get("finished"),
        "status": info.get("status"),
        "inputs": inputs,
        "records": len(run.records),
        "rejects": len(run.rejects),
        "warnings": run.warning_count,
        "has_provenance": run.has_provenance,
        "has_reconciliation": run.reconciliation is not None,
        "problems": run.problems,
        "has_info": run.info is not None,
    }


def _segments(old: Any, new: Any) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    left, right = char_diff(display(old), display(new))
    return _visible(left), _visible(right)


def _visible(segments: Sequence[Any]) -> list[dict[str, str]]:
    return [
        {"op": s.op, "text": s.text.translate(_VISIBLE_WS) if s.op in ("ins", "del") else s.text} for s in segments
    ]


def _card_view(card: dict[str, Any] | None) -> dict[str, Any] | None:
    if card is None:
        return None
    return {
        "card_id": card.get("card_id"),
        "category_code": card.get("category_code"),
        "category": card.get("category"),
        "card_no": card.get("card_no"),
        "title": card.get("title") or "",
        "relisted": card.get("relisted"),
        "agreement_key": card.get("agreement_key"),
        "jp": display(card.get("jp_entities")).replace("\n", "、"),
        "foreign": display(card.get("foreign_entities")).replace("\n", "、"),
        "date": card.get("agreement_date_raw") or "",
        "warnings": list(card.get("warnings") or ()),
        "pages": _pages(card),
    }


def _pages(card: dict[str, Any]) -> str:
    a, b = card.get("page_start"), card.get("page_end")
    if a is None:
        return ""
    return f"p. {a}" if b in (None, a) else f"pp. {a}–{b}"


def _field_rows(card: dict[str, Any], fields: Sequence[str], sources: Sources, has_provenance: bool) -> list[dict]:
    return [
        {
            "field": f,
            "value": display(card.get(f)),
            "empty": is_empty(card.get(f)),
            "is_url": f == "urls",
            "sources": sources.views(card, f, has_provenance=has_provenance) if not is_empty(card.get(f)) else [],
        }
        for f in fields
    ]


# ---------------------------------------------------------------- diff report


def diff_context(diff: Diff, sources: Sources) -> dict[str, Any]:
    """Everything report.html shows, as plain values."""
    old_prov, new_prov = diff.old.has_provenance, diff.new.has_provenance

    def change_view(c: Change) -> dict[str, Any]:
        left, right = _segments(c.old_value, c.new_value)
        return {
            "field": c.field,
            "kind": c.kind,
            "whitespace_only": c.whitespace_only,
            "old": left,
            "new": right,
            "old_empty": is_empty(c.old_value),
            "new_empty": is_empty(c.new_value),
            "old_sources": sources.views(c.pair.old, c.field, has_provenance=old_prov),
            "new_sources": sources.views(c.pair.new, c.field, has_provenance=new_prov),
        }

    changed = []
    for pair, changes in diff.changed_pairs():
        changed.append({
            "anchor": _anchor(pair),
            "old": _card_view(pair.old),
            "new": _card_view(pair.new),
            "match": pair.match,
            "changes": [change_view(c) for c in changes],
        })

    def whole(pair: Pair, has_prov: bool) -> dict[str, Any]:
        card = pair.card
        return {
            "anchor": _anchor(pair),
            "card": _card_view(card),
            "fields": _field_rows(card, diff.fields, sources, has_prov),
        }

    counts = diff.field_counts()
    where: dict[str, list[dict[str, str]]] = {f: [] for f in diff.fields}
    for item in changed:
        label = item["new"]["card_id"]
        for ch in item["changes"]:
            if not where[ch["field"]] or where[ch["field"]][-1]["label"] != label:
                where[ch["field"]].append({"label": label, "anchor": item["anchor"]})
    return {
        "title": "cardex diff",
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "old": _run_meta(diff.old),
        "new": _run_meta(diff.new),
        "totals": diff.totals,
        "ignore_whitespace": diff.ignore_whitespace,
        "fields": [{"field": f, **counts[f], "where": where[f]} for f in diff.fields],
        "not_compared": list(BOOKKEEPING_FIELDS),
        "only_old": diff.only_old,
        "only_new": diff.only_new,
        "added": [whole(p, new_prov) for p in diff.added],
        "removed": [whole(p, old_prov) for p in diff.removed],
        "changed": changed,
    }


def _anchor(pair: Pair) -> str:
    old = pair.old.get("card_id") if pair.old else "none"
    new = pair.new.get("card_id") if pair.new else "none"
    return f"card-{old}-{new}"


def render_diff_report(diff: Diff, out_dir: str | Path, *, crops: bool = True) -> Path:
    """Write ``out_dir/report.html`` (and ``out_dir/crops/*.png``); return the page's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with Sources(out, _search_paths([diff.old, diff.new]), render=crops) as sources:
        context = diff_context(diff, sources)
    html = environment().get_template("diff.html.j2").render(**context)
    return atomic_write_bytes(out / REPORT_FILE, html.encode("utf-8"))


# ---------------------------------------------------------------- review of one run


def review_context(run: Run, sources: Sources) -> dict[str, Any]:
    """Everything review.html shows, as plain values."""
    shown = [c for c in run.columns if c not in BOOKKEEPING_FIELDS]
    prov = run.has_provenance

    def card(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "card": _card_view(record),
            "anchor": f"card-{record.get('card_id')}",
            "fields": _field_rows(record, shown, sources, prov),
            "bookkeeping": [
                {"field": f, "value": display(record.get(f))}
                for f in ("card_id", "card_no", "agreement_key", "page_start", "page_end", "source_path", "extractor_version")
                if f in record
            ],
        }

    rejects = []
    for r in sorted(run.rejects, key=lambda r: (r.get("category_code") or 0, r.get("card_no") or 0)):
        view: SourceView | None = None
        if r.get("line_start") is not None and not (r.get("source_path") or "").lower().endswith(".pdf"):
            views = sources.views(
                {**r, "provenance": [{"field": "raw", "line_start": r["line_start"], "line_end": r["line_start"]}]},
                "raw",
            )
            view = views[0] if views else None
        rejects.append({
            "card_id": r.get("card_id"),
            "category_code": r.get("category_code"),
            "card_no": r.get("card_no"),
            "pages": _pages(r),
            "line_start": r.get("line_start"),
            "reasons": list(r.get("reasons") or ()),
            "warnings": list(r.get("warnings") or ()),
            "raw_text": r.get("raw_text") or "",
            "source_path": r.get("source_path"),
            "source": view,
        })
    records = [card(r) for r in run.records]
    warned = [c for c in records if c["card"]["warnings"]]
    warning_counts: dict[str, int] = {}
    for c in warned:
        for w in c["card"]["warnings"]:
            code = w.split(":", 1)[0]
            warning_counts[code] = warning_counts.get(code, 0) + 1
    return {
        "title": "cardex review",
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run": _run_meta(run),
        "rejects": rejects,
        "warned": warned,
        "warning_counts": sorted(warning_counts.items(), key=lambda kv: (-kv[1], kv[0])),
        "records": records,
        "reconciliation": run.reconciliation,
        "has_reconciliation": run.reconciliation is not None,
    }


def render_review(run: Run, out_dir: str | Path, *, crops: bool = True) -> Path:
    """Write ``out_dir/review.html`` (with ``crops/`` and ``sources/``); return the page's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    with Sources(out, _search_paths([run]), render=crops, link_lines=True) as sources:
        context = review_context(run, sources)
        for name, src in sources.source_pages.items():
            page = env.get_template("source.html.j2").render(title=src["path"], **src)
            atomic_write_bytes(out / "sources" / name, page.encode("utf-8"))
    html = env.get_template("review.html.j2").render(**context)
    return atomic_write_bytes(out / REVIEW_FILE, html.encode("utf-8"))
