"""Cut a document's lines into categories and numbered agreement cards."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from extractors import validate as V
from extractors.document import Card, Document, Line
from extractors.headings import match_card, match_category, match_field, toc_page

LEGEND_MARK = "【分野】"
_LEGEND_ROW = re.compile(r"^\s*([①-⑨])\s*([^\t]+?)\s*\t")


@dataclass(frozen=True)
class TocEntry:
    """One line of the report's table of contents."""

    category_code: int
    card_no: int
    text: str
    page: int | None
    line: Line


@dataclass(frozen=True)
class Segmentation:
    cards: list[Card]
    legend: dict[int, str] = field(default_factory=dict)
    toc: list[TocEntry] = field(default_factory=list)


def lines_to_legend(lines: tuple[Line, ...] | list[Line]) -> dict[int, str]:
    """The report's own names of the categories, from the 【分野】 table."""
    legend: dict[int, str] = {}
    started = False
    for ln in lines:
        if LEGEND_MARK in ln.text:
            started = True
            continue
        if not started:
            continue
        m = _LEGEND_ROW.match(ln.text)
        if m:
            legend["①②③④⑤⑥⑦⑧⑨".index(m.group(1)) + 1] = re.sub(r"[\s\u3000]+", "", m.group(2))
        elif legend and match_category(ln.text) is None:
            if len(legend) >= 9 or not ln.text.startswith("※"):
                break
    return legend


def _first_field_after(lines: list[Line], start: int) -> int | None:
    """The number of the first field heading after `start`, before the next card or category heading."""
    for ln in lines[start + 1 :]:
        number = match_field(ln.text)
        if number is not None:
            return number
        if match_category(ln.text) or match_card(ln.text):
            return None
    return None


def _looks_like_toc(lines: list[Line], i: int) -> bool:
    """A table-of-contents entry: its line, or the 「title」 line after it, ends in a page number."""
    if toc_page(lines[i].text) is not None:
        return True
    nxt = lines[i + 1].text if i + 1 < len(lines) else ""
    return nxt.lstrip().startswith("「") and toc_page(nxt) is not None


def document_to_cards(doc: Document) -> Segmentation:
    """Segment a document into cards (the table of contents and the summary are not cards)."""
    return lines_to_cards(list(doc.lines))


def lines_to_cards(lines: list[Line]) -> Segmentation:
    """Segment lines into cards; every line after a card heading belongs to that card."""
    legend = lines_to_legend(lines)
    cards: list[Card] = []
    toc: list[TocEntry] = []
    category: tuple[int, str] | None = None
    current: dict | None = None  # heading, number, body lines, highest field seen
    expected = 1

    def close() -> None:
        nonlocal current
        if current is not None:
            code, heading_name = current["category"]
            cards.append(
                Card(
                    category_code=code,
                    category=legend.get(code, heading_name),
                    card_no=current["number"],
                    heading=current["heading"],
                    heading_line=current["line"],
                    lines=tuple(current["body"]),
                    notes=tuple(current["notes"]),
                )
            )
        current = None

    for i, ln in enumerate(lines):
        cat = match_category(ln.text)
        if cat is not None and "\t" not in ln.text.strip():
            close()
            category, expected = cat, 1
            continue
        heading = match_card(ln.text) if category is not None else None
        if heading is not None:
            first_field = _first_field_after(lines, i)
            starts_card = (
                first_field == 1
                or (first_field is not None and (current is None or first_field <= current["max_field"]))
                or (first_field is None and heading.number == expected and not _looks_like_toc(lines, i)
                    and (current is None or current["max_field"] >= 7))
            )
            if starts_card:
                close()
                notes = [] if heading.number == expected else [f"{V.CARD_NUMBER_OUT_OF_SEQUENCE}:{expected}"]
                current = {"category": category, "number": heading.number, "heading": heading.text,
                           "line": ln, "body": [], "max_field": 0, "notes": notes}
                expected = heading.number + 1
                continue
            if current is None and _looks_like_toc(lines, i):
                toc.append(TocEntry(category[0], heading.number, ln.text, _toc_page_of(lines, i), ln))
                continue
        if current is not None:
            number = match_field(ln.text)
            if number is not None:
                current["max_field"] = max(current["max_field"], number)
            current["body"].append(ln)
        elif toc and category is not None and ln.text.lstrip().startswith("「"):
            last = toc[-1]
            toc[-1] = TocEntry(last.category_code, last.card_no, last.text + " " + ln.text.strip(),
                               last.page if last.page is not None else toc_page(ln.text), last.line)
    close()
    return Segmentation(cards=cards, legend=legend, toc=toc)


def _toc_page_of(lines: list[Line], i: int) -> int | None:
    page = toc_page(lines[i].text)
    if page is None and i + 1 < len(lines):
        page = toc_page(lines[i + 1].text)
    return page
