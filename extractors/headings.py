"""Recognise the headings of a report: categories, card numbers, the seven field headings."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

RULES = Path(__file__).resolve().parent.parent / "nlp" / "rules"

CIRCLED = "①②③④⑤⑥⑦⑧⑨"
_WIDE_DIGITS = str.maketrans("０１２３４５６７８９（）．", "0123456789().")
_SPACES = re.compile(r"[\s\u3000]+")

# `①教育交流`, `① 教育交流`, `⑤ 經濟交流 (農業等)`; trailing empty table cells allowed.
_CATEGORY = re.compile(r"^\s*([①-⑨])\s*([^\t]{1,30}?)[\t ]*$")
# `1. title`, `1 1. title` (a number split by the converter), `１．title`, `5.\ttitle`.
_CARD = re.compile(r"^\s*([0-9０-９](?:[ \u3000]?[0-9０-９]){0,2})\s*[.．]\s*(\S.*)$")
# A table-of-contents entry ends in its page number: `…」\t14`, `… 14`.
_TOC_PAGE = re.compile(r"(?:\t|\s{1,})([0-9０-９]{1,3})\s*$")
_FIELD_NO = re.compile(r"^[(（]([1-7])[)）](.+)$")


@dataclass(frozen=True)
class CardHeading:
    number: int
    text: str  # after the number, 【再掲】 included, trailing page number not removed


@dataclass(frozen=True)
class FieldSpec:
    number: int
    name: str
    headings: tuple[str, ...]


def compact(text: str) -> str:
    """Text without any white space, digits and brackets folded to half width."""
    return _SPACES.sub("", text.translate(_WIDE_DIGITS))


def match_category(text: str) -> tuple[int, str] | None:
    """`① 教育交流` -> (1, '教育交流')."""
    m = _CATEGORY.match(text)
    if not m or "。" in m.group(2):
        return None
    return CIRCLED.index(m.group(1)) + 1, compact(m.group(2))


def match_card(text: str) -> CardHeading | None:
    """`1 1. 経済分野等…` -> CardHeading(11, '経済分野等…')."""
    m = _CARD.match(text)
    if not m:
        return None
    number = int(compact(m.group(1)))
    if number == 0:
        return None
    return CardHeading(number=number, text=m.group(2).strip())


def toc_page(text: str) -> int | None:
    """The page number a table-of-contents line ends with, if any."""
    m = _TOC_PAGE.search(text)
    return int(m.group(1).translate(_WIDE_DIGITS)) if m else None


@cache
def field_specs() -> tuple[FieldSpec, ...]:
    """The field headings rule file, loaded once."""
    data = tomllib.loads((RULES / "field_headings.toml").read_text(encoding="utf-8"))
    return tuple(FieldSpec(f["number"], f["name"], tuple(compact(h) for h in f["headings"])) for f in data["field"])


@cache
def party_labels() -> dict[str, tuple[str, ...]]:
    """Row labels of the (1) table: {'japanese': (...), 'foreign': (...)}."""
    data = tomllib.loads((RULES / "field_headings.toml").read_text(encoding="utf-8"))["parties"]
    return {"japanese": tuple(data["japanese"]), "foreign": tuple(data["foreign"])}


def match_field(text: str) -> int | None:
    """The field number (1–7) of a field heading line such as `（１）自治体名`, else None."""
    if "\t" in text.strip():
        return None
    m = _FIELD_NO.match(compact(text))
    if not m:
        return None
    number, rest = int(m.group(1)), m.group(2)
    spec = field_specs()[number - 1]
    if any(rest == h or (len(h) >= 4 and rest.startswith(h)) for h in spec.headings):
        return number
    return None
