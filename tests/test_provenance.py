"""Provenance: every field value says where it was printed, and the place holds the value.

* PDF (``corpus/pdf/clair2012_tokutei.pdf``): 20 field values sampled with a fixed seed across
  fields and cards; each value's provenance boxes are cropped out of the page with pdfplumber,
  the text is extracted again, and the value must be in it. Only the pages needed are read
  (the legend, the nine category heading pages and the sampled cards' pages), about 2 s.
* Text (``corpus/002_*.txt``): for every value of every card, the source lines of its line span
  contain it.
* The pure function :func:`extractors.provenance.lines_to_provenance` on hand-made lines,
  including a value printed over two pages: no card of the 2012 PDF spans two pages (its TOC
  gives every card one page: 14, 15, … with only the category heading pages in between), so
  the sampler takes such a value when one exists and the unit test covers the two-page case.

Free text (title, date, background, activities, outcomes) must appear as one run in the
cropped text. A table cell's value (parties, URLs, contact) must appear with its characters in
order: pdfplumber reads a cropped row line by line, so a label cell centred beside a wrapped
value lands between the value's two lines (``フランス共和国…イッシー・レ・海外の自治体ムリノー市``).
"""

from __future__ import annotations

import html
import random
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pdfplumber
import pytest

from extractors.document import Box, Line
from extractors.pipeline import cards_to_records, extract_document
from extractors.provenance import PROVENANCE_FIELDS, lines_containing, lines_to_provenance, squash
from extractors.read_pdf import read_pdf
from extractors.records import RECORD_SCHEMA, AgreementRecord, Provenance
from extractors.segment import document_to_cards

REPO = Path(__file__).resolve().parent.parent
SURVEY_TXT = REPO / "corpus" / "002_e59d51f378d5a747.txt"
SURVEY_PDF = REPO / "corpus" / "pdf" / "clair2012_tokutei.pdf"
SEED = 2012
N_VALUES = 20
N_PAGES = 12  # card pages read for the sample
CROP_TOLERANCE_PT = 1.0
# The 2012 PDF: the legend 【分野】 is on page 3, each category heading on a page of its own.
LEGEND_PAGE = 3
CATEGORY_PAGES = (13, 40, 66, 75, 77, 89, 114, 154, 180)
LAST_PAGE = 196
MARKUP = re.compile(r"</?(?:p|ul|ol|li|br|div|span|strong|em|b|i|u|table|tbody|tr|td|th|font|a|h[1-6])\b[^>]*>")
FREE_TEXT = {"title", "agreement_date", "background", "activities", "outcomes"}


def field_values(record: AgreementRecord, name: str) -> list[str]:
    """The printed pieces of one field value: list items, text lines, the raw date, phone numbers."""
    if name == "agreement_date":
        value = record.agreement_date_raw
    elif name == "phones":
        return [p.number for p in record.phones]
    else:
        value = getattr(record, name)
    if isinstance(value, str):
        return [v for v in value.split("\n") if v.strip()]
    return [v for v in value if v.strip()]


def digits(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())


def in_order(needle: str, hay: str) -> bool:
    """Every character of ``needle`` occurs in ``hay``, in the same order."""
    it = iter(hay)
    return all(ch in it for ch in needle)


def holds(name: str, value: str, text: str) -> bool:
    """Whether extracted ``text`` holds a field value (see the module docstring)."""
    if name == "phones":
        return digits(value) in digits(text)
    if name in FREE_TEXT:
        return squash(value) in squash(text)
    return in_order(squash(value), squash(text))


# --------------------------------------------------------------------------- the record declaration


def test_provenance_is_the_last_column_and_a_list_of_structs():
    assert RECORD_SCHEMA.names[-1] == "provenance"
    item = RECORD_SCHEMA.field("provenance").type.value_type
    assert [f.name for f in item] == ["field", "page", "x0", "top", "x1", "bottom", "line_start", "line_end"]
    assert RECORD_SCHEMA.field("provenance").metadata[b"doc"]


