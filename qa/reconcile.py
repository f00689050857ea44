"""Reconcile a report with itself: its table of contents and its summary tables against the cards.

:func:`reconcile` is a pure function of the document, its segmentation and the
records extracted from it; it writes nothing. Its result, a frozen
:class:`Reconciliation`, serialises with :meth:`Reconciliation.to_json` (the
flow writes that as ``reconciliation.json`` next to ``records.parquet``) and
renders a report-page section with :meth:`Reconciliation.to_markdown`.

**Table of contents vs cards.** Every TOC entry (``1. 中華人民共和国大連市－青森県青森市
「経済文化交流委員会設置に関する協定」<TAB>14``, the 「title」 sometimes on the next line,
``－``/``ー``/``一`` between the foreign and the Japanese side, ``【再掲】`` for a
re-listing) is parsed into a :class:`TocCard` and compared with the card of the same
(category, number): cards the TOC lists that are missing (or were rejected), cards the
TOC does not list, parties named differently, a title that is not the card's title
shortened, a re-listing mark on one side only, an entry that describes another card of its
category (①2 and ①3 swapped: one ``order`` finding instead of six), and (PDF) a page number
other than the card's first page (a constant offset shared by at least three cards is
accepted as unnumbered front matter). Each :class:`TocFinding` is ``substantive`` or ``orthographic``: a
difference that disappears once both sides are folded with
``qa/rules/orthographic_variants.toml`` (旧字体, 英国/イギリス, クィ/クイ) is orthographic.
Names are compared as sets of place units (country, prefecture, province/state,
municipality); a higher-level unit printed on one side only (the card omits the country
or province the TOC prints, or vice versa) is not a difference, unless that side prints
another unit of the same level in its place (TOC 浙江省福建省泉州市 for card 福建省泉州市).

**Summary tables vs records.** The report's own tables (``【分野別の提携件数】``: rows
1対1の提携 / 複数の自治体との提携 / 合計 by category; ``【国・地域別の提携等件数（※1対1の提携等の
上位10）】``: one-to-one agreements by country and category) are parsed from the document
lines — the text converter and :func:`extractors.read_pdf.read_pdf` both give one line
per table row with cells joined by tabs, so one parser serves both (a reader that flattened
the table into space-separated text, as pdfplumber's ``extract_text`` does, would leave no
table to parse: the result then says so in its notes) — and every cell,
printed as ``25(4)`` = 25 cards of which 4 re-listed (an empty cell is 0), becomes two
:class:`SummaryLine` objects (measure ``cards`` and ``relisted``) with the figure computed
from the records, ``agrees`` and, where it differs, an explanation derived from the data
(cards whose TOC and heading disagree on 【再掲】, cards the report files under another
row of the same column, the cards of an over- or under-counted cell).

Definitions used for the computed figures: a card is **1対1** when its card names exactly
one Japanese and one foreign party (``len(jp_entities) == len(foreign_entities) == 1``);
**re-listed** is the card heading's ``【再掲】`` (the record's ``relisted``); a card's
**country** for the country table is its ``country_codes`` (the report's row names are
mapped with :func:`nlp.countries.country_codes`; ``その他`` is every other country).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import tomllib
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from extractors.document import Card, Document, Line
from extractors.headings import CIRCLED
from extractors.records import AgreementRecord
from extractors.segment import Segmentation, TocEntry
from nlp.countries import countries_in, country_codes
from nlp.normalize import fold_lookalikes
from nlp.prefectures import prefecture_pattern

RULES = Path(__file__).resolve().parent / "rules" / "orthographic_variants.toml"

SUBSTANTIVE = "substantive"
ORTHOGRAPHIC = "orthographic"

# Finding kinds.
MISSING_CARD = "missing_card"  # the TOC lists it, no card segment has its number
REJECTED_CARD = "rejected_card"  # the TOC lists it, its segment became a reject
UNLISTED_CARD = "unlisted_card"  # a card the TOC does not list
JAPANESE_PARTIES = "japanese_parties"
FOREIGN_PARTIES = "foreign_parties"
TITLE = "title"
RELISTED_MARK = "relisted_mark"
PAGE = "page"
ORDER = "order"  # the entry describes another card of its category (entries swapped)

CATEGORY_TABLE = "分野別の提携件数"
COUNTRY_TABLE = "国・地域別の提携等件数"

_RELISTED = re.compile(r"[【\[]\s*再\s*掲\s*[】\]]")
_TOC_NUMBER = re.compile(r"^\s*[0-9０-９]{1,3}\s*[.．]\s*")
_TOC_PAGE = re.compile(r"\t\s*[0-9０-９]{1,3}(?=\s|$)")
# Between the foreign and the Japanese side: a dash, a long-vowel mark or the kanji 一 (the survey prints all three).
_SIDE_SEPARATORS = "－ー一-‐‑−–—―"
_WS = re.compile(r"[\s\u3000]+")
_CELL = re.compile(r"^\s*(\d+)\s*(?:\(\s*(\d+)\s*\))?\s*$")


# --------------------------------------------------------------------------- orthographic folding


@dataclass(frozen=True)
class VariantRules:
    characters: dict[str, str]
    kana: tuple[tuple[str, str], ...]  # longest first
    names: dict[str, str]  # variant -> the group's first name
    examples: tuple[tuple[str, str, bool], ...]


@cache
def variant_rules() -> VariantRules:
    """``qa/rules/orthographic_variants.toml``, loaded once."""
    data = tomllib.loads(RULES.read_text(encoding="utf-8"))
    chars = dict(data["characters"])
    bad = [k for k, v in chars.items() if len(k) != 1 or k == v]
    if bad:
        raise ValueError(f"{RULES.name}: [characters] keys must be single characters other than their value: {bad}")
    kana = tuple(sorted(data["kana"].items(), key=lambda kv: -len(kv[0])))
    names: dict[str, str] = {}
    for group in data["names"]:  # keyed as they read once white space and `・` are dropped and characters folded
        first = _fold_chars(normalize_light(group["variants"][0]), chars, kana)
        for v in group["variants"]:
            names[_fold_chars(normalize_light(v), chars, kana)] = first
    examples = tuple((e["a"], e["b"], bool(e["same"])) for e in data.get("examples", ()))
    return VariantRules(chars, kana, names, examples)


@cache
def _name_pattern() -> re.Pattern[str]:
    names = sorted(variant_rules().names, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names)))


def normalize_light(text: str) -> str:
    """What every comparison starts from: NFKC, lookalike radicals folded, white space, ``・`` and ``=`` dropped."""
    t = unicodedata.normalize("NFKC", fold_lookalikes(text))
    t = _WS.sub("", t)
    return t.replace("・", "").replace("=", "").replace("･", "")


def fold_orthography(text: str) -> str:
    """``text`` with every orthographic variant folded (see ``orthographic_variants.toml``).

    Two spellings that fold to the same string name the same thing:
    ``fold_orthography("經濟交流 (農業等)") == fold_orthography("経済交流（農業等）")``.
    """
    rules = variant_rules()
    t = _fold_chars(normalize_light(text), rules.characters, rules.kana)
    t = _name_pattern().sub(lambda m: rules.names[m.group(0)], t)
    return re.sub(r"^日本国", "", t)


def _fold_chars(text: str, characters: dict[str, str], kana: Sequence[tuple[str, str]]) -> str:
    t = "".join(characters.get(ch, ch) for ch in text)
    for old, new in kana:
        t = t.replace(old, new)
    return t


# --------------------------------------------------------------------------- table of contents


@dataclass(frozen=True)
class TocCard:
    """One table-of-contents entry, parsed."""

    category_code: int
    card_no: int
    foreign: str  # the foreign side as printed (white space collapsed)
    japanese: str  # the Japanese side as printed
    title: str  # inside the outer 「」, as printed
    page: int | None
    relisted: bool  # the entry carries 【再掲】
    lineno: int  # source line (text) or logical line index (PDF) of the entry
    text: str  # the whole entry as segmented

    @property
    def card_id(self) -> str:
        return f"{self.category_code}-{self.card_no}"


def parse_toc_entry(entry: TocEntry) -> TocCard:
    """Split a TOC entry into foreign side, Japanese side, title, page and the 【再掲】 mark."""
    text = _TOC_NUMBER.sub("", entry.text, count=1)
    text = _TOC_PAGE.sub(" ", text)
    relisted = bool(_RELISTED.search(text))
    text = _RELISTED.sub("", text).replace("\t", " ")
    text = _WS.sub(" ", text).strip()
    open_at = text.find("「")
    if open_at >= 0:
        close_at = text.rfind("」")
        title = text[open_at + 1 : close_at if close_at > open_at else len(text)].strip()
        parties = text[:open_at].strip()
    else:
        title, parties = "", text
    foreign, japanese = split_toc_parties(parties)
    return TocCard(
        category_code=entry.category_code,
        card_no=entry.card_no,
        foreign=foreign,
        japanese=japanese,
        title=title,
        page=entry.page,
        relisted=relisted,
        lineno=entry.line.lineno,
        text=entry.text,
    )


def split_toc_parties(parties: str) -> tuple[str, str]:
    """``中華人民共和国大連市－青森県青森市`` -> (foreign, Japanese).

    The separator is the first dash-like character (``－``, ``ー``, kanji ``一``) followed by a
    prefecture name; a bracket after the Japanese side that names no prefecture (the members of
    a foreign council, as in ③8) belongs to the foreign side.
    """
    cut = None
    for m in prefecture_pattern().finditer(parties):
        j = m.start()
        while j > 0 and parties[j - 1] == " ":
            j -= 1
        if j > 0 and parties[j - 1] in _SIDE_SEPARATORS:
            cut = (j - 1, m.start())
            break
    if cut is None:  # no prefecture after a separator: the last full-width dash
        k = max(parties.rfind("－"), parties.rfind("一"))
        if k < 0:
            return parties.strip(), ""
        cut = (k, k + 1)
    foreign, japanese = parties[: cut[0]].strip(), parties[cut[1] :].strip()
    m = re.search(r"[（(]([^（()）]*)[)）]$", japanese)
    if m and not prefecture_pattern().search(m.group(1)):
        foreign = f"{foreign}（{m.group(1)}）"
        japanese = japanese[: m.start()].strip()
    return foreign, japanese


# --------------------------------------------------------------------------- place units


# Administrative suffixes, longest first; a unit ends in one of them.
_ADMIN = ("特別自治道", "特別自治市", "特別市", "広域市", "自治区", "自治州", "地方", "省", "州", "県", "縣", "道",
          "市", "区", "郡", "町", "村")
_ADMIN_UNIT = re.compile(r".+?(?:" + "|".join(_ADMIN) + ")")
# Units above a municipality: a card or the TOC may omit them.
_HIGHER = ("特別自治道", "自治区", "自治州", "地方", "省", "州", "道")
_PART_SPLIT = re.compile(r"[、，,：:（）()\[\]［］/／]+")


@dataclass(frozen=True)
class Unit:
    """One place unit of a party name: a country, a prefecture, a province/state or a municipality."""

    display: str  # as printed (light-normalised)
    light: str  # comparison key without orthographic folding
    full: str  # comparison key with orthographic folding
    level: str  # country | prefecture | higher | place


def name_units(text: str) -> list[Unit]:
    """The place units printed in one side of an entry or a card (all parties together).

    A bracket listing members (``…協議会の構成市町村（A町、B市）``) stands for the collective
    name before it, as on the cards: of that name only the country and higher levels are kept.
    """
    t = unicodedata.normalize("NFKC", fold_lookalikes(text))
    t = _WS.sub("", t)
    t = re.sub(r"在日本国|在日本|在日", "在日", t)
    units: list[Unit] = []
    for chunk, members in _member_chunks(t):
        chunk_units: list[Unit] = []
        for part in _PART_SPLIT.split(chunk):
            if part:
                chunk_units += _part_units(part)
        if members:
            chunk_units = [u for u in chunk_units if u.level != "place"]
        units += chunk_units
    return units


def _member_chunks(text: str) -> list[tuple[str, bool]]:
    """``text`` cut before and after each bracket that lists members: (chunk, is the collective name)."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in re.finditer(r"[(（]([^()（）]*[、,][^()（）]*)[)）]", text):
        head = text[pos : m.start()]
        cut = max(head.rfind("、"), head.rfind(","))
        if cut >= 0:
            out.append((head[: cut + 1], False))
            head = head[cut + 1 :]
        out.append((head, True))
        out.append((m.group(1), False))
        pos = m.end()
    out.append((text[pos:], False))
    return [(c, members) for c, members in out if c]


