"""The pipeline as four stages: read -> segment -> extract (CardFields) -> validate (records, rejects).

* the stage-by-stage composition gives exactly the records of the one-call functions
  (``cards_to_records``, ``card_to_record``, ``extract_document``) on the real CLAIR 2012 text;
* what crosses a stage boundary (CardFields, DocumentResult) survives cloudpickle + pickle
  (the flow ships it between Dask workers and persists it as a Prefect result);
* validation is a pure function of CardFields: a card with no number, no title or no parties is
  a reject with the right reasons, whatever the card it came from;
* ``validate_document`` reports an unbalanced document instead of raising.

One extraction of the report per module (about two seconds).
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import types
import typing
from pathlib import Path

import cloudpickle
import pytest

from extractors import validate as V
from extractors.card_fields import CardFields
from extractors.pipeline import (
    DocumentResult,
    cards_to_fields,
    cards_to_records,
    extract_document,
    fields_to_records,
    reject_duplicate_card_ids,
    validate_document,
)
from extractors.readers import read_document
from extractors.records import AgreementRecord, RejectRecord
from extractors.records_from_cards import card_to_fields, card_to_record, fields_to_record
from extractors.segment import document_to_cards
from extractors.version import EXTRACTOR_VERSION

REPO = Path(__file__).resolve().parent.parent
SURVEY = REPO / "corpus" / "002_e59d51f378d5a747.txt"
SURVEY_ID = "clair-2012"
CARDS_IN_SURVEY = 175  # the report's own 合計 (see tests/test_reconcile.py)

# Columns of AgreementRecord that are not copied from the CardFields of the same name.
NOT_COPIED = {"agreement_key", "warnings"}


@pytest.fixture(scope="module")
def survey():
    doc = read_document(SURVEY)
    seg = document_to_cards(doc)
    fields = cards_to_fields(seg.cards, doc, SURVEY_ID)
    return doc, seg, fields


@pytest.fixture(scope="module")
def a_record_fields(survey) -> CardFields:
    """The fields of a real card that is a valid record with every field filled in."""
    _, _, fields = survey
    for f in fields:
        filled = (f.jp_entities, f.foreign_entities, f.agreement_date, f.contact_department, f.phones, f.emails, f.urls)
        if all(filled):
            assert isinstance(fields_to_record(f), AgreementRecord)
            return f
    raise AssertionError("no complete card in the survey")


# ---------------------------------------------------------------- the stages compose to the one-call functions


def test_fields_to_records_of_cards_to_fields_is_cards_to_records(survey):
    doc, seg, fields = survey
    assert len(fields) == len(seg.cards) == CARDS_IN_SURVEY
    staged = fields_to_records(fields)
    direct = cards_to_records(seg.cards, doc, SURVEY_ID)
    assert staged == direct  # whole records, every column, in order
    records, rejects = staged
    assert len(records) == CARDS_IN_SURVEY and not rejects
    assert all(r.agreement_key for r in records)  # keys assigned across the document


def test_each_card_validates_to_its_record(survey):
    doc, seg, fields = survey
    records, _ = fields_to_records(fields)
    for card, card_fields, record in zip(seg.cards, fields, records, strict=True):
        assert card_to_fields(card, doc, SURVEY_ID) == card_fields
        one = fields_to_record(card_fields)
        assert one == card_to_record(card, doc, SURVEY_ID)
        assert one == dataclasses.replace(record, agreement_key="")


def test_a_record_carries_its_fields_through(survey):
    """Every column named like a CardFields field is that field's value (lists for tuples)."""
    _, _, fields = survey
    names = {f.name for f in dataclasses.fields(CardFields)}
    columns = [c.name for c in dataclasses.fields(AgreementRecord) if c.name not in NOT_COPIED]
    assert set(columns) <= names
    for card_fields in fields:
        record = fields_to_record(card_fields)
        for column in columns:
            value = getattr(card_fields, column)
            expected = list(value) if isinstance(value, tuple) else value
            assert getattr(record, column) == expected, (card_fields.card_id, column)
        # validation keeps the parsers' warnings first (without repeats) and adds its own after them
        parsed = list(dict.fromkeys(card_fields.warnings))
        assert record.warnings[: len(parsed)] == parsed
        assert record.extractor_version == EXTRACTOR_VERSION


def test_extract_document_is_the_stages_in_turn(survey):
    doc, seg, fields = survey
    result = extract_document(SURVEY, SURVEY_ID)
    (staged,) = reject_duplicate_card_ids([validate_document(doc, seg, fields)])
    assert set(result.timings) == {"read", "segment", "extract", "validate"}
    assert dataclasses.replace(result, timings={}) == dataclasses.replace(staged, timings={})
    assert result.card_texts == staged.card_texts  # not part of ==
    assert result.balanced and result.segments == CARDS_IN_SURVEY
    assert result.reconciliation and result.reconciliation == staged.reconciliation


# ---------------------------------------------------------------- what crosses a stage boundary


