"""A real Prefect server on 127.0.0.1 (a free port): `cardex extract` reports to it via PREFECT_API_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from uuid import UUID

import pytest

from flows.prefect_env import _free_port

REPO = Path(__file__).resolve().parent.parent
CARDEX = str(Path(sys.executable).with_name("cardex"))


@pytest.fixture
def real_server(prefect_server, tmp_path):
    home = tmp_path / "server-home"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        # a copy of the session's migrated database: no first-run migrations
        PREFECT_SERVER_DATABASE_CONNECTION_URL=prefect_server.copy_database(home / "prefect.db"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Prefect server did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
    assert sorted(t.name.split(" ")[0] for t in tasks) == ["extract", "publish"]
    assert all(t.state.is_completed() for t in tasks)
