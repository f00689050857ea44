"""A real Prefect server on 127.0.0.1 (a free port, ``real_server`` in conftest): `cardex extract` reports to it via PREFECT_API_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest


REPO = Path(__file__).resolve().parent.parent
CARDEX = str(Path(sys.executable).with_name("cardex"))


@pytest.mark.prefect
def test_cardex_reports_to_the_server_named_by_prefect_api_url(real_server, tmp_path, mini_report) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_API_URL=real_server, PREFECT_HOME=str(tmp_path / "client-home"))
    command = [CARDEX] if os.path.exists(CARDEX) else [sys.executable, "-m", "flows.cli"]
    result = subprocess.run(
        [*command, "extract", str(mini_report), "--survey-id", "srv-2012", "--dataset", str(tmp_path / "ds")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "ds" / "survey_id=srv-2012" / "run.json").read_text(encoding="utf-8"))
    assert run["prefect"]["api"] == real_server

    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with SyncPrefectClient(real_server) as client:
        flow_run = client.read_flow_run(UUID(run["prefect"]["flow_run_id"]))
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
        )
    assert flow_run.state.is_completed() and flow_run.parameters["survey_id"] == "srv-2012"
    names = [t.name.split(" ")[0] for t in tasks]  # the stage tasks of the input, then publish
    assert "extract" in names and names.count("publish") == 1
    assert all(t.state.is_completed() for t in tasks)