def _part_units(part: str) -> list[Unit]:
    units: list[Unit] = []
    pos = 0
    pieces: list[tuple[str, str | None]] = []  # (text, country code or None)
    for start, end, code in countries_in(part):
        pieces.append((part[pos:start], None))
        pieces.append((part[start:end], code))
        pos = end
    pieces.append((part[pos:], None))
    for piece, code in pieces:
        piece = piece.replace("・", "").replace("=", "").replace("･", "")
        if not piece:
            continue
        if code is not None:
            if code != "JP":  # 日本国 before a Japanese name, 在日本国 in an embassy's name
                units.append(Unit(piece, f"country:{piece}", f"country:{code}", "country"))
            continue
        units.extend(_place_units(piece))
    return units


def _place_units(piece: str) -> list[Unit]:
    out: list[Unit] = []
    pos = 0
    for m in prefecture_pattern().finditer(piece):
        out += _admin_units(piece[pos : m.start()])
        out.append(_unit(m.group(0), "prefecture"))
        pos = m.end()
    return out + _admin_units(piece[pos:])


def _admin_units(text: str) -> list[Unit]:
    names: list[str] = []
    pos = 0
    for m in _ADMIN_UNIT.finditer(text):
        names.append(m.group(0))
        pos = m.end()
    rest = text[pos:]
    if rest:
        if names and len(rest) == 1:  # 四日市|市, 北九州|市: the suffix belongs to the unit before
            names[-1] += rest
        else:
            names.append(rest)
    merged: list[str] = []
    for name in names:  # 京都|市 -> 京都市: a unit that is a bare suffix joins the one before
        if merged and name in _ADMIN:
            merged[-1] += name
        else:
            merged.append(name)
    return [_unit(n, "higher" if n.endswith(_HIGHER) and not n.endswith(("市", "区")) else "place") for n in merged]


