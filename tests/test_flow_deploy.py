"""The data engineer's deployment paths, end to end against a real Prefect server (README: Running in production).

* ``prefect.yaml`` + a process worker: ``prefect work-pool create``, ``prefect
  deploy -n yearly``, ``prefect deployment run … -p …``, ``prefect worker start
  --run-once``: exactly the README's commands, run as child processes.
* ``cardex serve INBOX``: the long-running ``flow.serve`` process, fed reports
  while it runs, stopped with SIGINT and started again.

Every child gets the server's PREFECT_API_URL, its own PREFECT_HOME and
telemetry off, and none of the test session's PREFECT_* settings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PREFECT = [str(BIN / "prefect")] if (BIN / "prefect").exists() else [sys.executable, "-m", "prefect"]
CARDEX = [str(BIN / "cardex")] if (BIN / "cardex").exists() else [sys.executable, "-m", "flows.cli"]

MINI_CARDS = 2  # tests/fixtures/cli_mini.txt: two real cards


def _run(command: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _drop(src: Path, inbox: Path, name: str, tmp: Path, suffix: bytes = b"") -> Path:
    """Put a report into the inbox whole: written beside it, then renamed in (as an upload tool would)."""
    staged = tmp / f".{name}.part"
    staged.write_bytes(src.read_bytes() + suffix)
    os.replace(staged, inbox / name)
    return inbox / name


def _read_run(partition: Path) -> dict[str, Any] | None:
    try:
        return json.loads((partition / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check_partition(partition: Path, survey_id: str) -> dict[str, Any]:
    run = _read_run(partition)
    assert run is not None and run["survey_id"] == survey_id and run["status"] == "ok"
    records = pq.read_table(partition / "records.parquet")
    rejects = pq.read_table(partition / "rejects.parquet")
    assert records.num_rows == run["totals"]["records"] and rejects.num_rows == run["totals"]["rejects"]
    assert set(records.column("survey_id").to_pylist()) <= {survey_id}
    return run


# ---------------------------------------------------------------- prefect.yaml + worker


@pytest.mark.prefect
def test_prefect_yaml_deployment_runs_on_a_process_worker(real_server, tmp_path, mini_report, prefect_child_env) -> None:
    import yaml
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    env = prefect_child_env(tmp_path / "client-home", PREFECT_API_URL=real_server)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for documented in (
        ".venv/bin/prefect work-pool create cardex --type process",
        "CARDEX_HOME=$PWD .venv/bin/prefect --no-prompt deploy -n yearly",
        ".venv/bin/prefect deployment run extract-reports/yearly",
        "-p survey_id=clair-2013 -p 'inputs=[\"/data/clair/2013\"]' -p dataset=/data/cardex/dataset",
        ".venv/bin/prefect worker start --pool cardex",
        "`--run-once`",
    ):
        assert documented in readme, f"README, Running in production: {documented!r} (what this test runs)"
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    yearly = next(d for d in spec["deployments"] if d["name"] == "yearly")
    yaml_before = (REPO / "prefect.yaml").read_bytes()

    # README, Running in production > Deployments: the same commands, from the repository root.
    _run([*PREFECT, "work-pool", "create", "cardex", "--type", "process"], env=env, cwd=REPO)
    _run([*PREFECT, "--no-prompt", "deploy", "-n", "yearly"], env={**env, "CARDEX_HOME": str(REPO)}, cwd=REPO)
    assert (REPO / "prefect.yaml").read_bytes() == yaml_before  # deploying does not rewrite it

    with SyncPrefectClient(real_server) as client:
        deployment = client.read_deployment_by_name("extract-reports/yearly")
    assert deployment.entrypoint == yearly["entrypoint"] == "flows/extract_flow.py:extract_reports"
    assert deployment.work_pool_name == "cardex"
    assert deployment.parameters == yearly["parameters"]
    assert set(deployment.parameters) == {"inputs", "survey_id", "dataset"}
    [schedule] = deployment.schedules
    assert schedule.active
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 6 1 4 *", "Asia/Tokyo")
    # {{ $CARDEX_HOME }} is resolved when deploying: the worker runs the flow in this checkout
    assert deployment.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    ]

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(mini_report, inputs / "mini.txt")
    dataset = tmp_path / "dataset"
    out = _run(
        [*PREFECT, "deployment", "run", "extract-reports/yearly",
         "-p", "survey_id=deploy-2012", "-p", f"inputs={json.dumps([str(inputs)])}", "-p", f"dataset={dataset}"],
        env=env, cwd=tmp_path,
    )
    flow_run_id = UUID(re.search(r"UUID: ([0-9a-f-]{36})", out).group(1))

    # the worker runs from elsewhere: the deployment's pull step moves the run into the checkout
    _run([*PREFECT, "worker", "start", "--pool", "cardex", "--run-once"], env=env, cwd=tmp_path, timeout=150)

    with SyncPrefectClient(real_server) as client:
        flow_run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    assert flow_run.state.is_completed(), flow_run.state
    assert flow_run.deployment_id == deployment.id
    assert flow_run.parameters == {"survey_id": "deploy-2012", "inputs": [str(inputs)], "dataset": str(dataset)}
    assert tasks and all(t.state.is_completed() for t in tasks)
    assert any(t.name.startswith("publish") for t in tasks)

    partition = dataset / "survey_id=deploy-2012"
    run = _check_partition(partition, "deploy-2012")
    assert run["prefect"]["flow_run_id"] == str(flow_run_id) and run["prefect"]["api"] == real_server
    assert [i["path"] for i in run["inputs"]] == [str(inputs / "mini.txt")]
    assert run["totals"]["segments"] == run["totals"]["records"] + run["totals"]["rejects"] == MINI_CARDS
    assert pq.read_table(partition / "records.parquet").num_rows == MINI_CARDS


# ---------------------------------------------------------------- cardex serve


# A shell's background job inherits SIGINT ignored (and a Python started so never turns Ctrl-C
# into KeyboardInterrupt): the child gets SIGINT's default back, then becomes the command.
WITH_DEFAULT_SIGINT = [
    sys.executable, "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
]


class Served:
    """``cardex serve`` as a child process; its output in ``log``."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, log: Path):
        self.log = log
        self._out = open(log, "wb")
        # its own session and process group: the flow-run processes it starts can be found and cleaned up
        self.proc = subprocess.Popen([*WITH_DEFAULT_SIGINT, *command], env=env, cwd=cwd, stdout=self._out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-6000:]

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            assert self.proc.poll() is None, f"cardex serve exited ({self.proc.returncode}):\n{self.output()}"
            assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s\n{self.output()}"
            time.sleep(0.25)

    def interrupt(self) -> None:
        """Ctrl-C: it must exit 0 within 30 s, its flow-run processes with it."""
        code = self.stop(signal.SIGINT, timeout=30)
        assert code is not None, f"cardex serve did not stop on SIGINT:\n{self.output()}"
        assert code == 0, self.output()
        self.wait_for_group_exit()

    def wait_for_group_exit(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while _group_alive(self.proc.pid):
            assert time.monotonic() < deadline, "flow-run processes of cardex serve outlived it"
            time.sleep(0.1)

    def stop(self, sig: int, timeout: float) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.proc.poll()

    def close(self) -> None:
        with_group = self.proc.pid
        if self.stop(signal.SIGTERM, 20) is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.killpg(with_group, signal.SIGKILL)  # leftover flow-run processes, if any
        except (ProcessLookupError, PermissionError):
            pass
        self._out.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.prefect
def test_cardex_serve_extracts_reports_dropped_into_the_inbox(
    real_server, tmp_path, mini_report, prefect_child_env
) -> None:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    dataset = tmp_path / "dataset"
    partition = dataset / "survey_id=inbox-2012"
    env = prefect_child_env(tmp_path / "client-home", PREFECT_API_URL=real_server)
    client = SyncPrefectClient(real_server)

    def inputs_published(n: int) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            run = _read_run(partition)
            return run if run and len(run["inputs"]) == n else None
        return check

    def watch_runs() -> list[Any]:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["cardex-inbox"])), limit=200
        )

    def extractions_completed(n: int) -> Callable[[], list[Any] | None]:
        """The watch-inbox runs that ran an extraction, once n of them are Completed."""
        def check() -> list[Any] | None:
            done = [r for r in watch_runs() if r.state and r.state.is_completed()]
            subflows = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[r.id for r in done])
            )) if done else []
            return subflows if len(subflows) >= n else None
        return check

    def in_progress() -> list[str]:
        return [f"{r.name}: {r.state_name}" for r in watch_runs() if r.state and r.state.type.value in
                ("PENDING", "RUNNING", "CANCELLING")]

    command = [*CARDEX, "serve", str(inbox), "--survey-id", "inbox-2012", "--dataset", str(dataset), "--interval", "2"]
    with client:
        served = Served(command, env, tmp_path, tmp_path / "serve-1.log")
        try:
            first = _drop(mini_report, inbox, "a.txt", tmp_path)
            run = served.wait_for("the first report published", inputs_published(1), timeout=75)
            assert [i["path"] for i in run["inputs"]] == [str(first)]
            assert run["inputs"][0]["cached"] is False
            assert run["totals"]["segments"] == MINI_CARDS
            _check_partition(partition, "inbox-2012")
            served.wait_for("the extraction completed on the server", extractions_completed(1), timeout=30)
            served.interrupt()
        finally:
            served.close()
        # it stopped while a run was due: nothing is left in progress to hold the deployment's slot
        assert in_progress() == []

        # started again, it extracts at once (a run left Pending held the one slot for 300 s)
        served = Served(command, env, tmp_path, tmp_path / "serve-2.log")
        try:
            # a second report (same cards, so a variant: one more line): only it is extracted
            second = _drop(mini_report, inbox, "b.txt", tmp_path, suffix=b"\n")
            run = served.wait_for("the second report published", inputs_published(2), timeout=60)
            by_path = {i["path"]: i for i in run["inputs"]}
            assert set(by_path) == {str(first), str(second)}
            assert by_path[str(first)]["cached"] is True and by_path[str(second)]["cached"] is False
            assert all(i["status"] == "ok" for i in run["inputs"])
            assert run["totals"]["segments"] == 2 * MINI_CARDS
            _check_partition(partition, "inbox-2012")

            # both publications were extract-reports subflows of watch-inbox runs that completed
            extractions = served.wait_for("both extractions completed on the server", extractions_completed(2), 30)
            assert all(r.state.is_completed() for r in extractions)
            assert {r.parameters["survey_id"] for r in extractions} == {"inbox-2012"}
            served.interrupt()
        finally:
            served.close()

        deployment = client.read_deployment_by_name("watch-inbox/cardex-inbox")
        runs = watch_runs()
        assert in_progress() == []
    assert deployment.parameters == {"inbox": str(inbox), "survey_id": "inbox-2012", "dataset": str(dataset)}
    assert deployment.global_concurrency_limit.limit == 1
    assert deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    # each run looked at the inbox (Completed), was due while another ran (Cancelled), or was
    # in progress when cardex serve stopped (Crashed); none failed
    states = sorted(r.state_name for r in runs if r.state)
    assert "Completed" in states and not [r for r in runs if r.state and r.state.is_failed()], states


