"""Warning codes, hard rules and the record-level validation.

Every warning code that any stage of cardex writes into ``warnings`` is
declared here once, as a module constant and as an entry of :data:`WARNINGS`
(code -> one-line meaning); the README lists that registry. Producers use
the constants (``warnings.append(validate.MISSING_EMAIL)``), never string
literals, and :func:`validate_record_fields` refuses an unregistered code, so
an undocumented code cannot reach the output. A code may carry a detail
after a colon (``some_code:3``); only the part before the colon is looked up.

:data:`HARD_RULES` are the reasons a card segment goes to ``rejects``
instead of ``records``.

This module imports nothing from cardex, so that every other module
(``nlp/`` included) may import it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

# --- warnings: segmentation and fields (produced by extractors/segment.py, extractors/fields.py) ---
CARD_NUMBER_OUT_OF_SEQUENCE = "card_number_out_of_sequence"
TEXT_BEFORE_FIRST_FIELD = "text_before_first_field"
MISSING_FIELD = "missing_field"
DUPLICATE_FIELD = "duplicate_field"

# --- warnings: field (2) 提携年月日 -----------------------------------------
MISSING_DATE = "missing_date"
DATE_UNREADABLE = "date_unreadable"
INVALID_DATE = "invalid_date"
DATE_ERA_MISMATCH = "date_era_mismatch"
DATE_OUTSIDE_ERA = "date_outside_era"
MULTIPLE_DATES = "multiple_dates"
DATE_FISCAL_YEAR = "date_fiscal_year"

# --- warnings: field (6) URLs ------------------------------------------------
INVALID_URL = "invalid_url"

# --- warnings: field (7) 問い合わせ先 ----------------------------------------
MISSING_DEPARTMENT = "missing_department"
MISSING_PHONE = "missing_phone"
MISSING_EMAIL = "missing_email"
UNREADABLE_PHONE = "unreadable_phone"
SUSPICIOUS_PHONE = "suspicious_phone"
UNREADABLE_EMAIL = "unreadable_email"
CONTACT_UNLABELLED = "contact_unlabelled"

# --- warnings: field (1) parties (record level) -------------------------------
MISSING_JP_PARTY = "missing_jp_party"
MISSING_FOREIGN_PARTY = "missing_foreign_party"

WARNINGS: dict[str, str] = {
    CARD_NUMBER_OUT_OF_SEQUENCE: "the card's number is not the one expected after the previous card (`:N` = expected)",
    TEXT_BEFORE_FIRST_FIELD: "the card has text between its heading and its first field heading; it is ignored",
    MISSING_FIELD: "the card has no heading for one of the fields (1)-(7) (`:name` = which field)",
    DUPLICATE_FIELD: "the card has a field heading twice; the lines are gathered under one field (`:name`)",
    MISSING_DATE: "(2) 提携年月日 is empty, `--` or なし; agreement_date is null",
    DATE_UNREADABLE: "(2) holds text but no date could be read from it; agreement_date is null",
    INVALID_DATE: "(2) prints an impossible date (e.g. 2月30日); agreement_date is null",
    DATE_ERA_MISMATCH: "the era year and the western year in brackets disagree; the western year is used",
    DATE_OUTSIDE_ERA: "the date lies outside the span of the era it is printed in (kept as printed)",
    MULTIPLE_DATES: "(2) gives several dates; agreement_date is the earliest",
    DATE_FISCAL_YEAR: "(2) gives only a fiscal year (年度), which fixes no calendar date; agreement_date is null",
    INVALID_URL: "a URL-like string in (6) is not an http(s) URL with a dotted host name; it is dropped",
    MISSING_DEPARTMENT: "(7) gives no 担当部署名",
    MISSING_PHONE: "(7) gives no phone number",
    MISSING_EMAIL: "(7) gives no e-mail address",
    UNREADABLE_PHONE: "text in the phone cell of (7) cannot be read as a phone number; that part is dropped",
    SUSPICIOUS_PHONE: "a phone number read as printed is not a valid Japanese number (phonenumbers); it is kept",
    UNREADABLE_EMAIL: "text in the e-mail cell of (7) is not a valid ASCII address; that part is dropped",
    CONTACT_UNLABELLED: "a cell of (7) is under no known label (担当部署名/電話番号/電子メール…); it is ignored",
    MISSING_JP_PARTY: "(1) names no Japanese party (日本の自治体)",
    MISSING_FOREIGN_PARTY: "(1) names no foreign party (海外の自治体)",
}

# --- hard rules: a card failing one of them is a reject ----------------------
MISSING_CARD_NO = "missing_card_no"
MISSING_TITLE = "missing_title"
MISSING_PARTIES = "missing_parties"
DUPLICATE_CARD_ID = "duplicate_card_id"

HARD_RULES: dict[str, str] = {
    MISSING_CARD_NO: "the card heading carries no usable card number (`N.`)",
    MISSING_TITLE: "the card heading carries no title after `N.`",
    MISSING_PARTIES: "(1) names no party on either side: neither a Japanese nor a foreign one",
    DUPLICATE_CARD_ID: "an earlier card of the same survey (same or another input) has the same card_id",
}

DATE_PRECISIONS = ("day", "month", "year", "none")

# Warnings that already explain an empty value, so no `missing_*` is added for it.
_DATE_EXPLAINED = {MISSING_DATE, DATE_UNREADABLE, INVALID_DATE, DATE_FISCAL_YEAR}


class UnregisteredWarning(ValueError):
    """A warning code that is not in :data:`WARNINGS` (a programming error)."""


def base_code(code: str) -> str:
    """The registered part of a code: a code may carry a detail after a colon (``code:detail``)."""
    return code.partition(":")[0]


def unregistered(codes: Iterable[str]) -> list[str]:
    """The codes among ``codes`` that are not registered, in order, without repeats."""
    return _dedupe(c for c in codes if base_code(c) not in WARNINGS)


def _dedupe(codes: Iterable[str]) -> list[str]:
    """The codes in first-seen order, without repeats."""
    return list(dict.fromkeys(codes))


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def validate_record_fields(
    *,
    card_no: int | None,
    title: str | None,
    jp_entities: Sequence[str],
    foreign_entities: Sequence[str],
    agreement_date: dt.date | None,
    agreement_date_precision: str,
    contact_department: str = "",
    phones: Sequence[Any] = (),
    emails: Sequence[str] = (),
    warnings: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """Check the assembled field values of one card.

    ``warnings`` are the codes the field parsers already produced. Returns
    ``(warnings, reject_reasons)``: the given warnings plus the record-level
    ones, in first-seen order without repeats, and the codes of the failed
    :data:`HARD_RULES` (empty when the card is a valid record).

    A `missing_*` warning is added for an empty date, phone list, e-mail list
    or department unless a parser warning already explains it (e.g.
    `unreadable_phone`). Missing contact data and a missing party on one side
    are warnings; no card number, no title, or no party on *both* sides are
    rejects. Raises :class:`UnregisteredWarning` for an unregistered warning
    code and ``ValueError`` for an inconsistent date/precision pair (both are
    bugs in the caller, not properties of the data).
    """
    out = _dedupe(warnings)
    bad = unregistered(out)
    if bad:
        raise UnregisteredWarning(f"unregistered warning code(s): {', '.join(bad)}")
    if agreement_date_precision not in DATE_PRECISIONS:
        raise ValueError(f"unknown date precision {agreement_date_precision!r}")
    if (agreement_date is None) != (agreement_date_precision == "none"):
        raise ValueError(f"date {agreement_date!r} with precision {agreement_date_precision!r}")

    def add(code: str) -> None:
        if code not in out:
            out.append(code)

    jp = [e for e in jp_entities if not _blank(e)]
    foreign = [e for e in foreign_entities if not _blank(e)]
    if jp and not foreign:
        add(MISSING_FOREIGN_PARTY)
    if foreign and not jp:
        add(MISSING_JP_PARTY)
    if agreement_date is None and not _DATE_EXPLAINED.intersection(out):
        add(MISSING_DATE)
    if _blank(contact_department):
        add(MISSING_DEPARTMENT)
    if not phones and UNREADABLE_PHONE not in out:
        add(MISSING_PHONE)
    if not emails and UNREADABLE_EMAIL not in out:
        add(MISSING_EMAIL)

    rejects = hard_rule_failures(card_no=card_no, title=title, jp_entities=jp, foreign_entities=foreign)
    return out, rejects


def hard_rule_failures(
    *, card_no: int | None, title: str | None, jp_entities: Sequence[str], foreign_entities: Sequence[str]
) -> list[str]:
    """The codes of the :data:`HARD_RULES` a card fails, in registry order (empty: a valid record).

    ``missing_parties`` means no party on *either* side, i.e. neither a Japanese nor a
    foreign one; a card with one side only is a record with ``missing_jp_party`` or
    ``missing_foreign_party`` (see :func:`validate_record_fields`).
    """
    failures = []
    if card_no is None or card_no < 1:
        failures.append(MISSING_CARD_NO)
    if _blank(title):
        failures.append(MISSING_TITLE)
    if not any(not _blank(e) for e in (*jp_entities, *foreign_entities)):
        failures.append(MISSING_PARTIES)
    return failures
