"""The output records, declared once.

``RECORD_SCHEMA`` and ``REJECT_SCHEMA`` (the Parquet schemas) and the
README's column table are all derived from these dataclasses by
:func:`arrow_schema`; nothing else spells the columns out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any

import pyarrow as pa

SCHEMA_VERSION = "1"

# Width annotations: the Python type says what a value is, the annotation how Parquet stores it.
Int8 = Annotated[int, pa.int8()]
Int16 = Annotated[int, pa.int16()]
Int32 = Annotated[int, pa.int32()]


def doc(text: str) -> dict[str, str]:
    """Field metadata holding the column's one-line description."""
    return {"doc": text}


@dataclass(frozen=True)
class Phone:
    number: str = field(metadata=doc("ASCII digits with the hyphens printed"))
    extension: str | None = field(default=None, metadata=doc("extension digits (内線), or null"))


@dataclass(frozen=True)
class Provenance:
    """Where one field value came from in the source (see :mod:`extractors.provenance`).

    PDF input: one entry per field and page, the union box of the field's
    printed lines on that page. Text input: one entry per field, the source
    line span (page and box null).
    """

    # `dataclasses.field`: the first member is itself named `field`.
    field: str = dataclasses.field(metadata=doc("the record column the value went to, e.g. `phones`"))
    page: Int32 | None = dataclasses.field(default=None, metadata=doc("1-based PDF page (null for text input)"))
    x0: float | None = dataclasses.field(default=None, metadata=doc("left edge of the box, pdfplumber points"))
    top: float | None = dataclasses.field(default=None, metadata=doc("top edge of the box, points from the page top"))
    x1: float | None = dataclasses.field(default=None, metadata=doc("right edge of the box, pdfplumber points"))
    bottom: float | None = dataclasses.field(
        default=None, metadata=doc("bottom edge of the box, points from the page top")
    )
    line_start: Int32 | None = dataclasses.field(
        default=None, metadata=doc("first source line (text) or logical line index (PDF) of the value")
    )
    line_end: Int32 | None = dataclasses.field(
        default=None, metadata=doc("last source line / logical line index, inclusive")
    )


@dataclass(frozen=True)
class AgreementRecord:
    """One agreement card, extracted and validated (one row of records.parquet)."""

    survey_id: str = field(metadata=doc("operator-given id of the survey edition, e.g. `clair-2012`"))
    source_path: str = field(metadata=doc("file the card came from"))
    source_sha256: str = field(metadata=doc("sha256 of that file's bytes"))
    card_id: str = field(metadata=doc("`{category_code}-{card_no}`, unique within a survey"))
    category_code: Int8 = field(metadata=doc("1–9, from the circled digit of the category heading"))
    category: str = field(metadata=doc("the category's name in the report's legend (【分野】)"))
    card_no: Int16 = field(metadata=doc("the card's number within its category"))
    title: str = field(metadata=doc("card heading after `N.`, without 【再掲】"))
    relisted: bool = field(metadata=doc("the heading carries 【再掲】"))
    agreement_key: str = field(metadata=doc("same for every card describing the same agreement"))
    page_start: Int32 | None = field(metadata=doc("first PDF page of the card (null for text)"))
    page_end: Int32 | None = field(metadata=doc("last PDF page of the card (null for text)"))
    jp_entities: list[str] = field(metadata=doc("日本の自治体, one item per party"))
    jp_prefectures: list[str] = field(metadata=doc("sorted unique prefectures of the Japanese parties"))
    foreign_entities: list[str] = field(metadata=doc("海外の自治体, one item per foreign party"))
    country_codes: list[str] = field(metadata=doc("sorted unique ISO 3166-1 alpha-2 codes of the foreign parties"))
    agreement_date: dt.date | None = field(metadata=doc("earliest date in (2)"))
    agreement_date_precision: str = field(metadata=doc("`day`, `month`, `year` or `none`"))
    agreement_date_raw: str = field(metadata=doc("(2) as printed"))
    background: str = field(metadata=doc("(3) 提携に至った経緯, clean text"))
    activities: str = field(metadata=doc("(4) 提携後の取組内容, clean text"))
    outcomes: str = field(metadata=doc("(5) 取組による成果・課題等, clean text"))
    urls: list[str] = field(metadata=doc("every URL in (6)"))
    contact_department: str = field(metadata=doc("担当部署名 as printed; several rows joined with \\n"))
    phones: list[Phone] = field(metadata=doc("every phone in (7): number and extension"))
    emails: list[str] = field(metadata=doc("every e-mail address in (7), ASCII"))
    warnings: list[str] = field(metadata=doc("codes for anything missing, repaired or suspicious"))
    extractor_version: str = field(metadata=doc("version of the code that produced the row"))
    provenance: list[Provenance] = field(
        default_factory=list,
        metadata=doc(
            "where each field value came from: per field (and PDF page) the page and box "
            "(x0, top, x1, bottom in pdfplumber points) or, for text input, the source line span; "
            "no entry for an empty value"
        ),
    )