# ---------------------------------------------------------------- regressions


@pytest.mark.prefect
def test_server_scheduler_inserts_runs_sqlalchemy_2_1_bulk_dml_regression(real_server, tmp_path) -> None:
    """SQLAlchemy 2.1 made Prefect 3.8.8's scheduler fail on every loop ("Can't evaluate bulk DML
    statement": the FlowRun.state hybrid in its bulk insert): no schedule ever fired, neither
    the yearly cron nor ``cardex serve``'s interval. constraints.txt pins SQLAlchemy 2.0."""
    import datetime as dt

    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.schedules import IntervalSchedule

    with SyncPrefectClient(real_server) as client:
        deployment_id = client.create_deployment(
            flow_id=client.create_flow_from_name("scheduler-probe"),
            name="hourly",
            schedules=[DeploymentScheduleCreate(schedule=IntervalSchedule(interval=dt.timedelta(hours=1)), active=True)],
        )
        deadline = time.monotonic() + 60
        while True:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )
            if runs:
                break
            assert time.monotonic() < deadline, (
                "the server's scheduler created no run: " + (tmp_path / "server.log").read_text()[-3000:]
            )
            time.sleep(0.5)
    assert all(r.state.is_scheduled() for r in runs)


def test_watch_inbox_runs_one_at_a_time_overlapping_runs_are_cancelled(tmp_path) -> None:
    """Regression: with --interval shorter than a run (each run is a new process), runs due while
    one worked all started at once, re-extracted the same inbox side by side and swamped the
    SQLite-backed server ("database is locked"); the partition never appeared."""
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    from flows.serve import inbox_deployment

    deployment = inbox_deployment(str(tmp_path / "inbox"), "s-2012", str(tmp_path / "ds"), interval=2)
    assert deployment.concurrency_limit == 1
    assert deployment.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
    assert deployment.parameters == {
        "inbox": str(tmp_path / "inbox"), "survey_id": "s-2012", "dataset": str(tmp_path / "ds")
    }