# --------------------------------------------------------------------------- pure function


def test_text_lines_give_one_span_with_no_page_or_box():
    lines = [Line("a", lineno=10), Line("b", lineno=12, lineno_end=14), Line("c", lineno=11)]
    assert lines_to_provenance("background", lines) == [Provenance("background", line_start=10, line_end=14)]
    assert lines_to_provenance("background", []) == []


def test_pdf_lines_give_one_union_box_per_page():
    one = Line("x", lineno=7, page=14, boxes=(Box(14, 72.0, 100.0, 500.0, 110.0), Box(14, 72.0, 112.0, 300.0, 122.0)))
    # a paragraph that goes on over the page break: one box on each page
    two = Line("y", lineno=8, page=14, page_end=15,
               boxes=(Box(14, 80.0, 124.0, 520.0, 134.0), Box(15, 72.0, 50.0, 200.0, 60.0)))
    assert lines_to_provenance("activities", [one, two]) == [
        Provenance("activities", page=14, x0=72.0, top=100.0, x1=520.0, bottom=134.0, line_start=7, line_end=8),
        Provenance("activities", page=15, x0=72.0, top=50.0, x1=200.0, bottom=60.0, line_start=8, line_end=8),
    ]


def test_lines_containing_narrows_to_the_lines_that_print_the_value():
    rows = [Line("担当部署名\t市民協働推進課\t\t", 1), Line("電話番号\t０１７－７３４－５２３５\t電子メール\tx＠y.jp", 2)]
    assert lines_containing(rows, ["017-734-5235"], digits_only=True) == [rows[1]]
    assert lines_containing(rows, ["x@y.jp"]) == [rows[1]]
    assert lines_containing(rows, ["市民協働推進課"]) == [rows[0]]
    assert lines_containing(rows, ["どこにもない"]) == []


# --------------------------------------------------------------------------- text input


@pytest.fixture(scope="module")
def text_result():
    return extract_document(SURVEY_TXT, "clair-2012")


def test_every_text_value_is_in_its_source_line_span(text_result):
    source = SURVEY_TXT.read_text(encoding="utf-8").splitlines()
    checked = 0
    for r in text_result.records:
        spans: dict[str, list[Provenance]] = {}
        for p in r.provenance:
            assert p.page is None and p.x0 is None and p.line_start <= p.line_end, (r.card_id, p)
            spans.setdefault(p.field, []).append(p)
        for name in PROVENANCE_FIELDS:
            values = field_values(r, name)
            assert bool(values) == (name in spans), f"{r.card_id} {name}: provenance iff a value"
            if not values:
                continue
            text = "\n".join(source[n - 1] for p in spans[name] for n in range(p.line_start, p.line_end + 1))
            text = MARKUP.sub("", html.unescape(text))
            for v in values:
                assert holds(name, v, text), f"{r.card_id} {name}: {v!r} not in lines {spans[name]}"
                checked += 1
    assert checked > 1500


def test_text_spans_of_card_1_1_are_its_source_lines(text_result):
    """Card ①1, read against the source (sed -n 378,411p corpus/002_*.txt)."""
    r = next(r for r in text_result.records if r.card_id == "1-1")
    assert {p.field: (p.line_start, p.line_end) for p in r.provenance} == {
        "title": (378, 378), "jp_entities": (382, 382), "foreign_entities": (383, 383),
        "agreement_date": (387, 387), "background": (391, 391), "activities": (396, 396), "outcomes": (401, 401),
        "urls": (406, 406), "contact_department": (410, 410), "phones": (411, 411), "emails": (411, 411),
    }


# --------------------------------------------------------------------------- PDF input


