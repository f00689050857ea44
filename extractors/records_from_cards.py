"""Turn one segmented card into a validated record or a reject, in two stages.

:func:`card_to_fields` (extract: parse every field) then :func:`fields_to_record` (validate:
hard rules and record-level warnings); :func:`card_to_record` is the two composed.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from collections import defaultdict
from dataclasses import replace

from extractors.card_fields import CardFields
from extractors.document import Card, Document
from extractors.fields import Sections, card_to_sections, rows_to_parties
from extractors.provenance import lines_containing, lines_to_provenance, party_lines
from extractors.records import AgreementRecord, Provenance, RejectRecord
from extractors.validate import validate_record_fields
from extractors.version import EXTRACTOR_VERSION
from nlp.contacts import parse_contact
from nlp.countries import country_codes
from nlp.dates import parse_agreement_date
from nlp.parties import split_foreign_entities, split_jp_entities
from nlp.prefectures import prefectures_of
from nlp.urls import parse_urls

RELISTED_MARK = re.compile(r"\s*[【\[]\s*再\s*掲\s*[】\]]\s*")


# What a reject carries over from the record or the fields it was made from.
_REJECT_IDENTITY = (
    "survey_id", "source_path", "source_sha256", "card_id", "category_code", "card_no",
    "page_start", "page_end", "extractor_version",
)


# The record columns copied from the fields (tuples become lists): all but the two set by validation.
_RECORD_FROM_FIELDS = tuple(
    f.name for f in dataclasses.fields(AgreementRecord) if f.name not in ("agreement_key", "warnings")
)


def _reject(source: AgreementRecord | CardFields, *, line_start: int | None, reasons: list[str],
            warnings: list[str], raw_text: str) -> RejectRecord:
    return RejectRecord(
        **{name: getattr(source, name) for name in _REJECT_IDENTITY},
        line_start=line_start, reasons=reasons, warnings=warnings, raw_text=raw_text,
    )


def record_to_reject(record: AgreementRecord, raw_text: str, reasons: list[str]) -> RejectRecord:
    """Turn a record that fails a survey-level rule (e.g. a duplicate card_id) into a reject."""
    line_start = next((p.line_start for p in record.provenance if p.field == "title"), None)
    return _reject(record, line_start=line_start, reasons=reasons, warnings=list(record.warnings), raw_text=raw_text)


def heading_to_title(heading: str) -> tuple[str, bool]:
    """The card title without its 【再掲】 marker, and whether the marker was there."""
    relisted = bool(RELISTED_MARK.search(heading))
    return RELISTED_MARK.sub("", heading).strip(), relisted


def card_to_record(card: Card, doc: Document, survey_id: str) -> AgreementRecord | RejectRecord:
    """Extract every field of a card; hard-rule failures make a reject carrying the raw text."""
    return fields_to_record(card_to_fields(card, doc, survey_id))


def card_to_fields(card: Card, doc: Document, survey_id: str) -> CardFields:
    """The extract stage of one card: every field parsed, nothing validated."""
    title, relisted = heading_to_title(card.heading)
    sections = card_to_sections(card)
    warnings: list[str] = [*card.notes, *sections.warnings]

    parties = rows_to_parties(sections.lines.get(1, ()))
    jp_entities = split_jp_entities(parties.japanese)
    foreign_entities = split_foreign_entities(parties.foreign)

    date_raw = sections.text(2)
    date = parse_agreement_date(date_raw)
    warnings.extend(date.warnings)

    url_result = parse_urls(sections.text(6))
    warnings.extend(url_result.warnings)

    contact = parse_contact(sections.rows(7))
    warnings.extend(contact.warnings)

    return CardFields(
        survey_id=survey_id,
        source_path=doc.path,
        source_sha256=doc.sha256,
        card_id=f"{card.category_code}-{card.card_no}" if card.card_no is not None else None,
        category_code=card.category_code,
        category=card.category,
        card_no=card.card_no,
        page_start=card.page_start,
        page_end=card.page_end,
        line_start=card.heading_line.lineno,
        title=title,
        relisted=relisted,
        jp_entities=tuple(jp_entities),
        jp_prefectures=tuple(prefectures_of(jp_entities)),
        foreign_entities=tuple(foreign_entities),
        country_codes=tuple(country_codes(parties.foreign)),
        agreement_date=date.date,
        agreement_date_precision=date.precision,
        agreement_date_raw=date_raw,
        background=sections.free_text(3),
        activities=sections.free_text(4),
        outcomes=sections.free_text(5),
        urls=tuple(url_result.urls),
        contact_department=contact.department,
        phones=tuple(contact.phones),
        emails=tuple(contact.emails),
        warnings=tuple(warnings),
        provenance=tuple(
            card_provenance(
                card, sections, jp_entities=jp_entities, foreign_entities=foreign_entities, date_raw=date_raw,
                urls=list(url_result.urls), department=contact.department,
                phones=[p.number for p in contact.phones], emails=list(contact.emails),
            )
        ),
        raw_text=card.raw_text,
        extractor_version=EXTRACTOR_VERSION,
    )


def fields_to_record(fields: CardFields) -> AgreementRecord | RejectRecord:
    """The validate stage of one card: a record (agreement_key still "") or, on a hard-rule failure, a reject.

    A pure function of ``fields``: see :func:`extractors.validate.validate_record_fields`.
    """
    warnings, failures = validate_record_fields(
        card_no=fields.card_no, title=fields.title, jp_entities=fields.jp_entities,
        foreign_entities=fields.foreign_entities, agreement_date=fields.agreement_date,
        agreement_date_precision=fields.agreement_date_precision, contact_department=fields.contact_department,
        phones=fields.phones, emails=fields.emails, warnings=fields.warnings,
    )
    if failures:
        return _reject(fields, line_start=fields.line_start, reasons=failures, warnings=warnings,
                       raw_text=fields.raw_text)
    values = {name: getattr(fields, name) for name in _RECORD_FROM_FIELDS}
    return AgreementRecord(
        **{name: list(v) if isinstance(v, tuple) else v for name, v in values.items()},
        agreement_key="",  # assigned across the document by assign_agreement_keys
        warnings=warnings,
    )


def card_provenance(
    card: Card,
    sections: Sections,
    *,
    jp_entities: list[str],
    foreign_entities: list[str],
    date_raw: str,
    urls: list[str],
    department: str,
    phones: list[str],
    emails: list[str],
) -> list[Provenance]:
    """Where each non-empty field value of a card was printed (see :mod:`extractors.provenance`).

    Table fields use only their own rows: the labelled (1) row of each side, and
    for (6)/(7) the lines that print the value (all the field's lines when none
    does, e.g. a value split over lines).
    """
    parties = party_lines(sections.lines.get(1, ()))
    contact = sections.lines.get(7, ())

    def narrowed(lines, values, **kw):
        return lines_containing(lines, values, **kw) or list(lines)

    dept_parts = [part for part in department.split("\n") if part.strip()]
    chosen = {
        "title": [card.heading_line],
        "jp_entities": parties["japanese"] if jp_entities else [],
        "foreign_entities": parties["foreign"] if foreign_entities else [],
        "agreement_date": sections.lines.get(2, ()) if date_raw else [],
        "background": sections.lines.get(3, ()) if sections.text(3) else [],
        "activities": sections.lines.get(4, ()) if sections.text(4) else [],
        "outcomes": sections.lines.get(5, ()) if sections.text(5) else [],
        "urls": narrowed(sections.lines.get(6, ()), urls) if urls else [],
        "contact_department": narrowed(contact, dept_parts) if dept_parts else [],
        "phones": narrowed(contact, phones, digits_only=True) if phones else [],
        "emails": narrowed(contact, emails) if emails else [],
    }
    out: list[Provenance] = []
    for name, lines in chosen.items():
        out.extend(lines_to_provenance(name, lines))
    return out


# Two cards describe the same agreement when they name the same Japanese parties, countries and
# date, and both their titles and their texts (background + activities + outcomes) are nearly the
# same. The foreign parties are not compared as strings: re-listings print them differently
# (英国ロンドン市 / イギリス ロンドン市, 中華人民共和国瀋陽市 / 中華人民共和国遼寧省瀋陽市). The title
# threshold separates the two memoranda of cards ⑥3/⑥4 (same parties, date and background; title
# similarity 0.89) from the least similar true re-listing, ⑥5/⑧6 (0.96).
SAME_TEXT_SIMILARITY = 0.9
SAME_TITLE_SIMILARITY = 0.93
_WS = re.compile(r"\s+")


def _body(record: AgreementRecord) -> str:
    return _WS.sub("", "".join((record.background, record.activities, record.outcomes)))


def _similar(a: str, b: str, threshold: float) -> bool:
    if a == b:
        return True
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold and matcher.ratio() >= threshold


def same_agreement(a: AgreementRecord, b: AgreementRecord) -> bool:
    """Whether two cards (with the same parties and date) describe one agreement."""
    return _similar(_WS.sub("", a.title), _WS.sub("", b.title), SAME_TITLE_SIMILARITY) and _similar(
        _body(a), _body(b), SAME_TEXT_SIMILARITY
    )


def _group_key(r: AgreementRecord) -> tuple:
    return tuple(sorted(r.jp_entities)), tuple(r.country_codes), r.agreement_date


def assign_agreement_keys(records: list[AgreementRecord]) -> list[AgreementRecord]:
    """Give every card describing the same agreement (re-listed, marked or not) the same key."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        groups[_group_key(r)].append(i)
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for members in groups.values():
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if find(i) != find(j) and same_agreement(records[i], records[j]):
                    parent[find(j)] = find(i)
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in range(len(records)):
        clusters[find(i)].append(i)
    keyed = list(records)
    for members in clusters.values():
        key = agreement_key([records[i] for i in members])
        for i in members:
            keyed[i] = replace(records[i], agreement_key=key)
    return keyed


def agreement_key(cluster: list[AgreementRecord]) -> str:
    """A key for one agreement that does not depend on card numbers or order: parties, date, shortest title."""
    jp, countries, date = _group_key(cluster[0])
    title = min((_WS.sub("", r.title) for r in cluster), key=lambda t: (len(t), t))
    basis = "|".join([",".join(jp), ",".join(countries), date.isoformat() if date else "", title])
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]
