"""One report from file to records, as plain functions (the Prefect flow wraps these)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from extractors.document import Card, Document
from extractors.readers import read_document
from extractors.records import AgreementRecord, RejectRecord
from extractors.records_from_cards import assign_agreement_keys, card_to_record
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
    timings.update(read=t1 - t0, segment=t2 - t1, extract=t3 - t2)
    result = DocumentResult(
        source_path=doc.path,
        source_sha256=doc.sha256,
        kind=doc.kind,
        segments=len(seg.cards),
        records=tuple(records),
        rejects=tuple(rejects),
        timings=timings,
    )
    if not result.balanced:  # a bug, never an input problem
        raise AssertionError(f"{doc.path}: segments {result.segments} != records + rejects")
    return result
