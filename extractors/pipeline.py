"""One report from file to records, as plain functions (the Prefect flow wraps these)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from extractors.document import Card, Document
from extractors.readers import read_document
from extractors.records import AgreementRecord, RejectRecord
from extractors import validate as V
from extractors.records_from_cards import assign_agreement_keys, card_to_record, record_to_reject
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


def cards_to_records(
    cards: list[Card], doc: Document, survey_id: str
) -> tuple[list[AgreementRecord], list[RejectRecord]]:
    """Extract and validate every card; agreement keys are assigned across the document."""
    records: list[AgreementRecord] = []
    rejects: list[RejectRecord] = []
    for card in cards:
        out = card_to_record(card, doc, survey_id)
        (records if isinstance(out, AgreementRecord) else rejects).append(out)
    return assign_agreement_keys(records), rejects


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


def extract_document(path: str | Path, survey_id: str) -> DocumentResult:
    """Read, segment, extract and validate one report (raises InputError if unreadable)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    doc = read_document(path)
    t1 = time.perf_counter()
    seg: Segmentation = document_to_cards(doc)
    t2 = time.perf_counter()
    records, rejects = cards_to_records(seg.cards, doc, survey_id)
    t3 = time.perf_counter()
    reconciliation = reconcile_document(doc, seg, records)
    t4 = time.perf_counter()
    timings.update(read=t1 - t0, segment=t2 - t1, extract=t3 - t2, reconcile=t4 - t3)
    result = DocumentResult(
        source_path=doc.path,
        source_sha256=doc.sha256,
        kind=doc.kind,
        segments=len(seg.cards),
        records=tuple(records),
        rejects=tuple(rejects),
        timings=timings,
        reconciliation=reconciliation,
        card_texts=card_texts(seg.cards),
    )
    (result,) = reject_duplicate_card_ids([result])
    if not result.balanced:  # a bug, never an input problem
        raise AssertionError(f"{doc.path}: segments {result.segments} != records + rejects")
    return result
