"""One report from file to records, as plain functions (the Prefect flow wraps these).

Four stages, each a plain function of the previous one's output:
read (:func:`~extractors.readers.read_document`) -> segment
(:func:`~extractors.segment.document_to_cards`) -> extract (:func:`cards_to_fields`)
-> validate (:func:`validate_document`); :func:`extract_document` runs them in turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from extractors.card_fields import CardFields
from extractors.document import Card, Document
from extractors.readers import read_document
from extractors.records import AgreementRecord, RejectRecord
from extractors import validate as V
from extractors.records_from_cards import assign_agreement_keys, card_to_fields, fields_to_record, record_to_reject
from extractors.segment import Segmentation, document_to_cards


@dataclass(frozen=True)
class DocumentResult:
    """What one input produced: every segment ends up in records or rejects."""

    source_path: str
    source_sha256: str
    kind: str
    segments: int
    records: tuple[AgreementRecord, ...]
    rejects: tuple[RejectRecord, ...]
    timings: dict[str, float] = field(default_factory=dict)
    reconciliation: dict | None = None  # qa.reconcile.Reconciliation.to_dict() of the document
    card_texts: dict[str, str] = field(default_factory=dict, repr=False)  # card_id -> raw text, for late rejects

    @property
    def balanced(self) -> bool:
        """segments == records + rejects."""
        return self.segments == len(self.records) + len(self.rejects)

    @property
    def warning_count(self) -> int:
        return sum(len(r.warnings) for r in self.records)


def cards_to_fields(cards: list[Card], doc: Document, survey_id: str) -> list[CardFields]:
    """The extract stage: every card's fields parsed, in card order (nothing validated)."""
    return [card_to_fields(card, doc, survey_id) for card in cards]


def fields_to_records(fields: list[CardFields]) -> tuple[list[AgreementRecord], list[RejectRecord]]:
    """Validate every card's fields; agreement keys are assigned across the document (one document's cards)."""
    records: list[AgreementRecord] = []
    rejects: list[RejectRecord] = []
    for card_fields in fields:
        out = fields_to_record(card_fields)
        (records if isinstance(out, AgreementRecord) else rejects).append(out)
    return assign_agreement_keys(records), rejects


def cards_to_records(
    cards: list[Card], doc: Document, survey_id: str
) -> tuple[list[AgreementRecord], list[RejectRecord]]:
    """Extract and validate every card; agreement keys are assigned across the document."""
    return fields_to_records(cards_to_fields(cards, doc, survey_id))


def card_texts(cards: list[Card]) -> dict[str, str]:
    """The raw text of every card by card_id (the first card of an id wins)."""
    texts: dict[str, str] = {}
    for card in cards:
        texts.setdefault(f"{card.category_code}-{card.card_no}", card.raw_text)
    return texts


def reconcile_document(doc: Document, seg: Segmentation, records: list[AgreementRecord]) -> dict:
    """The reconciliation of a document's own tables with its cards, as a JSON-ready dict."""
    from qa.reconcile import reconcile

    return reconcile(doc, seg, records).to_dict()


def reject_duplicate_card_ids(results: list[DocumentResult]) -> list[DocumentResult]:
    """card_id is unique within a survey: a later card with an id already seen becomes a reject."""
    seen: set[str] = set()
    out = []
    for result in results:
        kept, moved = [], []
        for record in result.records:
            if record.card_id in seen:
                moved.append(record_to_reject(record, result.card_texts.get(record.card_id, ""),
                                              [V.DUPLICATE_CARD_ID]))
            else:
                seen.add(record.card_id)
                kept.append(record)
        out.append(replace(result, records=tuple(kept), rejects=(*result.rejects, *moved)) if moved else result)
    return out


def validate_document(
    doc: Document, seg: Segmentation, fields: list[CardFields], timings: dict[str, float] | None = None
) -> DocumentResult:
    """The validate stage of one document: records and rejects, the reconciliation, the result.

    ``fields`` are the extract stage's output for ``seg.cards``; ``timings`` (the earlier stages',
    copied, not changed) get a ``validate`` entry. Survey-level rules (:func:`reject_duplicate_card_ids`)
    are the caller's, and so is checking ``balanced``: this never raises for an unbalanced result.
    """
    t0 = time.perf_counter()
    records, rejects = fields_to_records(fields)
    reconciliation = reconcile_document(doc, seg, records)
    return DocumentResult(
        source_path=doc.path,
        source_sha256=doc.sha256,
        kind=doc.kind,
        segments=len(seg.cards),
        records=tuple(records),
        rejects=tuple(rejects),
        timings={**(timings or {}), "validate": time.perf_counter() - t0},
        reconciliation=reconciliation,
        card_texts=card_texts(seg.cards),
    )


def extract_document(path: str | Path, survey_id: str) -> DocumentResult:
    """Read, segment, extract and validate one report (raises InputError if unreadable).

    Timings: ``read``, ``segment``, ``extract``, ``validate`` (which includes the reconciliation).
    """
    t0 = time.perf_counter()
    doc = read_document(path)
    t1 = time.perf_counter()
    seg: Segmentation = document_to_cards(doc)
    t2 = time.perf_counter()
    fields = cards_to_fields(seg.cards, doc, survey_id)
    t3 = time.perf_counter()
    result = validate_document(doc, seg, fields, {"read": t1 - t0, "segment": t2 - t1, "extract": t3 - t2})
    (result,) = reject_duplicate_card_ids([result])
    if not result.balanced:  # a bug, never an input problem
        raise AssertionError(f"{doc.path}: segments {result.segments} != records + rejects")
    return result