@pytest.fixture(scope="module")
def pdf_sample():
    """Seeded sample: card pages, then 20 (record, field, value) across fields and cards."""
    rng = random.Random(SEED)
    card_pages = [p for p in range(CATEGORY_PAGES[0] + 1, LAST_PAGE + 1) if p not in CATEGORY_PAGES]
    pages = sorted(rng.sample(card_pages, N_PAGES))
    doc = read_pdf(SURVEY_PDF, pages=[LEGEND_PAGE, *CATEGORY_PAGES, *pages])
    records, rejects = cards_to_records(document_to_cards(doc).cards, doc, "clair-2012")
    assert not rejects and len(records) == N_PAGES
    candidates = [(r, name, v) for r in records for name in PROVENANCE_FIELDS for v in field_values(r, name)]
    by_field: dict[str, list] = {}
    for c in candidates:
        by_field.setdefault(c[1], []).append(c)
    chosen = [rng.choice(by_field[name]) for name in PROVENANCE_FIELDS if by_field.get(name)]
    multi_page = [c for c in candidates if len({p.page for p in c[0].provenance if p.field == c[1]}) > 1]
    if multi_page:
        chosen.append(rng.choice(multi_page))
    rest = [c for c in candidates if c not in chosen]
    chosen += rng.sample(rest, N_VALUES - len(chosen))
    return records, chosen


def test_the_sample_spans_fields_and_cards(pdf_sample):
    records, chosen = pdf_sample
    assert len(chosen) == N_VALUES
    assert {name for _, name, _ in chosen} == set(PROVENANCE_FIELDS)
    assert len({r.card_id for r, _, _ in chosen}) >= 6
    for r in records:
        assert all(p.page is not None and p.x0 < p.x1 and p.top < p.bottom for p in r.provenance), r.card_id
        assert all(r.page_start <= p.page <= r.page_end for p in r.provenance), r.card_id


def test_cropped_boxes_hold_the_sampled_values(pdf_sample):
    _, chosen = pdf_sample
    failures = []
    with pdfplumber.open(SURVEY_PDF) as pdf:
        for record, name, value in chosen:
            text = ""
            for p in (p for p in record.provenance if p.field == name):
                page = pdf.pages[p.page - 1]
                t = CROP_TOLERANCE_PT
                bbox = (max(0, p.x0 - t), max(0, p.top - t), min(page.width, p.x1 + t), min(page.height, p.bottom + t))
                text += page.crop(bbox).dedupe_chars().extract_text() + "\n"
            if not holds(name, value, text):
                failures.append(f"{record.card_id} {name}: {value!r} not in the crop: {squash(text)!r}")
    assert not failures, "\n".join(failures)


def test_a_wrapped_table_cell_is_inside_its_box():
    """Regression (box of a wrapped table cell ended at its last segment's x1): ⑧24 (page 178): the foreign party and the e-mail address both wrap inside their cells."""
    doc = read_pdf(SURVEY_PDF, pages=[LEGEND_PAGE, 154, 178])
    (record,), _ = cards_to_records(document_to_cards(doc).cards, doc, "clair-2012")
    assert record.card_id == "8-24"
    with pdfplumber.open(SURVEY_PDF) as pdf:
        page = pdf.pages[177]
        for name in ("foreign_entities", "emails"):
            (p,) = [p for p in record.provenance if p.field == name]
            text = page.crop((p.x0 - 1, p.top - 1, p.x1 + 1, p.bottom + 1)).dedupe_chars().extract_text()
            for value in field_values(record, name):
                assert holds(name, value, text), (name, value, squash(text))


def test_pdf_values_of_table_fields_use_their_own_rows(pdf_sample):
    records, _ = pdf_sample
    for r in records:
        per_field = Counter(p.field for p in r.provenance)
        assert per_field["title"] == 1 and per_field["jp_entities"] == 1 and per_field["foreign_entities"] == 1
        party = {p.field: p for p in r.provenance if p.field in ("jp_entities", "foreign_entities")}
        assert party["jp_entities"].bottom <= party["foreign_entities"].top + 1.0, r.card_id