def _unit(name: str, level: str) -> Unit:
    return Unit(name, name, fold_orthography(name), level)


@dataclass(frozen=True)
class NameComparison:
    severity: str | None  # None: consistent
    toc_only: tuple[str, ...]
    card_only: tuple[str, ...]


def compare_names(toc_side: str, card_parties: Sequence[str]) -> NameComparison:
    """Whether a TOC side names the same places as the card's parties (see the module docstring)."""
    toc_units = name_units(toc_side)
    card_units = name_units("、".join(card_parties))
    light = _difference(toc_units, card_units, "light")
    if light is None:
        return NameComparison(None, (), ())
    full = _difference(toc_units, card_units, "full")
    if full is None:
        return NameComparison(ORTHOGRAPHIC, *light)
    return NameComparison(SUBSTANTIVE, *full)


def _difference(a: list[Unit], b: list[Unit], key: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The units printed on one side only, or None when the only such units are omitted higher levels.

    With ``key == "full"`` two one-sided units also match when one only adds an administrative
    suffix (オークランド / オークランド市) or prints in Hangul what the other prints in kanji
    (順천시 / 順天市).
    """
    ka = {getattr(u, key) for u in a}
    kb = {getattr(u, key) for u in b}
    only_a = [u for u in a if getattr(u, key) not in kb]
    only_b = [u for u in b if getattr(u, key) not in ka]
    if key == "full":
        for u in list(only_a):
            v = next((v for v in only_b if _loosely_same(u.full, v.full)), None)
            if v is not None:
                only_a.remove(u)
                only_b.remove(v)
    if not only_a and not only_b:
        return None
    if _omitted(only_a, a, kb, only_b, key) and _omitted(only_b, b, ka, only_a, key):
        return None
    return tuple(dict.fromkeys(u.display for u in only_a)), tuple(dict.fromkeys(u.display for u in only_b))


_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]")


def _loosely_same(x: str, y: str) -> bool:
    """Same name, one without its administrative suffix, or one in Hangul where the other has kanji."""
    for s in _ADMIN:
        if x == y + s or y == x + s:
            return True
    if len(x) == len(y) and x != y:
        return all(
            cx == cy or (_HANGUL.match(cx) and _IDEOGRAPH.match(cy)) or (_HANGUL.match(cy) and _IDEOGRAPH.match(cx))
            for cx, cy in zip(x, y)
        )
    return False


def _level(u: Unit) -> str:
    if u.level == "higher":
        return next(s for s in _HIGHER if u.display.endswith(s))
    return u.level


def _omitted(only: list[Unit], side: list[Unit], other_keys: set[str], other_only: list[Unit], key: str) -> bool:
    """Units of one side that the other simply does not print: countries, prefectures, provinces/states.

    Not an omission when the unit is a municipality, when the other side prints another unit of
    that level in its place (アリゾナ州 / カリフォルニア州), or when this side prints, besides it,
    a unit of the same level the other side shares (TOC 浙江省福建省泉州市, card 福建省泉州市).
    """
    for u in only:
        if u.level == "place":
            return False
        level = _level(u)
        if any(_level(v) == level for v in other_only):
            return False
        if any(_level(v) == level for v in side if getattr(v, key) in other_keys):
            return False
    return True


# Characters a TOC title may add when it shortens a card title: 両都市, 等, の, 間, と, 及び.
_ABBREVIATION_CHARS = frozenset("両都市県国間等のと及び")
_TITLE_STRIP = re.compile(r"[「」『』\"“”()（）\[\]［］、,。]")


def compare_titles(toc_title: str, card_title: str) -> str | None:
    """None when the TOC title is the card title or a shortening of it; else the severity.

    A shortening keeps stretches of the card title in order and drops the rest (the parties,
    ``日本国…と…との``), adding at most abbreviating words (両都市, 等, の, 間): every character of
    the TOC title lies in a common stretch of two or more characters or is such a word's.
    Brackets and punctuation do not count.
    """
    a, b = _title_key(toc_title, light=True), _title_key(card_title, light=True)
    if not a or _shortening(a, b):
        return None
    fa, fb = _title_key(toc_title, light=False), _title_key(card_title, light=False)
    if _shortening(fa, fb):
        return ORTHOGRAPHIC
    return SUBSTANTIVE


def _title_key(title: str, *, light: bool) -> str:
    t = _RELISTED.sub("", title)
    t = normalize_light(t) if light else fold_orthography(t)
    return _TITLE_STRIP.sub("", t)


def _shortening(a: str, b: str) -> bool:
    if a in b:
        return True
    covered = [False] * len(a)
    for m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        if m.size >= 2:
            for k in range(m.a, m.a + m.size):
                covered[k] = True
    extra = [ch for ch, c in zip(a, covered) if not c]
    return sum(covered) >= len(a) / 2 and all(ch in _ABBREVIATION_CHARS for ch in extra)


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class TocFinding:
    """One disagreement between the table of contents and a card."""

    card_id: str
    kind: str  # missing_card | rejected_card | unlisted_card | japanese_parties | foreign_parties | title | ...
    severity: str  # substantive | orthographic
    toc: str  # what the TOC prints ("" when it lists no such card)
    card: str  # what the card prints ("" when there is no card)
    detail: str  # one line for a person
    toc_only: tuple[str, ...] = ()
    card_only: tuple[str, ...] = ()
    toc_line: int | None = None  # source line (text) / logical line index (PDF) of the TOC entry
    card_line: int | None = None  # the card heading's line
    card_page: int | None = None  # the card's first PDF page


def _card_id(code: int, no: int | None) -> str:
    return f"{code}-{no}"


def _label(card_id: str) -> str:
    """``9-14`` -> ``⑨14`` (how the report itself refers to a card)."""
    code, no = card_id.split("-")
    return f"{CIRCLED[int(code) - 1]}{no}"


def compare_toc(
    toc: Sequence[TocCard], cards: Sequence[Card], records: Sequence[AgreementRecord]
) -> list[TocFinding]:
    """Every disagreement between the TOC entries and the cards (records where extracted)."""
    by_id_card = {_card_id(c.category_code, c.card_no): c for c in cards}
    by_id_record = {r.card_id: r for r in records}
    listed = {t.card_id for t in toc}
    offset = _page_offset(toc, by_id_card)
    content: dict[str, list[TocFinding]] = {}
    other: dict[str, list[TocFinding]] = {}
    for t in toc:
        card = by_id_card.get(t.card_id)
        rec = by_id_record.get(t.card_id)
        where: dict[str, Any] = dict(toc_line=t.lineno)
        found = other.setdefault(t.card_id, [])
        if card is None:
            found.append(TocFinding(t.card_id, MISSING_CARD, SUBSTANTIVE, t.text, "",
                                    f"the TOC lists {_label(t.card_id)} (page {t.page}); no card has that number",
                                    **where))
            continue
        where.update(card_line=card.heading_line.lineno, card_page=card.page_start)
        if rec is None:
            found.append(TocFinding(t.card_id, REJECTED_CARD, SUBSTANTIVE, t.text, card.heading,
                                    f"{_label(t.card_id)} was segmented but rejected (see rejects)", **where))
            continue
        content[t.card_id] = _content_findings(t, rec, where)
        if t.relisted != rec.relisted:
            on, off = ("the TOC", "the card heading") if t.relisted else ("the card heading", "the TOC")
            found.append(TocFinding(t.card_id, RELISTED_MARK, SUBSTANTIVE, "【再掲】" if t.relisted else "",
                                    "【再掲】" if rec.relisted else "",
                                    f"{_label(t.card_id)}: {on} marks it 【再掲】, {off} does not", **where))
        if offset is not None and t.page is not None and card.page_start is not None:
            if t.page - card.page_start != offset:
                shift = f" (TOC pages are PDF pages {offset:+d})" if offset else ""
                found.append(TocFinding(t.card_id, PAGE, SUBSTANTIVE, str(t.page), str(card.page_start),
                                        f"{_label(t.card_id)}: the TOC gives page {t.page}, the card starts on "
                                        f"PDF page {card.page_start}{shift}", **where))
    content.update(_misplaced_entries(toc, by_id_record, content))
    findings = [f for t in toc for f in (*content.get(t.card_id, ()), *other.get(t.card_id, ()))]
    for card in cards:
        cid = _card_id(card.category_code, card.card_no)
        if cid not in listed:
            findings.append(TocFinding(cid, UNLISTED_CARD, SUBSTANTIVE, "", card.heading,
                                       f"card {_label(cid)} 「{card.heading}」 is not in the TOC",
                                       card_line=card.heading_line.lineno, card_page=card.page_start))
    return findings


def _content_findings(t: TocCard, rec: AgreementRecord, where: dict[str, Any]) -> list[TocFinding]:
    """Parties and title of one entry against one card."""
    out: list[TocFinding] = []
    for kind, side, parties in ((FOREIGN_PARTIES, t.foreign, rec.foreign_entities),
                                (JAPANESE_PARTIES, t.japanese, rec.jp_entities)):
        cmp = compare_names(side, parties)
        if cmp.severity is not None:
            what = "foreign" if kind == FOREIGN_PARTIES else "Japanese"
            toc_only, card_only = "、".join(cmp.toc_only), "、".join(cmp.card_only)
            if toc_only and card_only:
                said = f"the TOC prints {toc_only} where the card prints {card_only}"
            elif toc_only:
                said = f"the TOC also prints {toc_only}, the card does not"
            else:
                said = f"the card also prints {card_only}, the TOC does not"
            detail = f"{_label(rec.card_id)} {what} side: {said}"
            out.append(TocFinding(rec.card_id, kind, cmp.severity, side, "、".join(parties), detail,
                                  cmp.toc_only, cmp.card_only, **where))
    severity = compare_titles(t.title, rec.title)
    if severity is not None:
        out.append(TocFinding(rec.card_id, TITLE, severity, t.title, rec.title,
                              f"{_label(rec.card_id)}: the TOC title 「{t.title}」 is not the card title "
                              f"「{rec.title}」 shortened", **where))
    return out


def _misplaced_entries(toc: Sequence[TocCard], records: dict[str, AgreementRecord],
                       content: dict[str, list[TocFinding]]) -> dict[str, list[TocFinding]]:
    """Entries that describe another card of their category (two entries swapped): one finding instead of many."""
    def substantive(cid: str) -> bool:
        return any(f.severity == SUBSTANTIVE for f in content.get(cid, ()))

    describes: dict[str, str] = {}
    for t in toc:
        if not substantive(t.card_id):
            continue
        for rec in records.values():
            if rec.category_code == t.category_code and rec.card_id != t.card_id and substantive(rec.card_id):
                if not any(f.severity == SUBSTANTIVE for f in _content_findings(t, rec, {})):
                    describes[t.card_id] = rec.card_id
                    break
    out: dict[str, list[TocFinding]] = {}
    by_id = {t.card_id: t for t in toc}
    for a, b in describes.items():
        t = by_id[a]
        rec = records[b]
        summary = f"{t.foreign}－{t.japanese} 「{t.title}」"
        if describes.get(b) == a:
            if b in out:  # the pair is reported once, on its first entry
                out[a] = []
                continue
            detail = (f"the TOC lists {_label(a)} and {_label(b)} in swapped order: its entry {_label(a)} "
                      f"({summary}) describes card {_label(b)}, its entry {_label(b)} card {_label(a)}")
            out[a] = [TocFinding(a, ORDER, SUBSTANTIVE, t.text, f"{_label(b)} {rec.title}", detail, toc_line=t.lineno)]
            out[b] = []
        else:
            detail = f"the TOC entry {_label(a)} ({summary}) describes card {_label(b)}, not card {_label(a)}"
            out[a] = [TocFinding(a, ORDER, SUBSTANTIVE, t.text, f"{_label(b)} {rec.title}", detail, toc_line=t.lineno)]
    return out


# A TOC may number pages differently from the PDF (unnumbered front matter): a constant offset
# is accepted when at least this many cards share it; otherwise TOC pages are PDF pages.
MIN_OFFSET_SUPPORT = 3


def _page_offset(toc: Sequence[TocCard], cards: dict[str, Card]) -> int | None:
    """The usual difference between a TOC page number and the card's PDF page (None for text input)."""
    diffs = Counter(
        t.page - cards[t.card_id].page_start
        for t in toc
        if t.page is not None and t.card_id in cards and cards[t.card_id].page_start is not None
    )
    if not diffs:
        return None
    offset, support = diffs.most_common(1)[0]
    return offset if offset == 0 or support >= MIN_OFFSET_SUPPORT else 0


# --------------------------------------------------------------------------- summary tables


@dataclass(frozen=True)
class SummaryColumn:
    index: int  # cell index in the row
    label: str  # header as printed, e.g. "③姉妹都市", "⑤農業等", "合計"
    category_code: int | None  # None for the total column


@dataclass(frozen=True)
class SummaryRow:
    label: str
    cells: tuple[str, ...]
    lineno: int


@dataclass(frozen=True)
class SummaryTable:
    """One of the report's summary tables as printed."""

    title: str  # without 【】
    columns: tuple[SummaryColumn, ...]
    rows: tuple[SummaryRow, ...]
    lineno: int  # the title line

    @property
    def name(self) -> str:
        if COUNTRY_TABLE in self.title:
            return COUNTRY_TABLE
        if CATEGORY_TABLE in self.title:
            return CATEGORY_TABLE
        return self.title

    @property
    def one_to_one_only(self) -> bool:
        """The table counts one-to-one agreements only (its title says 1対1)."""
        return "1対1" in self.title


def parse_cell(cell: str) -> tuple[int, int] | None:
    """``25(4)`` -> (25, 4); ``24`` -> (24, 0); ``""`` -> (0, 0); anything else -> None."""
    t = unicodedata.normalize("NFKC", cell).strip()
    if not t:
        return 0, 0
    m = _CELL.match(t)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def parse_summary_tables(lines: Sequence[Line]) -> list[SummaryTable]:
    """The report's summary tables: a ``【…件数…】`` title line, header rows with ①–⑨ and 合計, data rows."""
    tables: list[SummaryTable] = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        m = re.fullmatch(r"\s*【([^】]*件数[^】]*)】\s*", ln.text)
        if not m or "\t" in ln.text:
            i += 1
            continue
        j = i + 1
        block: list[Line] = []
        while j < len(lines) and "\t" in lines[j].text:
            block.append(lines[j])
            j += 1
        table = _block_to_table(m.group(1), block, ln.lineno)
        if table is not None:
            tables.append(table)
        i = j
    return tables


def _block_to_table(title: str, block: list[Line], lineno: int) -> SummaryTable | None:
    headers: list[list[str]] = []
    data: list[Line] = []
    for ln in block:
        cells = ln.text.split("\t")
        has_numbers = sum(1 for c in cells if c.strip() and parse_cell(c) is not None) >= 2
        if not has_numbers and any(ch in ln.text for ch in CIRCLED + "合計"):
            headers.append(cells)
        else:
            data.append(ln)
    if not headers or not data:
        return None
    width = max(len(h) for h in headers)
    columns: list[SummaryColumn] = []
    first_col = None
    for k in range(width):
        texts = [h[k].strip() for h in headers if k < len(h) and h[k].strip()]
        circled = next((t for t in texts if t[:1] in CIRCLED), None)
        if circled is not None:
            columns.append(SummaryColumn(k, circled, CIRCLED.index(circled[0]) + 1))
        elif any(t == "合計" for t in texts):
            columns.append(SummaryColumn(k, "合計", None))
        else:
            continue
        if first_col is None:
            first_col = k
    if first_col is None:
        return None
    rows = []
    for ln in data:
        cells = ln.text.split("\t")
        label = next((c.strip() for c in reversed(cells[:first_col]) if c.strip()), "")
        rows.append(SummaryRow(label, tuple(cells), ln.lineno))
    return SummaryTable(title, tuple(columns), tuple(rows), lineno)


@dataclass(frozen=True)
class SummaryLine:
    """One figure of a summary table: as printed and as computed from the records."""

    table: str
    row: str
    column: str  # the column header as printed
    measure: str  # "cards" or "relisted" (the number in brackets)
    printed: str  # the cell as printed, e.g. "25(4)"
    reported: int | None  # None when the cell could not be read
    computed: int
    agrees: bool
    explanation: str = ""
    cards: tuple[str, ...] = ()  # card ids the explanation names


def _one_to_one(r: AgreementRecord) -> bool:
    return len(r.jp_entities) == 1 and len(r.foreign_entities) == 1


@dataclass
class _Cell:
    table: SummaryTable
    row: SummaryRow
    column: SummaryColumn
    printed: str
    reported: tuple[int, int] | None
    records: list[AgreementRecord]

    def computed(self, measure: str) -> int:
        return len(self.records) if measure == "cards" else sum(r.relisted for r in self.records)

    def reported_value(self, measure: str) -> int | None:
        if self.reported is None:
            return None
        return self.reported[0] if measure == "cards" else self.reported[1]

    def delta(self, measure: str) -> int | None:
        rep = self.reported_value(measure)
        return None if rep is None else self.computed(measure) - rep


def _row_population(table: SummaryTable, row: SummaryRow, records: Sequence[AgreementRecord],
                    listed_codes: set[str]) -> tuple[list[AgreementRecord] | None, str | None]:
    """The records a row counts (None if the row cannot be interpreted) and a note."""
    pool = [r for r in records if _one_to_one(r)] if table.one_to_one_only else list(records)
    label = row.label
    if label.startswith("合計"):
        return pool, None
    if table.name == CATEGORY_TABLE or not table.one_to_one_only:
        if "1対1" in label:
            return [r for r in records if _one_to_one(r)], None
        if "複数" in label:
            return [r for r in records if not _one_to_one(r)], None
        return None, f"{table.title}: row 「{label}」 not understood"
    if label == "その他":
        return [r for r in pool if not (len(r.country_codes) == 1 and r.country_codes[0] in listed_codes)], None
    codes = country_codes(label)
    if len(codes) != 1:
        return None, f"{table.title}: row 「{label}」 names no single country"
    return [r for r in pool if r.country_codes == codes], None


def compare_summary(
    tables: Sequence[SummaryTable], records: Sequence[AgreementRecord], toc: Sequence[TocCard]
) -> tuple[list[SummaryLine], list[str]]:
    """Every figure of the summary tables against the records, with explanations where they differ."""
    notes: list[str] = []
    toc_relisted = {t.card_id: t.relisted for t in toc}
    cells_by_table: dict[str, list[_Cell]] = {}
    for table in tables:
        listed_codes: set[str] = set()
        for row in table.rows:
            codes = country_codes(row.label) if row.label not in ("その他",) and not row.label.startswith("合計") else []
            if len(codes) == 1:
                listed_codes.add(codes[0])
        cells: list[_Cell] = []
        for row in table.rows:
            population, note = _row_population(table, row, records, listed_codes)
            if note:
                notes.append(note)
            if population is None:
                continue
            for col in table.columns:
                printed = row.cells[col.index].strip() if col.index < len(row.cells) else ""
                members = [r for r in population if col.category_code is None or r.category_code == col.category_code]
                cells.append(_Cell(table, row, col, printed, parse_cell(printed), members))
        cells_by_table[table.name] = cells
    lines: list[SummaryLine] = []
    for name, cells in cells_by_table.items():
        for cell in cells:
            for measure in ("cards", "relisted"):
                rep = cell.reported_value(measure)
                comp = cell.computed(measure)
                agrees = rep is not None and rep == comp
                explanation, ids = ("", ())
                if not agrees:
                    explanation, ids = _explain(cell, measure, cells, cells_by_table, toc_relisted)
                lines.append(SummaryLine(name, cell.row.label, cell.column.label, measure, cell.printed, rep, comp,
                                         agrees, explanation, tuple(ids)))
    return lines, notes


def _card_line(r: AgreementRecord) -> str:
    return f"{_label(r.card_id)} {'、'.join(r.foreign_entities)}"


def _explain(cell: _Cell, measure: str, cells: list[_Cell], all_cells: dict[str, list[_Cell]],
             toc_relisted: dict[str, bool]) -> tuple[str, list[str]]:
    if cell.reported is None:
        return f"cell 「{cell.printed}」 could not be read", []
    parts: list[str] = []
    ids: list[str] = []
    delta = cell.delta(measure) or 0
    if measure == "relisted":
        marked = [r for r in cell.records if toc_relisted.get(r.card_id, r.relisted) != r.relisted]
        for r in marked:
            on = "the TOC" if toc_relisted.get(r.card_id) else "the card heading"
            off = "its heading" if on == "the TOC" else "the TOC"
            parts.append(f"{_label(r.card_id)}: {on} marks it 【再掲】, {off} does not")
            ids.append(r.card_id)
        by_toc = sum(toc_relisted.get(r.card_id, r.relisted) for r in cell.records)
        if marked:
            verdict = "agrees" if by_toc == cell.reported_value(measure) else "still differs"
            parts.append(f"counting the TOC's marks gives {by_toc} ({verdict})")
        return "; ".join(parts) or "no card of this cell has a TOC/heading disagreement on 【再掲】", ids
    # cards
    same_column = [c for c in cells if c.column.index == cell.column.index and c.row is not cell.row
                   and not c.row.label.startswith("合計")]
    total = next((c for c in cells if c.column.index == cell.column.index and c.row.label.startswith("合計")), None)
    if cell.column.category_code is None:  # a row total: which columns differ
        diffs = [c for c in cells if c.row is cell.row and c.column.category_code is not None and c.delta("cards")]
        if diffs:
            parts.append("from column(s) " + ", ".join(f"{c.column.label} ({c.delta('cards'):+d})" for c in diffs))
    elif cell.row.label.startswith("合計"):
        diffs = [c for c in same_column if c.delta("cards")]
        if diffs:
            parts.append("from row(s) " + ", ".join(f"{c.row.label} ({c.delta('cards'):+d})" for c in diffs))
    else:
        opposite = [c for c in same_column if (c.delta("cards") or 0) * delta < 0]
        column_total_agrees = total is not None and total.delta("cards") == 0
        if opposite and column_total_agrees:
            other = ", ".join(f"{c.row.label} (reported {c.reported_value('cards')}, computed {c.computed('cards')})"
                              for c in opposite)
            if delta > 0:
                parts.append(f"the column total agrees: the report files {delta} card(s) of this cell under {other}")
            else:
                parts.append(f"the column total agrees: the report files here {-delta} card(s) the records put under "
                             f"{other}")
        if cell.table.name == CATEGORY_TABLE and ("1対1" in cell.row.label or "複数" in cell.row.label):
            parts.append("the records count a card as 1対1 when it names exactly one Japanese and one foreign party")
            country_cells = [c for c in all_cells.get(COUNTRY_TABLE, []) if c.column.category_code
                             == cell.column.category_code and not c.row.label.startswith("合計") and c.delta("cards")]
            over = [c for c in country_cells if (c.delta("cards") or 0) > 0]
            if over and "1対1" in cell.row.label and delta > 0:
                parts.append("the country table narrows it to " + "; ".join(
                    f"{c.row.label} ({c.reported_value('cards')} reported, {c.computed('cards')} computed: "
                    + ", ".join(_card_line(r) for r in c.records) + ")" for c in over)
                    + "; the report does not say which of them it counted as 複数")
                ids += [r.card_id for c in over for r in c.records]
        if cell.table.name == COUNTRY_TABLE and total is not None and delta and total.delta("cards") == delta:
            one_to_one = next((c for c in all_cells.get(CATEGORY_TABLE, []) if "1対1" in c.row.label
                               and c.column.category_code == cell.column.category_code), None)
            if one_to_one is not None and one_to_one.delta("cards") == delta:
                parts.append(f"the column total differs by as much, and so does {CATEGORY_TABLE} 1対1 for "
                             f"{cell.column.label} (reported {one_to_one.reported_value('cards')}, computed "
                             f"{one_to_one.computed('cards')}): the report counts {abs(delta)} card(s) of this cell "
                             + ("as 複数の自治体との提携" if delta > 0 else "more than the records"))
        if not cell.records and delta < 0:
            parts.append(f"no card of {cell.column.label} falls in this row in the records")
        elif delta > 0 and len(cell.records) <= 6 and not ids:
            parts.append("the records' cards: " + ", ".join(_card_line(r) for r in cell.records))
            ids += [r.card_id for r in cell.records]
    return "; ".join(parts) or "no explanation found in the records", ids


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Reconciliation:
    """The report against itself: TOC vs cards, summary tables vs records."""

    source_path: str
    source_sha256: str
    kind: str
    toc_entries: int
    cards: int
    records: int
    findings: tuple[TocFinding, ...]
    summary: tuple[SummaryLine, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def substantive(self) -> tuple[TocFinding, ...]:
        return tuple(f for f in self.findings if f.severity == SUBSTANTIVE)

    @property
    def orthographic(self) -> tuple[TocFinding, ...]:
        return tuple(f for f in self.findings if f.severity == ORTHOGRAPHIC)

    @property
    def differing(self) -> tuple[SummaryLine, ...]:
        return tuple(s for s in self.summary if not s.agrees)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``toc`` (substantive and orthographic findings apart), ``summary_tables``, ``notes``."""
        def rows(items: Iterable[Any]) -> list[dict[str, Any]]:
            return [{k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(x).items()}
                    for x in items]

        return {
            "source": {"path": self.source_path, "sha256": self.source_sha256, "kind": self.kind},
            "toc": {
                "entries": self.toc_entries,
                "cards": self.cards,
                "records": self.records,
                "substantive": rows(self.substantive),
                "orthographic": rows(self.orthographic),
            },
            "summary_tables": {
                "lines": rows(self.summary),
                "agree": sum(s.agrees for s in self.summary),
                "differ": len(self.differing),
            },
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """The reconciliation as JSON text (UTF-8, Japanese unescaped), for ``reconciliation.json``."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    def to_markdown(self) -> str:
        """A section for the report page: findings, then every summary figure that differs."""
        out = ["## Reconciliation", "",
               f"Table of contents: {self.toc_entries} entries, {self.cards} cards, {self.records} records; "
               f"{len(self.substantive)} substantive and {len(self.orthographic)} orthographic finding(s).", ""]
        for title, items in (("Substantive", self.substantive), ("Orthographic", self.orthographic)):
            if items:
                out += [f"### {title}", ""] + [f"* `{f.kind}` {f.detail}" for f in items] + [""]
        agree = sum(s.agrees for s in self.summary)
        out += ["### Summary tables", "", f"{agree} of {len(self.summary)} figures agree.", ""]
        if self.differing:
            out += ["| table | row | column | measure | reported | computed | explanation |",
                    "|---|---|---|---|---|---|---|"]
            out += [f"| {s.table} | {s.row} | {s.column} | {s.measure} | {s.reported} | {s.computed} | "
                    f"{s.explanation} |" for s in self.differing]
            out.append("")
        if self.notes:
            out += ["### Notes", ""] + [f"* {n}" for n in self.notes] + [""]
        return "\n".join(out)


def reconcile(doc: Document, segmentation: Segmentation, records: Sequence[AgreementRecord]) -> Reconciliation:
    """Compare the report's table of contents and summary tables with its cards and records."""
    toc = [parse_toc_entry(e) for e in segmentation.toc]
    findings = compare_toc(toc, segmentation.cards, records)
    tables = parse_summary_tables(doc.lines)
    summary, notes = compare_summary(tables, records, toc)
    notes = [*notes, *_table_notes(tables, segmentation, records, toc)]
    return Reconciliation(
        source_path=doc.path,
        source_sha256=doc.sha256,
        kind=doc.kind,
        toc_entries=len(toc),
        cards=len(segmentation.cards),
        records=len(records),
        findings=tuple(findings),
        summary=tuple(summary),
        notes=tuple(notes),
    )


def _table_notes(tables: Sequence[SummaryTable], segmentation: Segmentation, records: Sequence[AgreementRecord],
                 toc: Sequence[TocCard]) -> list[str]:
    notes: list[str] = []
    if not tables:
        notes.append("no summary table (【…件数】 followed by tab-separated rows) found in the document")
    for table in tables:
        for col in table.columns:
            legend = segmentation.legend.get(col.category_code) if col.category_code else None
            name = col.label[1:]
            if legend and name and fold_orthography(name) not in fold_orthography(legend):
                notes.append(f"{table.title}: column {col.label} is headed differently from the legend's "
                             f"{CIRCLED[col.category_code - 1]}{legend} (the figures are those of "
                             f"{CIRCLED[col.category_code - 1]}{legend})")
    if records:
        keys = Counter(r.agreement_key for r in records)
        repeats = sum(n - 1 for n in keys.values())
        marked_heading = sum(r.relisted for r in records)
        marked_toc = sum(t.relisted for t in toc)
        notes.append(f"re-listings: {marked_heading} card headings and {marked_toc} TOC entries carry 【再掲】; "
                     f"by agreement_key {repeats} cards repeat an agreement printed on another card")
        unmarked = _unmarked_relistings(records, {t.card_id: t.relisted for t in toc})
        for cid, original in unmarked:
            notes.append(f"{_label(cid)} repeats {_label(original)} (same agreement_key) but neither its heading "
                         f"nor the TOC marks it 【再掲】")
    notes.append("1対1 = a card naming exactly one Japanese and one foreign party; re-listed = 【再掲】 in the card "
                 "heading; a card's country = its country_codes")
    return notes


def _unmarked_relistings(records: Sequence[AgreementRecord], toc_marks: dict[str, bool]) -> list[tuple[str, str]]:
    groups: dict[str, list[AgreementRecord]] = defaultdict(list)
    for r in records:
        groups[r.agreement_key].append(r)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        unmarked = [r for r in members if not r.relisted and not toc_marks.get(r.card_id, False)]
        if len(unmarked) > 1:  # one of them is the original: the later ones are unmarked re-listings
            first = unmarked[0]
            out += [(r.card_id, first.card_id) for r in unmarked[1:]]
    return out
