"""Property-based tests: mutated real cards never crash extraction, and nothing is lost.

Cards are cut from the real 2012 survey and mutated the way real reports go
wrong: fields dropped, duplicated or reordered, bracket and digit widths
swapped, page-number and running-header lines inserted, the text cut off at
a random point. Whatever comes out, every card segment must end up as a
record or a reject (segments == records + rejects).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractors.document import Document
from extractors.headings import match_card, match_category, match_field
from extractors.pipeline import cards_to_records
from extractors.read_text import text_to_lines
from extractors.segment import lines_to_cards

SURVEY = Path(__file__).resolve().parent.parent / "corpus" / "002_e59d51f378d5a747.txt"
WIDE = str.maketrans("0123456789()", "０１２３４５６７８９（）")
NARROW = str.maketrans("０１２３４５６７８９（）", "0123456789()")


@cache
def real_cards() -> list[tuple[str, list[list[str]]]]:
    """(category heading, card) pairs; a card is its heading block then one block per field."""
    lines = SURVEY.read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("① 教育交流"))
    cards: list[tuple[str, list[list[str]]]] = []
    category = None
    for ln in lines[start:]:
        if match_category(ln) and "\t" not in ln.strip():
            category = ln
            continue
        if match_card(ln) and (not cards or any(match_field(x[0]) for x in cards[-1][1][1:])):
            cards.append((category, [[ln]]))
            continue
        if not cards:
            continue
        blocks = cards[-1][1]
        if match_field(ln):
            blocks.append([ln])
        else:
            blocks[-1].append(ln)
    return cards


def mutate(draw, card: list[list[str]]) -> list[str]:
    heading, fields = card[0], card[1:]
    ops = draw(st.lists(st.sampled_from(["drop", "duplicate", "reorder", "widen", "narrow", "page", "header"]),
                        max_size=4))
    fields = [list(f) for f in fields]
    for op in ops:
        if op == "drop" and fields:
            fields.pop(draw(st.integers(0, len(fields) - 1)))
        elif op == "duplicate" and fields:
            fields.insert(draw(st.integers(0, len(fields))), list(fields[draw(st.integers(0, len(fields) - 1))]))
        elif op == "reorder" and len(fields) > 1:
            fields = draw(st.permutations(fields))
        elif op in ("widen", "narrow"):
            table = WIDE if op == "widen" else NARROW
            fields = [[f[0].translate(table), *f[1:]] for f in fields]
            heading = [heading[0].translate(table) if op == "narrow" else re.sub(r"^\d+", lambda m: m.group(0).translate(WIDE), heading[0])]
        elif op in ("page", "header") and fields:
            where = draw(st.integers(0, len(fields) - 1))
            block = fields[where]
            block.insert(draw(st.integers(0, len(block))), str(draw(st.integers(1, 250))) if op == "page"
                         else "特定分野における提携・協定等に関する調査結果")
    return [*heading, *(ln for f in fields for ln in f)]


@st.composite
def mutated_reports(draw) -> str:
    cards = real_cards()
    picks = draw(st.lists(st.integers(0, len(cards) - 1), min_size=1, max_size=6))
    out = ["特定分野における提携・協定等に関する調査結果"]
    for i in sorted(picks):
        category, card = cards[i]
        out.append(category)
        out.extend(mutate(draw, card))
    text = "\n".join(out)
    cut = draw(st.one_of(st.none(), st.integers(0, len(text))))
    return text if cut is None else text[:cut]


@given(mutated_reports())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_cards_never_crash_and_nothing_is_lost(text):
    doc = Document(path="mutated.txt", sha256="0" * 64, kind="text", lines=tuple(text_to_lines(text)))
    segmentation = lines_to_cards(list(doc.lines))
    records, rejects = cards_to_records(segmentation.cards, doc, "prop")
    assert len(segmentation.cards) == len(records) + len(rejects)
    for record in records:
        assert record.card_id and record.title and (record.jp_entities or record.foreign_entities)
    for reject in rejects:
        assert reject.reasons and reject.raw_text


def test_the_fixture_cuts_175_real_cards():
    assert len(real_cards()) == 175
