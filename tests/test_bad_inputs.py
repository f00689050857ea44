"""A batch of bad reports beside a good one: one line per bad file, the good one written, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from flows.extract_flow import run_extraction
from test_read_pdf import SURVEY_PDF, SURVEY_TXT, encrypted_pdf, image_only_pdf

BAD = {
    "empty.txt": lambda p: p.write_bytes(b""),
    "random.pdf": lambda p: p.write_bytes(bytes(range(256)) * 16),
    "truncated.pdf": lambda p: p.write_bytes(SURVEY_PDF.read_bytes()[:400_000]),
    "locked.pdf": lambda p: p.write_bytes(encrypted_pdf()),
    "scan.pdf": image_only_pdf,
}


def test_every_bad_input_is_one_line_and_the_good_input_is_written(tmp_path):
    inputs = []
    for name, make in BAD.items():
        make(tmp_path / name)
        inputs.append(str(tmp_path / name))
    good = tmp_path / "survey.txt"
    good.write_bytes(SURVEY_TXT.read_bytes())
    out = tmp_path / "out"

    summary = run_extraction([*inputs, str(good)], "clair-2012", out)

    assert summary.exit_code == 1
    failed = {Path(o.path).name: o.error for o in summary.failed}
    assert set(failed) == set(BAD)
    for name, error in failed.items():
        assert error and "\n" not in error and "Traceback" not in error, name
    assert "empty file" in failed["empty.txt"] and "not a PDF" in failed["random.pdf"]
    assert "truncated" in failed["truncated.pdf"] and "encrypted" in failed["locked.pdf"]
    assert "no text layer" in failed["scan.pdf"]

    assert pq.read_table(out / "records.parquet").num_rows == 175
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [i["status"] for i in run["inputs"]] == ["failed"] * 5 + ["ok"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".cardex.lock")) == [
        "reconciliation.json", "records.parquet", "rejects.parquet", "run.json"]