@pytest.mark.parametrize(("interval", "poll"), [(2.0, 2.0), (60.0, 10.0)])
def test_serve_polls_for_due_runs_as_often_as_they_are_due(monkeypatch, tmp_path, interval, poll) -> None:
    """Regression: Prefect's runner looked for due runs every 10 s whatever --interval said."""
    import prefect

    from flows import serve

    calls: list[Any] = []
    monkeypatch.setattr(prefect, "serve", lambda *deployments, **options: calls.append((len(deployments), options)))
    monkeypatch.setattr(serve, "release_orphaned_runs", lambda name: calls.append(("release", name)))
    serve.serve_inbox(str(tmp_path), "s-2012", str(tmp_path / "ds"), interval=interval, name="inbox-x")
    # the runs a stopped process left in progress are released before serving and after
    assert calls == [("release", "inbox-x"), (1, {"query_seconds": poll}), ("release", "inbox-x")]


@pytest.mark.prefect
def test_cardex_serve_restarted_after_a_stop_mid_run_is_not_blocked_by_the_orphaned_run(real_server, tmp_path) -> None:
    """Regression: a `cardex serve` stopped while it submitted or ran a run left that run Pending or
    Running, holding the deployment's one concurrency slot for its 300 s lease: started again, it
    had every run cancelled and extracted nothing for five minutes. release_orphaned_runs (on the
    way out and at start) marks such runs Crashed, which frees the slot."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Pending

    from flows.serve import inbox_deployment, release_orphaned_runs

    with temporary_settings({PREFECT_API_URL: real_server}):
        assert release_orphaned_runs("orphans") == []  # no such deployment yet: nothing to do
        deployment_id = inbox_deployment(str(tmp_path), "s-2012", str(tmp_path / "ds"), interval=3600,
                                         name="orphans").apply()
        with get_client(sync_client=True) as client:
            orphan = client.create_flow_run_from_deployment(deployment_id)
            assert client.set_flow_run_state(orphan.id, Pending()).state.is_pending()  # takes the one slot
            blocked = client.create_flow_run_from_deployment(deployment_id)
            assert client.set_flow_run_state(blocked.id, Pending()).state.is_cancelled()

            assert release_orphaned_runs("orphans") == [orphan.name]
            assert client.read_flow_run(orphan.id).state.is_crashed()
            free = client.create_flow_run_from_deployment(deployment_id)
            assert client.set_flow_run_state(free.id, Pending()).state.is_pending()


def test_cardex_serve_refuses_a_missing_inbox(monkeypatch, tmp_path, capsys) -> None:
    """Regression: `cardex serve /typo` served a deployment that found "inbox is empty" for ever."""
    from flows import cli

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert cli.main(["serve", str(tmp_path / "nope"), "--survey-id", "s-2012", "--dataset", str(tmp_path)]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_cardex_serve_without_a_server_says_so_in_one_line(tmp_path, prefect_child_env) -> None:
    """Regression: an unreachable PREFECT_API_URL ended `cardex serve` with an httpx traceback."""
    from flows.prefect_env import _free_port

    api = f"http://127.0.0.1:{_free_port()}/api"  # nothing listens there
    result = subprocess.run(
        [*CARDEX, "serve", str(tmp_path), "--survey-id", "s-2012", "--dataset", str(tmp_path / "ds")],
        env=prefect_child_env(tmp_path / "home", PREFECT_API_URL=api), cwd=tmp_path,
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"cardex: error: cannot reach the Prefect API at {api}")
