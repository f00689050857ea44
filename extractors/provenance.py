"""Where each field value of a card came from: PDF page and box, or source line span.

:func:`lines_to_provenance` turns the lines a field value was read from into
:class:`~extractors.records.Provenance` entries:

* PDF input (lines carry :class:`~extractors.document.Box` objects, one per
  physical line joined into the logical line): one entry per page the value
  is printed on, with the union of the boxes of its physical lines on that
  page (pdfplumber points, top-left origin) and ``line_start``/``line_end``
  = the running indices of the logical lines (``Line.lineno``) on that page;
* text input: one entry with page and box null and ``line_start``/``line_end``
  = the source line numbers (``lineno`` .. ``lineno_end or lineno``).

The other helpers pick, for one field, the lines its value came from
(:func:`party_lines` for the (1) table rows, :func:`lines_containing` to
narrow a field's lines to those that print a value). Everything here is a
pure function of lines and values; :func:`extractors.records_from_cards.card_to_record`
calls it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from extractors.document import Line
from extractors.fields import party_rows
from extractors.records import Provenance
from nlp.normalize import fold_lookalikes

# The fields that carry provenance, in record column order.
PROVENANCE_FIELDS = (
    "title",
    "jp_entities",
    "foreign_entities",
    "agreement_date",
    "background",
    "activities",
    "outcomes",
    "urls",
    "contact_department",
    "phones",
    "emails",
)

_WS = re.compile(r"[\s\u3000]+")


def lines_to_provenance(field: str, lines: Iterable[Line]) -> list[Provenance]:
    """Provenance entries of one field read from ``lines`` (none for no lines).

    PDF lines give one entry per page with the union box of the field's
    physical lines on that page; text lines one entry with the line span.
    """
    lines = list(lines)
    if not lines:
        return []
    if all(ln.page is None and not ln.boxes for ln in lines):
        return [
            Provenance(
                field=field,
                line_start=min(ln.lineno for ln in lines),
                line_end=max(ln.lineno_end or ln.lineno for ln in lines),
            )
        ]
    # page -> [x0, top, x1, bottom] (None while no box seen), line_start, line_end
    pages: dict[int, list] = {}
    for ln in lines:
        boxes = ln.boxes
        if boxes:
            for b in boxes:
                _add(pages, b.page, ln.lineno, (b.x0, b.top, b.x1, b.bottom))
        elif ln.page is not None:  # a PDF line without boxes: page and line span only
            _add(pages, ln.page, ln.lineno, None)
    out = []
    for page in sorted(pages):
        box, start, end = pages[page]
        x0, top, x1, bottom = box if box is not None else (None, None, None, None)
        out.append(Provenance(field=field, page=page, x0=x0, top=top, x1=x1, bottom=bottom,
                              line_start=start, line_end=end))
    return out


def _add(pages: dict[int, list], page: int, lineno: int, box: tuple[float, float, float, float] | None) -> None:
    entry = pages.setdefault(page, [None, lineno, lineno])
    if box is not None:
        old = entry[0]
        entry[0] = box if old is None else (
            min(old[0], box[0]), min(old[1], box[1]), max(old[2], box[2]), max(old[3], box[3])
        )
    entry[1] = min(entry[1], lineno)
    entry[2] = max(entry[2], lineno)


def party_lines(lines: Sequence[Line]) -> dict[str, list[Line]]:
    """The rows of the (1) table by side (``japanese``/``foreign``), read as :func:`extractors.fields.party_rows` does."""
    out: dict[str, list[Line]] = {"japanese": [], "foreign": []}
    for side, line, _value in party_rows(lines):
        out[side].append(line)
    return out


def squash(text: str) -> str:
    """Text for containment tests: NFKC, lookalike radicals folded, white space removed, case folded."""
    return _WS.sub("", unicodedata.normalize("NFKC", fold_lookalikes(text))).casefold()


def lines_containing(lines: Sequence[Line], values: Iterable[str], *, digits_only: bool = False) -> list[Line]:
    """The lines that print at least one of ``values`` (compared squashed, or as digit strings).

    Used to narrow a field's lines to where its value is printed; returns an
    empty list when no line prints any value (callers then fall back to the
    field's lines).
    """
    keys = [_digits(v) if digits_only else squash(v) for v in values]
    keys = [k for k in keys if k]
    if not keys:
        return []
    out = []
    for ln in lines:
        text = _digits(ln.text) if digits_only else squash(ln.text)
        if any(k in text for k in keys):
            out.append(ln)
    return out


def _digits(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())
