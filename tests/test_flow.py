"""The extraction flow: plain run logic without Prefect, then the Prefect flow on the session server."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pyarrow.parquet as pq
import pytest

from extractors.write import verify_run
from flows import extract_flow as ef


# ---------------------------------------------------------------- inputs


def test_folders_expand_to_their_reports_sorted(tmp_path: Path) -> None:
    for name in ("b.txt", "a.PDF", "c.md", "notes.csv", "z.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.txt").write_text("x")
    got = ef.expand_inputs([tmp_path, tmp_path / "z.txt"])
    assert got == [(str(tmp_path / n), None) for n in ("a.PDF", "b.txt", "c.md", "z.txt")]


def test_missing_paths_and_empty_folders_come_back_with_their_problem(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    got = dict(ef.expand_inputs([tmp_path / "nope.pdf", tmp_path / "empty"]))
    assert got == {
        str(tmp_path / "nope.pdf"): "no such file or directory",
        str(tmp_path / "empty"): "folder holds no .pdf, .txt or .md files",
    }


# ---------------------------------------------------------------- plain run


def test_plain_run_processes_good_inputs_and_records_bad_ones(tmp_path, mini_report, bad_inputs) -> None:
    out = tmp_path / "out"
    summary = ef.run_extraction(
        [str(mini_report), str(bad_inputs["empty"]), str(bad_inputs["noise"])], "test-2012", out
    )
    assert summary.exit_code == 1
    good, empty, noise = summary.inputs
    assert good.ok and good.segments == 2 and len(good.records) + len(good.rejects) == 2
    assert not empty.ok and not noise.ok
    for o in (empty, noise):
        assert o.error and "\n" not in o.error and "Traceback" not in o.error

    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["survey_id"] == "test-2012" and run["status"] == "failed_inputs"
    assert [i["status"] for i in run["inputs"]] == ["ok", "failed", "failed"]
    assert run["inputs"][0]["sha256"] == good.sha256 and len(good.sha256) == 64
    assert run["inputs"][0]["counts"] == {"segments": 2, "records": len(good.records),
                                          "rejects": len(good.rejects), "warnings": good.warnings}
    assert set(run["inputs"][0]["timings"]) == {"read", "segment", "extract", "validate", "total"}
    assert run["checks"]["segments_equal_records_plus_rejects"] is True
    assert run["totals"]["segments"] == run["totals"]["records"] + run["totals"]["rejects"] == 2
    assert {"cardex", "extractor", "python", "pdfplumber", "spacy", "sudachipy", "prefect", "pyarrow"} <= set(
        run["versions"]
    )
    assert run["schema_version"]
    assert pq.read_table(out / "records.parquet").num_rows == len(good.records)
    assert verify_run(out) == []


def test_a_bug_in_a_stage_fails_that_input_only(tmp_path, mini_report) -> None:
    def broken_segment(doc):
        raise KeyError("boom")

    stages = replace(ef.PLAIN_STAGES, segment=broken_segment)
    summary = ef.run_extraction([str(mini_report)], "t", tmp_path, stages=stages)
    (o,) = summary.inputs
    assert not o.ok and o.error == "internal error in segment: KeyError: 'boom'"
    assert summary.exit_code == 1


def test_an_unbalanced_input_fails_and_is_reported(tmp_path, mini_report) -> None:
    def drops_a_card(cards, doc, survey_id):
        return ef.cards_to_fields(cards, doc, survey_id)[1:]

    stages = replace(ef.PLAIN_STAGES, extract=drops_a_card)
    summary = ef.run_extraction([str(mini_report)], "t", tmp_path, stages=stages)
    assert summary.exit_code == 1 and "segments" in summary.inputs[0].error
    assert summary.report["checks"]["segments_equal_records_plus_rejects"] is False
    assert summary.report["totals"]["records"] == 0  # a failed input publishes no rows


def test_listeners_hear_each_input_as_it_finishes(tmp_path, mini_report, bad_inputs) -> None:
    heard = []
    ef.add_listener(heard.append)
    try:
        ef.run_extraction([str(mini_report), str(bad_inputs["empty"])], "t", tmp_path)
    finally:
        ef.remove_listener(heard.append)
    assert [o.ok for o in heard] == [True, False]


# ---------------------------------------------------------------- the Prefect flow


@pytest.mark.prefect
def test_flow_runs_on_prefect(prefect_server, tmp_path, mini_report, bad_inputs) -> None:
    out = tmp_path / "out"
    state, summary = ef.run_flow([str(mini_report), str(bad_inputs["noise"])], "test-2012", str(out))
    assert summary.exit_code == 1
    assert state.is_failed() and state.message.startswith("1 of 2 inputs failed: ")
    assert str(bad_inputs["noise"]) in state.message
    assert [o.status for o in summary.inputs] == ["ok", "failed"]
    assert summary.inputs[1].error and "\n" not in summary.inputs[1].error
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["prefect"]["flow_run_id"] and run["prefect"]["api"] == prefect_server.api_url
    assert run["totals"]["records"] + run["totals"]["rejects"] == 2
    assert verify_run(out) == []

    from prefect import get_client

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(UUID(run["prefect"]["flow_run_id"]))
    assert flow_run.state.is_failed() and str(bad_inputs["noise"]) in flow_run.state.message


def test_a_run_that_cannot_be_written_says_so_in_one_line(tmp_path, mini_report) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ef.PublishError, match=r"^could not write .*; the previous outputs are unchanged$"):
        ef.run_extraction([str(mini_report)], "t", tmp_path / "file" / "out")
