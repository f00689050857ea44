"""Writers: the Parquet schema comes from the dataclasses, files round-trip, writes are atomic."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extractors import write
from extractors.records import (
    RECORD_SCHEMA,
    REJECT_SCHEMA,
    SCHEMA_VERSION,
    AgreementRecord,
    Phone,
    RejectRecord,
    to_row,
)


def make_record(**overrides) -> AgreementRecord:
    values = dict(
        survey_id="clair-2012",
        source_path="corpus/002.txt",
        source_sha256="ab" * 32,
        card_id="7-23",
        category_code=7,
        category="経済交流（商業等）",
        card_no=23,
        title="青森市・大連市経済文化交流委員会設置に関する協定",
        relisted=False,
        agreement_key="k-0001",
        page_start=None,
        page_end=None,
        jp_entities=["京都府", "舞鶴市"],
        jp_prefectures=["京都府"],
        foreign_entities=["中華人民共和国黒竜江省", "吉林省"],
        country_codes=["CN"],
        agreement_date=dt.date(2004, 12, 24),
        agreement_date_precision="day",
        agreement_date_raw="平成16（2004）年12月24日",
        background="経緯",
        activities="一行目\n二行目",
        outcomes="",
        urls=["http://www.city.aomori.aomori.jp/"],
        contact_department="A 市民協働推進課\nB 国際課",
        phones=[Phone("017-734-5235", "228"), Phone("017-734-0000")],
        emails=["x@city.example.jp"],
        warnings=["date_era_mismatch"],
        extractor_version="0.1.0",
    )
    values.update(overrides)
    return AgreementRecord(**values)


def make_reject(**overrides) -> RejectRecord:
    values = dict(
        survey_id="clair-2012",
        source_path="corpus/pdf/clair2012_tokutei.pdf",
        source_sha256="cd" * 32,
        card_id=None,
        category_code=None,
        card_no=None,
        page_start=14,
        page_end=15,
        line_start=None,
        reasons=["no_fields"],
        warnings=[],
        raw_text="1. 見出しだけ",
        extractor_version="0.1.0",
    )
    values.update(overrides)
    return RejectRecord(**values)


# ---------------------------------------------------------------- schema and round trip


def _norm(t: pa.DataType) -> pa.DataType:
    """Parquet names a list's child `element` (the standard layout); Arrow's default is `item`."""
    if pa.types.is_list(t):
        return pa.list_(pa.field("item", _norm(t.value_type), nullable=t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _norm(f.type), f.nullable, f.metadata) for f in t])
    return t


def _same(read: pa.Schema, declared: pa.Schema) -> bool:
    """Same columns, types, nullability, docs and schema metadata."""
    fields = [pa.field(f.name, _norm(f.type), f.nullable, f.metadata) for f in read]
    return pa.schema(fields, metadata=read.metadata).equals(declared, check_metadata=True)


def test_schema_is_derived_from_the_dataclasses(tmp_path: Path) -> None:
    write.write_records([make_record()], tmp_path / "records.parquet")
    write.write_rejects([make_reject()], tmp_path / "rejects.parquet")
    rec = pq.read_schema(tmp_path / "records.parquet")
    rej = pq.read_schema(tmp_path / "rejects.parquet")
    assert rec.names == [f.name for f in dataclasses.fields(AgreementRecord)]
    assert rej.names == [f.name for f in dataclasses.fields(RejectRecord)]
    assert _same(rec, RECORD_SCHEMA) and _same(rej, REJECT_SCHEMA)
    assert rec.metadata[b"cardex_schema_version"] == SCHEMA_VERSION.encode()
    assert rec.field("title").metadata[b"doc"]  # column docs travel with the file


def test_records_round_trip(tmp_path: Path) -> None:
    records = [make_record(), make_record(card_id="7-24", card_no=24, agreement_date=None,
                                          agreement_date_precision="none", phones=[], page_start=3, page_end=4)]
    path = write.write_records(records, tmp_path / "records.parquet")
    assert pq.read_table(path).to_pylist() == [to_row(r) for r in records]


def test_rejects_round_trip(tmp_path: Path) -> None:
    rejects = [make_reject(), make_reject(card_id="1-2", category_code=1, card_no=2, line_start=120)]
    path = write.write_rejects(rejects, tmp_path / "rejects.parquet")
    assert pq.read_table(path).to_pylist() == [to_row(r) for r in rejects]


def test_no_rows_still_writes_the_schema(tmp_path: Path) -> None:
    path = write.write_records([], tmp_path / "records.parquet")
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.schema.equals(RECORD_SCHEMA)


def test_a_null_in_a_not_null_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="title"):
        write.write_records([make_record(title=None)], tmp_path / "records.parquet")
    assert not (tmp_path / "records.parquet").exists()


def test_run_json_is_utf8_json(tmp_path: Path) -> None:
    path = write.write_run_json({"survey_id": "clair-2012", "category": "経済交流"}, tmp_path / "run.json")
    text = path.read_text(encoding="utf-8")
    assert "経済交流" in text and json.loads(text)["survey_id"] == "clair-2012"


# ---------------------------------------------------------------- atomicity


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if write.TMP_MARK in p.name)


def test_a_crash_before_the_rename_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "records.parquet"
    write.write_records([make_record()], path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(write.os, "replace", crash)
    with pytest.raises(OSError):
        write.write_records([make_record(card_id="9-9"), make_record(card_id="9-10")], path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_a_crash_while_writing_the_temp_file_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "run.json"
    write.write_run_json({"run": 1}, path)

    def crash(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(write.os, "fsync", crash)
    with pytest.raises(OSError):
        write.write_run_json({"run": 2}, path)
    assert json.loads(path.read_text()) == {"run": 1}
    assert _leftovers(tmp_path) == []


def _publish(out: Path, n: int, run_no: int) -> dict:
    records = [make_record(card_id=f"1-{i}", card_no=i) for i in range(1, n + 1)]
    return write.publish_run(out, records, [make_reject()], {"run": run_no})


def test_publish_writes_a_consistent_run(tmp_path: Path) -> None:
    out = tmp_path / "outputs" / "clair-2012"
    outputs = _publish(out, 3, 1)
    run = json.loads((out / "run.json").read_text())
    assert run["run"] == 1 and run["outputs"] == outputs
    assert outputs["records"]["rows"] == 3 and outputs["rejects"]["rows"] == 1
    assert write.verify_run(out) == []
    assert _leftovers(out) == []


def test_a_failed_publish_leaves_the_previous_run_whole(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    _publish(out, 3, 1)
    before = {name: (out / name).read_bytes() for name in ("records.parquet", "rejects.parquet", "run.json")}

    real = write._write_temp

    def crash_on_run_json(directory, name, fn):
        if name == write.RUN_FILE:  # records and rejects temp files are written already
            raise OSError(28, "No space left on device")
        return real(directory, name, fn)

    monkeypatch.setattr(write, "_write_temp", crash_on_run_json)
    with pytest.raises(OSError):
        _publish(out, 5, 2)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert _leftovers(out) == []
    assert write.verify_run(out) == []


def test_a_crash_between_renames_is_detected(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    _publish(out, 3, 1)
    real = os.replace
    calls = []

    def crash_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(write.os, "replace", crash_on_second)
    with pytest.raises(OSError):
        _publish(out, 5, 2)
    assert _leftovers(out) == []
    # records.parquet is new, run.json old: every file whole, the mix detectable
    assert pq.read_table(out / "records.parquet").num_rows == 5
    assert json.loads((out / "run.json").read_text())["run"] == 1
    assert any("sha256" in p for p in write.verify_run(out))


def test_temp_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / ".records.parquet.tmp-deadbeef").write_bytes(b"half")
    (out / "notes.txt").write_text("keep me")
    _publish(out, 1, 1)
    assert _leftovers(out) == []
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_killed_runs_reconciliation_temp_file_is_removed_too(tmp_path: Path) -> None:
    """Regression: stale_temp_files knew records, rejects and run.json but not reconciliation.json."""
    out = tmp_path / "run"
    out.mkdir()
    (out / f".{write.RECONCILIATION_FILE}{write.TMP_MARK}deadbeef").write_bytes(b"half")
    _publish(out, 1, 1)
    assert _leftovers(out) == []
