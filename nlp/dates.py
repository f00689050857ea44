"""Field (2) 提携年月日: the agreement date.

:func:`parse_agreement_date` reads every date printed in the field and keeps
the earliest (SPEC: `agreement_date`). Dates are printed with a Japanese era
year, usually followed by the western year in brackets
(``平成16（2004）年12月24日``), sometimes with only one of the two, with half-
or full-width digits and brackets, letter-spaced (``平成 1 1 （ 1 9 9 9 ） 年``),
or several in one field with labels and notes around them.

Rules:

* the western year in brackets wins over the era year; where they disagree
  the warning is ``date_era_mismatch``; 元年 is year 1; with only an era year
  the western year comes from the era table ``nlp/rules/eras.toml``;
* a date without day (month) is the first day of the month (year), with
  precision ``month`` (``year``); a lower precision is *not* a warning, the
  precision column says it;
* several different dates: the earliest, with ``multiple_dates``;
* an impossible date anywhere in the field (2月30日): no date at all and
  ``invalid_date`` -- never the other, plausible-looking, date;
* a fiscal year only (``平成23年度``): no date, ``date_fiscal_year``;
* empty, ``--`` or なし: no date, ``missing_date``; other text without a date:
  ``date_unreadable``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache

from extractors import validate as V
from nlp.normalize import normalize_width
from nlp.tokenizer import load_toml

RULES = "eras.toml"
_EMPTY = re.compile(r"[-‐‑‒–—―ー−]*|(?:該当)?(?:なし|無し)")
_RANK = {"day": 0, "month": 1, "year": 2}  # the finer of two equal dates wins


@dataclass(frozen=True)
class Era:
    name: str
    abbr: str
    start: dt.date
    end: dt.date | None  # first day of the next era, None for the current one

    def year(self, n: int) -> int:
        return self.start.year + n - 1


@dataclass(frozen=True)
class ParsedDate:
    date: dt.date | None
    precision: str  # "day", "month", "year" or "none"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Candidate:
    date: dt.date | None  # None: impossible date
    precision: str
    warnings: tuple[str, ...]


def load_rules() -> dict:
    return load_toml(RULES)


@cache
def eras() -> tuple[Era, ...]:
    rows = sorted(load_rules()["era"], key=lambda r: r["start"])
    out = []
    for i, row in enumerate(rows):
        end = rows[i + 1]["start"] if i + 1 < len(rows) else None
        out.append(Era(row["name"], row["abbr"], row["start"], end))
    return tuple(out)


def _era(token: str) -> Era:
    return next(e for e in eras() if token in (e.name, e.abbr))


@cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    names = "|".join(re.escape(e.name) for e in eras())
    abbrs = "".join(re.escape(e.abbr) for e in eras())
    era = rf"(?P<era>{names}|(?<![A-Za-z])[{abbrs}](?=[\d元]))(?P<ey>元|\d{{1,2}})"
    md = r"(?:(?P<m>\d{1,2})月(?:(?P<d>\d{1,2})日)?)?"
    # 平成16(2004)年12月24日, 平成24年4月4日, 平成18年(2006)年3月16日, 平成24年(2012年)4月4日
    era_kanji = re.compile(
        rf"{era}(?P<y1>年)?(?:\((?P<wy>\d{{4}})年?\))?(?(y1)年?|年)(?P<fy>[度代])?{md}"
    )
    # H24.4.4, 平成24/4/4
    era_sep = re.compile(rf"{era}(?P<sep>[./])(?P<m>\d{{1,2}})(?P=sep)(?P<d>\d{{1,2}})(?!\d)")
    # 2012年4月4日, 2012(平成24)年4月4日
    west_kanji = re.compile(
        rf"(?<!\d)(?P<wy>\d{{4}})(?:\({era}年?\))?年(?P<fy>[度代])?{md}"
    )
    # 2012/4/4, 2012.4.4, 2012-04-04
    west_sep = re.compile(r"(?<!\d)(?P<wy>\d{4})(?P<sep>[./-])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?!\d)")
    return era_kanji, era_sep, west_kanji, west_sep


def normalize(raw: str) -> str:
    """Fold full-width characters to ASCII and drop all whitespace (letter-spacing, line breaks)."""
    return re.sub(r"\s+", "", normalize_width(raw))


def _candidate(m: re.Match[str]) -> _Candidate | str:
    """A date from one match; the string "fiscal" for a fiscal year (年度), "decade" for 年代."""
    g = m.groupdict()
    if g.get("fy"):
        return "fiscal" if g["fy"] == "度" else "decade"
    warnings: list[str] = []
    era = _era(g["era"]) if g.get("era") else None
    era_year = None
    if era is not None:
        n = 1 if g["ey"] == "元" else int(g["ey"])
        if n < 1:
            return _Candidate(None, "none", (V.INVALID_DATE,))
        era_year = era.year(n)
    year = int(g["wy"]) if g.get("wy") else era_year
    assert year is not None
    if era_year is not None and era_year != year:
        warnings.append(V.DATE_ERA_MISMATCH)
    month = int(g["m"]) if g.get("m") else None
    day = int(g["d"]) if g.get("d") else None
    precision = "day" if day is not None else "month" if month is not None else "year"
    try:
        date = dt.date(year, 1 if month is None else month, 1 if day is None else day)
    except ValueError:
        return _Candidate(None, "none", (V.INVALID_DATE,))
    if era is not None and _outside(era, date, precision):
        warnings.append(V.DATE_OUTSIDE_ERA)
    return _Candidate(date, precision, tuple(warnings))


def _outside(era: Era, first: dt.date, precision: str) -> bool:
    """Whether the period (day, month or year) starting at ``first`` lies wholly outside ``era``."""
    if precision == "day":
        last = first
    elif precision == "month":
        nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = nxt - dt.timedelta(days=1)
    else:
        last = dt.date(first.year, 12, 31)
    return last < era.start or (era.end is not None and first >= era.end)


def _is_empty(text: str) -> bool:
    """Empty, only dashes (``--``, ``―``, ``ー``), or "none" (なし)."""
    return _EMPTY.fullmatch(text) is not None


def parse_agreement_date(raw: str) -> ParsedDate:
    """The earliest date printed in field (2), its precision and warnings."""
    text = normalize(raw or "")
    if _is_empty(text):
        return ParsedDate(None, "none", (V.MISSING_DATE,))
    found: list[tuple[int, _Candidate]] = []
    fiscal = False
    for pattern in _patterns():
        for m in pattern.finditer(text):
            c = _candidate(m)
            if c == "fiscal":
                fiscal = True
            elif c != "decade":
                assert isinstance(c, _Candidate)
                found.append((m.start(), c))
        # mask the matches so that a later (western) pattern does not read them again
        text = pattern.sub(lambda m: "\0" * len(m.group(0)), text)
    if not found:
        return ParsedDate(None, "none", (V.DATE_FISCAL_YEAR if fiscal else V.DATE_UNREADABLE,))
    candidates = [c for _, c in sorted(found, key=lambda f: f[0])]
    if any(c.date is None for c in candidates):
        return ParsedDate(None, "none", (V.INVALID_DATE,))
    best = min(candidates, key=lambda c: (c.date, _RANK[c.precision]))
    warnings = list(best.warnings)
    if len({c.date for c in candidates}) > 1:
        warnings.append(V.MULTIPLE_DATES)
    return ParsedDate(best.date, best.precision, tuple(warnings))
