"""Field (7) 問い合わせ先（担当課）: department, phones and e-mail addresses.

:func:`parse_contact` takes the rows of the contact table, each split into
cells on ``\\t`` as the reader produced them, e.g.::

    [["担当部署名", "市民協働推進課", "", ""],
     ["電話番号", "017-734-5235", "電子メール", "shiminkyoudou@city.aomori.aomori.jp"]]

Labels (any variant of ``nlp/rules/contact_labels.toml``) may sit in any
column: a value belongs to the nearest label before it in its row. A row
with no label (its first cell empty) continues, column by column, the last
row that had labels -- that is how a department spread over several table
rows comes out; its lines are joined with ``\\n``.

* department: as printed (``A``/``B`` labels and separators kept), only
  stripped of surrounding white space;
* phones: full-width folded to ASCII, dashes between digits to ``-``, the
  number otherwise as printed, ``A``/``B`` labels dropped, the extension
  (``（内線228）``) split off as digits. A number is *read* when it is complete
  (``0`` plus 9-10 digits, or ``+`` plus 8-15 digits); a digit fragment
  (``017-734``, or ``03 3463 1142`` without hyphens) is dropped with
  ``unreadable_phone``, together with any number it touches, because it may
  be a piece of it. A complete number that ``phonenumbers`` deems invalid for
  Japan is kept as printed with ``suspicious_phone``: it was read exactly, so
  it is not a value that "cannot be read", and the metadata check is a
  plausibility test (it lags new number ranges), not proof of a misreading;
* e-mails: full-width folded to ASCII, otherwise as printed; checked with
  ``email_validator`` (syntax only, ASCII only). An invalid address is
  dropped with ``unreadable_email``, and so is an address that touches an
  ASCII fragment without ``@`` (``sui jigyou@…``): it may be truncated.

Warnings: ``missing_department``, ``missing_phone``, ``missing_email``
(nothing printed), ``unreadable_phone``, ``unreadable_email`` (something
printed but dropped; then no ``missing_*`` for the same field),
``suspicious_phone``, ``contact_unlabelled`` (text under no known label).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from extractors import validate as V
from extractors.records import Phone
from nlp.normalize import normalize_width
from nlp.tokenizer import load_toml

RULES = "contact_labels.toml"
_DASHES = "-‐‑‒–—―ー−"
_DASH_ONLY = re.compile(f"[{_DASHES}]+")

FIELDS = ("department", "phone", "email")


@dataclass(frozen=True)
class Contact:
    department: str
    phones: tuple[Phone, ...]
    emails: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def _dedupe(items: list) -> list:
    return list(dict.fromkeys(items))


def fold(text: str) -> str:
    """Full-width ASCII variants to ASCII; one character for one, so positions carry over."""
    folded = normalize_width(text)
    assert len(folded) == len(text)
    return folded


def load_rules() -> dict:
    return load_toml(RULES)


@cache
def _label_re() -> tuple[re.Pattern[str], dict[str, str]]:
    """A pattern for a label word in folded text, and folded-lowercase variant -> kind."""
    kinds: dict[str, str] = {}
    for kind, variants in load_rules()["labels"].items():
        for v in variants:
            kinds[re.sub(r"\s+", "", fold(v)).casefold()] = kind
    alternatives = "|".join(re.escape(v) for v in sorted(kinds, key=len, reverse=True))
    pattern = re.compile(rf"(?:(?<=\s)|^)(?:{alternatives})(?=\s*:|\s|$)\s*:?\s*", re.IGNORECASE)
    return pattern, kinds


def _segments(cell: str) -> list[tuple[str | None, str]]:
    """A cell as (label kind or None, value as printed) pieces, in order."""
    pattern, kinds = _label_re()
    folded = fold(cell)
    out: list[tuple[str | None, str]] = []
    pos, kind = 0, None
    for m in pattern.finditer(folded):
        if m.start() > pos or kind is not None:
            out.append((kind, cell[pos : m.start()]))
        label = re.sub(r"[\s:]+", "", m.group(0)).casefold()
        kind, pos = kinds[label], m.end()
    if pos < len(cell) or kind is not None:
        out.append((kind, cell[pos:]))
    return out


@dataclass
class _Gathered:
    department: list[str]
    phone: list[str]
    email: list[str]
    unlabelled: bool = False


def _gather(rows: Sequence[Sequence[str]]) -> _Gathered:
    """Distribute the cell values over the labels that govern them."""
    got = _Gathered([], [], [])
    prev_cols: dict[int, str | None] = {}  # column -> kind of the last labelled row ("" for a label cell)
    for row in rows:
        pieces = [(i, kind, text) for i, cell in enumerate(row) for kind, text in _segments(cell)]
        labelled = any(kind is not None for _, kind, _ in pieces)
        current: str | None = None
        cols: dict[int, str | None] = {}
        for i, kind, text in pieces:
            if kind is not None:
                current = kind
                cols[i] = "" if not text.strip() else kind
            elif current is not None:
                cols.setdefault(i, current)
            value = text.strip()
            if not value or _DASH_ONLY.fullmatch(value):
                continue
            target = kind or current
            if target is None:
                # before any label of its row: continues the same column of the last labelled row,
                # unless that column held labels -- then it is an unknown label, and so is what follows
                target = prev_cols.get(i) or "unknown"
                if target == "unknown":
                    current = "unknown"
            if target in FIELDS:
                getattr(got, target).append(value)
            elif target == "unknown":
                got.unlabelled = True
        if labelled:
            prev_cols = cols
    return got


# --- phones ------------------------------------------------------------------

_EXT = r"\(?\s*(?:内線|ext\.?)\s*[:.]?\s*(?P<ext>\d+)\s*\)?"
_NUM = r"\+?\d(?:[\d-]|\(\d{1,5}\))*\d|\d"
_LABEL = r"(?<![A-Za-z0-9])(?:\([A-Za-z]\)|[A-Z](?=[\s:.)]|$)[:.)]?)|[①-⑳Ⓐ-Ⓩⓐ-ⓩ]"
_PHONE_SCAN = re.compile(
    rf"(?P<e>{_EXT})|(?P<n>{_NUM})|(?P<l>{_LABEL})|(?P<w>\s+)|(?P<o>.)", re.IGNORECASE | re.DOTALL
)
_DIGIT_DASH = re.compile(rf"(?<=\d)\s*[{_DASHES}]\s*(?=\d)")


def _fold_phone(text: str) -> str:
    return _DIGIT_DASH.sub("-", fold(text))


def _complete(number: str) -> bool:
    digits = re.sub(r"\D", "", number)
    if number.startswith("+"):
        return 8 <= len(digits) <= 15
    return digits.startswith("0") and 10 <= len(digits) <= 11


def _valid_jp(number: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, "JP"))
    except phonenumbers.NumberParseException:
        return False


def parse_phones(text: str) -> tuple[list[Phone], list[str]]:
    """The phone numbers of one phone cell, and warnings."""
    items: list[tuple[str, str]] = []  # (kind, text); kinds: n number, e extension, l label, w space, o other
    for m in _PHONE_SCAN.finditer(_fold_phone(text)):
        kind = m.lastgroup or "o"
        value = m.group("ext") if kind == "e" else m.group(0)
        if kind == "o" and items and items[-1][0] == "o":
            items[-1] = ("o", items[-1][1] + value)
        else:
            items.append((kind, value))
    # neighbours: items next to each other, or with only white space between
    solid = [(k, v) for k, v in items if k != "w"]
    warnings: list[str] = []
    fragment = [k == "n" and not _complete(v) for k, v in solid]
    phones: list[Phone] = []
    for j, (k, v) in enumerate(solid):
        if k == "e" and (j == 0 or solid[j - 1][0] != "n"):
            warnings.append(V.UNREADABLE_PHONE)  # an extension without its number
        if k != "n":
            continue
        if fragment[j]:
            warnings.append(V.UNREADABLE_PHONE)
            continue
        touching = [j - 1, j + 1] + ([j + 2] if j + 1 < len(solid) and solid[j + 1][0] == "e" else [])
        if any(0 <= t < len(solid) and fragment[t] for t in touching):
            warnings.append(V.UNREADABLE_PHONE)
            continue
        ext = solid[j + 1][1] if j + 1 < len(solid) and solid[j + 1][0] == "e" else None
        if not _valid_jp(v):
            warnings.append(V.SUSPICIOUS_PHONE)
        phones.append(Phone(number=v, extension=ext))
    return phones, _dedupe(warnings)


# --- e-mails -------------------------------------------------------------------

_EMAIL_SEPARATORS = re.compile(r"[、。,;/・()\[\]<>「」『』\"]+")
_EMAIL_LABEL = re.compile(rf"^(?:{_LABEL})$")


def _valid_email(address: str) -> bool:
    if not address.isascii():
        return False
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return False
    return True


def parse_emails(text: str) -> tuple[list[str], list[str]]:
    """The e-mail addresses of one e-mail cell, and warnings."""
    folded = re.sub(r"(?i)mailto:", " ", fold(text))
    emails: list[str] = []
    warnings: list[str] = []
    for group in _EMAIL_SEPARATORS.split(folded):
        tokens = [t.rstrip(".") for t in group.split() if not _EMAIL_LABEL.match(t)]
        addresses = [t for t in tokens if "@" in t]
        fragments = [t for t in tokens if "@" not in t and re.search(r"[A-Za-z0-9]", t)]
        if fragments:
            warnings.append(V.UNREADABLE_EMAIL)
            if addresses:
                continue  # an address next to a fragment may be a piece of a longer one
        for address in addresses:
            if _valid_email(address):
                emails.append(address)
            else:
                warnings.append(V.UNREADABLE_EMAIL)
    return emails, _dedupe(warnings)


# --- the table -----------------------------------------------------------------


def _parse_cells(texts: list[str], parse: Callable[[str], tuple[list, list[str]]], unreadable: str, missing: str,
                 warnings: list[str]) -> list:
    """The values of one field's cells, their warnings added to ``warnings``.

    ``missing`` when nothing was printed, or when what was printed held no value
    (only labels or notes) and nothing was dropped as ``unreadable``.
    """
    values: list = []
    for text in texts:
        found, w = parse(text)
        values += found
        warnings += w
    if not texts or (not values and unreadable not in warnings):
        warnings.append(missing)
    return values


def parse_contact(rows: list[list[str]]) -> Contact:
    """Department, phones and e-mails of field (7), from its table rows split into cells."""
    got = _gather(rows)
    warnings: list[str] = []
    department = "\n".join(got.department)
    if not department:
        warnings.append(V.MISSING_DEPARTMENT)
    phones = _parse_cells(got.phone, parse_phones, V.UNREADABLE_PHONE, V.MISSING_PHONE, warnings)
    emails = _parse_cells(got.email, parse_emails, V.UNREADABLE_EMAIL, V.MISSING_EMAIL, warnings)
    if got.unlabelled:
        warnings.append(V.CONTACT_UNLABELLED)
    return Contact(
        department=department,
        phones=tuple(_dedupe(phones)),
        emails=tuple(_dedupe(emails)),
        warnings=tuple(_dedupe(warnings)),
    )
