"""The flow in production: caching by content, partitions, failures, crash safety, deployments, Dask."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from uuid import UUID

import pyarrow.parquet as pq
import pytest
import yaml

from extractors.write import publish_partition, verify_run
from flows import extract_flow as ef

REPO = Path(__file__).resolve().parent.parent
TEXTS = [REPO / "corpus" / n for n in ("000_96b36be4de4ad522.txt", "001_848d72157ef4d4b7.txt")]


def corpus_copy(tmp_path: Path, mini_report: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(mini_report, inbox / "a_mini.txt")
    for p in TEXTS:
        shutil.copy(p, inbox / p.name)
    return inbox


def task_states(flow_run_id: str, expected: int, timeout: float = 60.0) -> dict[str, str]:
    """task run name -> state name of a flow run's ``expected`` task runs, read back from the Prefect API.

    The server records task runs from the events the flow sends, a moment
    after the flow returns: poll until all of them are there and none is
    still running (a stage after a failed one ends ``NotReady``, a Pending state).
    """
    import time

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])),
                task_run_filter=TaskRunFilter(),
            )
            settled = [r for r in runs if r.state is not None and (r.state.is_final() or r.state.name == "NotReady")]
            if len(settled) >= expected or time.monotonic() > deadline:
                return {r.name: r.state.name if r.state else "?" for r in runs}
            time.sleep(0.2)


# ---------------------------------------------------------------- caching


@pytest.mark.prefect
def test_a_rerun_reuses_every_extraction_and_touching_one_input_reextracts_only_it(
    prefect_server, tmp_path, mini_report
) -> None:
    inbox = corpus_copy(tmp_path, mini_report)
    ds = tmp_path / "ds"
    state1, first = ef.run_flow([str(inbox)], "cache-2012", dataset=str(ds))
    part = Path(ef.partition_dir(ds, "cache-2012"))
    assert state1.is_completed() and not any(o.cached for o in first.inputs)
    bytes1 = {n: (part / n).read_bytes() for n in ("records.parquet", "rejects.parquet", "reconciliation.json")}

    state2, second = ef.run_flow([str(inbox)], "cache-2012", dataset=str(ds))
    assert state2.is_completed() and all(o.cached for o in second.inputs)
    assert {n: (part / n).read_bytes() for n in bytes1} == bytes1  # same content, byte for byte
    states = task_states(second.report["prefect"]["flow_run_id"], expected=3 * 4 + 1)
    for stage in ef.STAGE_NAMES:  # every stage of every input: Cached
        assert sorted(v for k, v in states.items() if k.startswith(stage + " ")) == ["Cached"] * 3, states

    touched = inbox / "a_mini.txt"
    touched.write_text(touched.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    _, third = ef.run_flow([str(inbox)], "cache-2012", dataset=str(ds))
    assert {o.path: o.cached for o in third.inputs} == {
        str(touched): False, **{str(inbox / p.name): True for p in TEXTS}
    }
    assert (ds / ef.CACHE_DIR_NAME).is_dir()  # the store is under the output root


@pytest.mark.prefect
def test_the_cache_can_live_in_an_fsspec_store(prefect_server, tmp_path, mini_report) -> None:
    """--cache-store URL: a RemoteFileSystem block on that URL (fsspec's in-memory store here; s3:// the same way)."""
    import fsspec

    url = f"memory://cardex-cache-{tmp_path.name}"
    _, first = ef.run_flow([str(mini_report)], "remote-2012", str(tmp_path / "a"), cache_store=url)
    assert first.exit_code == 0 and not first.inputs[0].cached
    mem = fsspec.filesystem("memory")
    stored = [p for p in mem.find(url) if not p.endswith(".lock")]
    assert len(stored) >= len(ef.STAGE_NAMES)  # one result per stage, in the store
    assert not (tmp_path / ef.CACHE_DIR_NAME).exists()  # nothing in the default local store
    _, second = ef.run_flow([str(mini_report)], "remote-2012", str(tmp_path / "b"), cache_store=url)
    assert second.inputs[0].cached
    assert (tmp_path / "a" / "records.parquet").read_bytes() == (tmp_path / "b" / "records.parquet").read_bytes()


@pytest.mark.prefect
def test_a_changed_rule_file_reruns_the_stages_after_the_read(prefect_server, tmp_path, mini_report, monkeypatch) -> None:
    inbox = corpus_copy(tmp_path, mini_report)
    ds = tmp_path / "ds"
    _, first = ef.run_flow([str(inbox)], "rules-2012", dataset=str(ds))
    part = Path(ef.partition_dir(ds, "rules-2012"))
    records1 = (part / "records.parquet").read_bytes()
    rules = tmp_path / "rules"
    shutil.copytree(ef.RULES_DIR, rules)
    with open(rules / "eras.toml", "a", encoding="utf-8") as fh:
        fh.write("\n# an edited rule file\n")
    monkeypatch.setattr(ef, "RULES_DIR", rules)
    monkeypatch.setattr(ef.rules_fingerprint, "__defaults__", (rules,))
    _, second = ef.run_flow([str(inbox)], "rules-2012", dataset=str(ds))
    assert [o.cached_stages for o in second.inputs] == [("read",)] * 3
    assert not any(o.cached for o in second.inputs)
    assert (part / "records.parquet").read_bytes() == records1  # a comment changes no record
    states = task_states(second.report["prefect"]["flow_run_id"], expected=3 * 4 + 1)
    assert {k.split(" ")[0]: v for k, v in states.items() if not k.startswith("publish")} == {
        "read": "Cached", "segment": "Completed", "extract": "Completed", "validate": "Completed"
    }


def test_the_cache_key_of_each_stage_follows_what_the_stage_depends_on(tmp_path) -> None:
    f = tmp_path / "r.txt"
    f.write_text("x")
    v = ef.CacheVersions(extractor="1.0", rules="r1")
    params = {"path": str(f), "survey_id": "s", "versions": v}
    keys = {stage: ef.cache_key(stage, params) for stage in ef.STAGE_NAMES}
    assert len(set(keys.values())) == 4  # one entry per stage
    assert keys == {stage: ef.cache_key(stage, dict(params)) for stage in ef.STAGE_NAMES}

    def changed(**change):
        p = {**params, **change}
        return {stage for stage in ef.STAGE_NAMES if ef.cache_key(stage, p) != keys[stage]}

    # a rule file: everything after the read; a survey id: the stages whose output holds it
    assert changed(versions=ef.CacheVersions(extractor="1.0", rules="r2")) == {"segment", "extract", "validate"}
    assert changed(survey_id="t") == {"extract", "validate"}
    assert changed(versions=ef.CacheVersions(extractor="1.1", rules="r1")) == set(ef.STAGE_NAMES)
    assert changed(versions=ef.CacheVersions(extractor="1.0", rules="r1", schema=99)) == set(ef.STAGE_NAMES)
    # the later stages take the sha256 of the document the read produced
    doc = ef.Timed(ef.read_document(str(f)), 0.1)
    assert ef.cache_key("segment", {**params, "doc": doc}) == keys["segment"]
    f.write_text("y")
    assert changed() == set(ef.STAGE_NAMES)
    assert ef.cache_key("read", {**params, "path": str(tmp_path / "missing")}) is None


def test_the_rules_fingerprint_changes_with_a_rule_file(tmp_path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ef.RULES_DIR, rules)
    before = ef.rules_fingerprint(rules)
    assert before == ef.rules_fingerprint(rules)
    with open(rules / "eras.toml", "a", encoding="utf-8") as fh:
        fh.write("\n# changed\n")
    assert ef.rules_fingerprint(rules) != before


def test_only_transient_io_errors_are_retried() -> None:
    import errno

    from extractors.document import InputError

    def wrapped(err: int) -> InputError:
        try:
            try:
                raise OSError(err, os.strerror(err))
            except OSError:
                raise InputError("p", "cannot read file") from None
        except InputError as exc:
            return exc

    assert ef.is_transient(wrapped(errno.EIO)) and ef.is_transient(OSError(errno.ESTALE, "stale"))
    assert not ef.is_transient(wrapped(errno.ENOENT))
    assert not ef.is_transient(InputError("p", "truncated PDF"))
    assert not ef.is_transient(ValueError("parse"))


# ---------------------------------------------------------------- failures


@pytest.mark.prefect
def test_a_corrupt_pdf_fails_alone_and_the_flow_says_which(prefect_server, tmp_path, mini_report, monkeypatch) -> None:
    inbox = corpus_copy(tmp_path, mini_report)
    (inbox / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<<")
    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    from flows import cli

    ds = tmp_path / "ds"
    assert cli.main(["extract", str(inbox), "--survey-id", "bad-2012", "--dataset", str(ds), "-q"]) == 1
    run = json.loads((ds / "survey_id=bad-2012" / "run.json").read_text(encoding="utf-8"))
    assert {i["path"]: i["status"] for i in run["inputs"]} == {
        str(inbox / "a_mini.txt"): "ok", str(inbox / "corrupt.pdf"): "failed",
        **{str(inbox / p.name): "ok" for p in TEXTS},
    }
    assert pq.read_table(ds / "survey_id=bad-2012" / "records.parquet").num_rows >= 2

    from prefect import get_client

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(UUID(run["prefect"]["flow_run_id"]))
    assert flow_run.state.is_failed()
    assert flow_run.state.message.startswith("1 of 4 inputs failed: ") and "corrupt.pdf" in flow_run.state.message
    states = task_states(run["prefect"]["flow_run_id"], expected=4 * 4 + 1)
    assert states[f"read {inbox / 'corrupt.pdf'}"] == "Failed"  # no retry on a parse error: one run, Failed
    assert states[f"validate {inbox / 'a_mini.txt'}"] == "Completed"
    assert f"segment {inbox / 'corrupt.pdf'}" not in states or states[f"segment {inbox / 'corrupt.pdf'}"] != "Completed"


# ---------------------------------------------------------------- partitions


@pytest.mark.prefect
def test_partitions_are_replaced_whole_and_others_untouched(prefect_server, tmp_path, mini_report) -> None:
    ds = tmp_path / "ds"
    ef.run_flow([str(mini_report)], "a-2012", dataset=str(ds))
    ef.run_flow([str(mini_report), str(TEXTS[0])], "b-2013", dataset=str(ds))
    b = ds / "survey_id=b-2013"
    b_before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in b.iterdir()}
    for _ in range(2):
        ef.run_flow([str(mini_report)], "a-2012", dataset=str(ds))
    assert {p.name: (p.stat().st_ino, p.read_bytes()) for p in b.iterdir()} == b_before
    assert sorted(p.name for p in ds.iterdir() if not p.name.startswith(".")) == [
        "survey_id=a-2012", "survey_id=b-2013"
    ]
    import pyarrow.dataset as pads

    table = pads.dataset(sorted(str(p) for p in ds.glob("survey_id=*/records.parquet"))).to_table()
    per_survey = {s: table.column("survey_id").to_pylist().count(s) for s in ("a-2012", "b-2013")}
    assert per_survey == {"a-2012": 2, "b-2013": 2}  # never duplicated by re-runs
    assert verify_run(ds / "survey_id=a-2012") == []


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    import extractors.write as w
    real = w._write_temp
    def dying(directory, name, write):
        if name == "rejects.parquet":  # records.parquet of the new run is written: die now
            os.kill(os.getpid(), signal.SIGKILL)
        return real(directory, name, write)
    w._write_temp = dying
    w.publish_partition(sys.argv[1], [], [], {"run": "new"})
    """
)


def test_a_run_killed_during_the_write_leaves_the_previous_partition_intact(tmp_path) -> None:
    part = tmp_path / "ds" / "survey_id=s"
    publish_partition(part, [], [], {"run": "old"})
    before = {p.name: p.read_bytes() for p in part.iterdir()}
    proc = subprocess.run([sys.executable, "-c", CRASH, str(part)], cwd=REPO, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert {p.name: p.read_bytes() for p in part.iterdir()} == before
    assert verify_run(part) == [] and json.loads((part / "run.json").read_text())["run"] == "old"
    assert [p for p in part.parent.iterdir() if ".tmp-" in p.name]  # the killed run's leftovers
    publish_partition(part, [], [], {"run": "next"})  # the next run cleans them up
    assert not [p for p in part.parent.iterdir() if ".tmp-" in p.name]
    assert json.loads((part / "run.json").read_text())["run"] == "next" and verify_run(part) == []


# ---------------------------------------------------------------- deployments


@pytest.mark.prefect
def test_the_yearly_deployment_of_prefect_yaml(prefect_server) -> None:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    (dep,) = [d for d in spec["deployments"] if d["name"] == "yearly"]
    assert dep["entrypoint"] == "flows/extract_flow.py:extract_reports"
    assert set(dep["parameters"]) == {"inputs", "survey_id", "dataset"}
    from prefect.flows import load_flow_from_entrypoint

    flow = load_flow_from_entrypoint(str(REPO / dep["entrypoint"]))
    assert flow.name == "extract-reports"
    (sched,) = dep["schedules"]
    deployment = flow.to_deployment(
        name=dep["name"], cron=sched["cron"], parameters=dep["parameters"], tags=dep["tags"]
    )
    deployment_id = deployment.apply()

    from prefect import get_client

    with get_client(sync_client=True) as client:
        got = client.read_deployment(deployment_id)
    assert got.name == "yearly" and got.parameters == dep["parameters"]
    (schedule,) = got.schedules
    assert schedule.schedule.cron == "0 6 1 4 *" and schedule.active


@pytest.mark.prefect
def test_the_inbox_deployment_of_cardex_serve(prefect_server, tmp_path) -> None:
    from flows.serve import inbox_deployment

    d = inbox_deployment(str(tmp_path / "inbox"), "clair-2012", str(tmp_path / "ds"), interval=30)
    assert d.parameters == {
        "inbox": str(tmp_path / "inbox"), "survey_id": "clair-2012", "dataset": str(tmp_path / "ds")
    }
    assert d.schedules[0].schedule.interval.total_seconds() == 30


@pytest.mark.prefect
def test_watch_inbox_runs_only_when_the_inbox_changed(prefect_server, tmp_path, mini_report) -> None:
    from flows.serve import watch_inbox

    inbox, ds = tmp_path / "inbox", tmp_path / "ds"
    inbox.mkdir()
    assert watch_inbox(str(inbox), "w-1", str(ds)) == "inbox is empty"
    shutil.copy(mini_report, inbox / "one.txt")
    state = watch_inbox(str(inbox), "w-1", str(ds))
    assert state.is_completed() and (ds / "survey_id=w-1" / "run.json").exists()
    assert watch_inbox(str(inbox), "w-1", str(ds)) == "no new reports"


# ---------------------------------------------------------------- Dask


@pytest.mark.prefect
def test_six_inputs_on_a_two_worker_dask_cluster_match_the_default_runner(prefect_server, tmp_path, mini_report) -> None:
    inbox = tmp_path / "six"
    inbox.mkdir()
    for i in range(4):
        shutil.copy(mini_report, inbox / f"mini_{i}.txt")
    for p in TEXTS:
        shutil.copy(p, inbox / p.name)
    _, threads = ef.run_flow([str(inbox)], "six", str(tmp_path / "threads"), cache=False)
    _, dask = ef.run_flow([str(inbox)], "six", str(tmp_path / "dask"), cache=False, runner="dask", workers=2)
    assert len(dask.inputs) == 6 and all(o.ok for o in dask.inputs)
    for name in ("records.parquet", "rejects.parquet"):
        assert (tmp_path / "threads" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()
