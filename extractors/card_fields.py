"""The parsed fields of one card, between the extract and the validate stage.

:func:`extractors.records_from_cards.card_to_fields` produces a
:class:`CardFields` from a segmented card (no validation);
:func:`extractors.records_from_cards.fields_to_record` validates it into an
:class:`~extractors.records.AgreementRecord` or a
:class:`~extractors.records.RejectRecord`. It is an internal shape, not part of
the Parquet output contract (that is :mod:`extractors.records`): it is shipped
between workers and persisted as a task result, so it holds only plain,
immutable, picklable values (tuples, not lists; no reference to the Card or
Document it came from).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from extractors.records import Phone, Provenance


@dataclass(frozen=True)
class CardFields:
    """Everything extracted from one card, before validation; one line per field group:

    * identity: survey_id, source_path, source_sha256, card_id (None without card_no), category_code, category,
      card_no (None when unusable), page_start/page_end (PDF pages; None for text), line_start (heading's line);
    * heading: title (after ``N.``, without 【再掲】), relisted (the heading carried 【再掲】);
    * (1) parties: jp_entities, foreign_entities as split; jp_prefectures, country_codes derived (sorted, unique);
    * (2) date: agreement_date, agreement_date_precision (day/month/year/none), agreement_date_raw (as printed);
    * (3)-(5) free text: background, activities, outcomes, clean text;
    * (6)/(7) URLs and contact: urls, contact_department, phones, emails;
    * warnings: the parsers' codes in the order produced, repeats kept (validation dedupes and adds its own);
    * provenance: where each non-empty value was printed (computed for every card; only a record carries it);
    * source: raw_text (the card as segmented; only a reject carries it), extractor_version.
    """

    survey_id: str
    source_path: str
    source_sha256: str
    card_id: str | None
    category_code: int
    category: str
    card_no: int | None
    page_start: int | None
    page_end: int | None
    line_start: int
    title: str
    relisted: bool
    jp_entities: tuple[str, ...]
    jp_prefectures: tuple[str, ...]
    foreign_entities: tuple[str, ...]
    country_codes: tuple[str, ...]
    agreement_date: dt.date | None
    agreement_date_precision: str
    agreement_date_raw: str
    background: str
    activities: str
    outcomes: str
    urls: tuple[str, ...]
    contact_department: str
    phones: tuple[Phone, ...]
    emails: tuple[str, ...]
    warnings: tuple[str, ...]
    provenance: tuple[Provenance, ...]
    raw_text: str
    extractor_version: str