def _check_types(value, annotation) -> None:
    """``value`` is of the (simple) annotated type: unions, tuple[X, ...], classes."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(annotation):
            try:
                return _check_types(value, arm)
            except AssertionError:
                pass
        raise AssertionError(f"{value!r} is none of {annotation}")
    if origin is tuple:
        assert type(value) is tuple, f"{value!r} is not a tuple"
        (item, _ellipsis) = typing.get_args(annotation)
        for v in value:
            _check_types(v, item)
        return
    expected = type(None) if annotation is None else annotation
    assert isinstance(value, expected), f"{value!r} is not {annotation}"


def test_card_fields_are_typed_and_immutable(survey):
    _, _, fields = survey
    hints = typing.get_type_hints(CardFields)
    for card_fields in fields:
        for f in dataclasses.fields(CardFields):
            _check_types(getattr(card_fields, f.name), hints[f.name])
        hash(card_fields)  # only immutable values inside
    with pytest.raises(dataclasses.FrozenInstanceError):
        fields[0].title = "x"


def test_card_fields_survive_cloudpickle(survey, a_record_fields):
    _, _, fields = survey
    back = pickle.loads(cloudpickle.dumps(a_record_fields))
    assert back == a_record_fields and back is not a_record_fields
    assert back.provenance and back.phones and back.agreement_date  # the nested values made it too
    assert pickle.loads(cloudpickle.dumps(fields)) == fields
    assert fields_to_record(back) == fields_to_record(a_record_fields)


def test_document_result_survives_cloudpickle():
    result = extract_document(SURVEY, SURVEY_ID)
    back: DocumentResult = pickle.loads(cloudpickle.dumps(result))
    assert back == result
    assert back.card_texts == result.card_texts and back.reconciliation == result.reconciliation
    assert back.balanced and len(back.records) == CARDS_IN_SURVEY


# ---------------------------------------------------------------- validation is a pure function of CardFields


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({"card_no": None, "card_id": None}, [V.MISSING_CARD_NO]),
        ({"card_no": 0}, [V.MISSING_CARD_NO]),
        ({"title": ""}, [V.MISSING_TITLE]),
        ({"title": " \u3000"}, [V.MISSING_TITLE]),
        ({"jp_entities": (), "foreign_entities": ()}, [V.MISSING_PARTIES]),
        ({"jp_entities": ("",), "foreign_entities": (" ",)}, [V.MISSING_PARTIES]),
        (
            {"card_no": None, "card_id": None, "title": "", "jp_entities": (), "foreign_entities": ()},
            [V.MISSING_CARD_NO, V.MISSING_TITLE, V.MISSING_PARTIES],
        ),
    ],
    ids=["no-number", "number-0", "no-title", "blank-title", "no-parties", "blank-parties", "all-three"],
)
def test_hard_rule_failures_are_rejects(a_record_fields, changes, reasons):
    before = copy.deepcopy(a_record_fields)
    broken = dataclasses.replace(a_record_fields, **changes)
    reject = fields_to_record(broken)
    assert isinstance(reject, RejectRecord)
    assert reject.reasons == reasons
    assert reject == fields_to_record(broken)  # same fields, same reject
    assert a_record_fields == before  # the input is not changed
    f = broken
    assert (reject.card_id, reject.card_no, reject.category_code) == (f.card_id, f.card_no, f.category_code)
    assert (reject.page_start, reject.page_end, reject.line_start) == (f.page_start, f.page_end, f.line_start)
    assert (reject.survey_id, reject.source_path, reject.source_sha256) == (f.survey_id, f.source_path, f.source_sha256)
    assert reject.raw_text == f.raw_text and reject.extractor_version == f.extractor_version
    assert V.MISSING_JP_PARTY not in reject.warnings and V.MISSING_FOREIGN_PARTY not in reject.warnings


def test_one_side_missing_is_a_record_with_a_warning(a_record_fields):
    record = fields_to_record(dataclasses.replace(a_record_fields, foreign_entities=(), country_codes=()))
    assert isinstance(record, AgreementRecord)
    assert V.MISSING_FOREIGN_PARTY in record.warnings and V.MISSING_JP_PARTY not in record.warnings
    record = fields_to_record(dataclasses.replace(a_record_fields, jp_entities=(), jp_prefectures=()))
    assert isinstance(record, AgreementRecord)
    assert V.MISSING_JP_PARTY in record.warnings


def test_record_level_warnings_come_from_the_fields(a_record_fields):
    assert V.MISSING_EMAIL not in fields_to_record(a_record_fields).warnings
    record = fields_to_record(dataclasses.replace(a_record_fields, emails=(), phones=(), contact_department=""))
    assert record.warnings[-3:] == [V.MISSING_DEPARTMENT, V.MISSING_PHONE, V.MISSING_EMAIL]
    explained = dataclasses.replace(a_record_fields, emails=(), warnings=(*a_record_fields.warnings, V.UNREADABLE_EMAIL))
    assert V.MISSING_EMAIL not in fields_to_record(explained).warnings
    with pytest.raises(V.UnregisteredWarning):
        fields_to_record(dataclasses.replace(a_record_fields, warnings=("no_such_code",)))


# ---------------------------------------------------------------- validate_document


def test_validate_document_keeps_timings_and_adds_its_own(survey):
    doc, seg, fields = survey
    given = {"read": 1.0, "segment": 2.0, "extract": 3.0}
    result = validate_document(doc, seg, fields, given)
    assert given == {"read": 1.0, "segment": 2.0, "extract": 3.0}  # not changed
    assert list(result.timings) == ["read", "segment", "extract", "validate"]
    assert {k: result.timings[k] for k in given} == given and result.timings["validate"] >= 0
    assert set(validate_document(doc, seg, fields).timings) == {"validate"}
    assert result.balanced and result.segments == len(seg.cards)
    assert (result.source_path, result.source_sha256, result.kind) == (doc.path, doc.sha256, doc.kind)
    assert len(result.card_texts) == len(seg.cards)


def test_validate_document_reports_an_unbalanced_document(survey):
    doc, seg, fields = survey
    result = validate_document(doc, seg, fields[:-1])  # the extract stage lost a card: no exception
    assert result.segments == len(seg.cards)
    assert len(result.records) + len(result.rejects) == len(seg.cards) - 1
    assert not result.balanced