@dataclass(frozen=True)
class RejectRecord:
    """A card segment that failed a hard rule (one row of rejects.parquet)."""

    survey_id: str = field(metadata=doc("operator-given id of the survey edition"))
    source_path: str = field(metadata=doc("file the card came from"))
    source_sha256: str = field(metadata=doc("sha256 of that file's bytes"))
    card_id: str | None = field(metadata=doc("`{category_code}-{card_no}` where both are known"))
    category_code: Int8 | None = field(metadata=doc("category code, where known"))
    card_no: Int16 | None = field(metadata=doc("card number, where known"))
    page_start: Int32 | None = field(metadata=doc("first PDF page of the segment"))
    page_end: Int32 | None = field(metadata=doc("last PDF page of the segment"))
    line_start: Int32 | None = field(metadata=doc("first source line of the segment"))
    reasons: list[str] = field(metadata=doc("codes of the hard rules the card failed"))
    warnings: list[str] = field(metadata=doc("warning codes gathered before rejection"))
    raw_text: str = field(metadata=doc("the card's text as segmented"))
    extractor_version: str = field(metadata=doc("version of the code that produced the row"))


def _arrow_type(tp: Any) -> tuple[pa.DataType, bool]:
    """Map a Python annotation to (arrow type, nullable)."""
    nullable = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        return _arrow_type(args[0])[0], True
    if origin is Annotated:
        base, *extra = typing.get_args(tp)
        arrow = next((e for e in extra if isinstance(e, pa.DataType)), None)
        return (arrow or _arrow_type(base)[0]), nullable
    if origin is list:
        (item,) = typing.get_args(tp)
        item_type, item_nullable = _arrow_type(item)
        return pa.list_(pa.field("item", item_type, nullable=item_nullable)), nullable
    if dataclasses.is_dataclass(tp):
        return pa.struct(_fields(tp)), nullable
    simple = {str: pa.string(), bool: pa.bool_(), int: pa.int64(), float: pa.float64(), dt.date: pa.date32()}
    if tp in simple:
        return simple[tp], nullable
    raise TypeError(f"no arrow type for {tp!r}")


def _fields(cls: type) -> list[pa.Field]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        arrow, nullable = _arrow_type(hints[f.name])
        meta = {"doc": f.metadata["doc"]} if "doc" in f.metadata else None
        out.append(pa.field(f.name, arrow, nullable=nullable, metadata=meta))
    return out


def arrow_schema(cls: type) -> pa.Schema:
    """The Parquet schema of a record dataclass."""
    return pa.schema(_fields(cls), metadata={"cardex_schema_version": SCHEMA_VERSION, "record": cls.__name__})


RECORD_SCHEMA = arrow_schema(AgreementRecord)
REJECT_SCHEMA = arrow_schema(RejectRecord)


def to_row(record: Any) -> dict[str, Any]:
    """A record as a plain dict (nested dataclasses become dicts)."""
    return dataclasses.asdict(record)


def column_table(cls: type) -> str:
    """A Markdown table of the columns of a record, for the README."""
    schema = arrow_schema(cls)
    rows = ["| column | type | meaning |", "|---|---|---|"]
    for f in schema:
        kind = str(f.type) + ("" if f.nullable else ", not null")
        meaning = (f.metadata or {}).get(b"doc", b"").decode()
        rows.append(f"| `{f.name}` | {kind} | {meaning} |")
    return "\n".join(rows)
