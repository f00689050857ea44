"""The embedded Prefect server: resident between commands (CARDEX_SERVER_IDLE_SECONDS), gone when idle.

Real processes: `cardex extract` as a subprocess with its own PREFECT_HOME (on
a copy of the session's migrated database, so no first-run migrations).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows import prefect_env

CARDEX = str(Path(sys.executable).with_name("cardex"))


def server_pids(home: Path) -> list[int]:
    """Processes running flows/embedded_server.py with this PREFECT_HOME."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"embedded_server.py" in cmdline and f"PREFECT_HOME={home}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.fixture
def home(prefect_server, tmp_path) -> Path:
    home = tmp_path / "prefect-home"
    prefect_server.copy_database(home / "prefect.db")  # PREFECT_HOME/prefect.db: Prefect's default database
    yield home
    for pid in server_pids(home):  # never leave a server behind, whatever the test did
        os.kill(pid, 15)


def extract(home: Path, out: Path, mini_report: Path, idle: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), CARDEX_SERVER_IDLE_SECONDS=idle)
    command = [CARDEX] if os.path.exists(CARDEX) else [sys.executable, "-m", "flows.cli"]
    result = subprocess.run(
        [*command, "extract", str(mini_report), "--survey-id", "emb-2012", "--out", str(out), "-q"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


@pytest.mark.prefect
def test_a_resident_server_serves_the_next_command_then_stops_when_idle(home, tmp_path, mini_report) -> None:
    first = extract(home, tmp_path / "a", mini_report, idle="6")
    assert first["prefect"]["api"] == "embedded"
    assert first["prefect"]["embedded_server"]["reused"] is False
    state = json.loads((home / prefect_env.SERVER_STATE_NAME).read_text(encoding="utf-8"))
    assert server_pids(home) == [state["pid"]]  # still up after the command exited

    second = extract(home, tmp_path / "b", mini_report, idle="6")
    assert second["prefect"]["embedded_server"]["reused"] is True
    assert second["prefect"]["embedded_server"]["server_ready_s"] < 1
    assert server_pids(home) == [state["pid"]]  # the same server, no second one
    assert (tmp_path / "a" / "records.parquet").read_bytes() == (tmp_path / "b" / "records.parquet").read_bytes()

    # both flow runs are in the one database
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(f"http://127.0.0.1:{state['port']}/api") as client:
        runs = {str(r.id) for r in client.read_flow_runs()}
    assert {first["prefect"]["flow_run_id"], second["prefect"]["flow_run_id"]} <= runs

    assert wait_until(lambda: not server_pids(home), timeout=30), "the idle server did not exit"
    assert not (home / prefect_env.SERVER_STATE_NAME).exists()  # it removed its state on the way out


@pytest.mark.prefect
def test_with_idle_0_every_command_stops_its_own_server(home, tmp_path, mini_report) -> None:
    run = extract(home, tmp_path / "a", mini_report, idle="0")
    assert run["prefect"]["embedded_server"] == {
        **run["prefect"]["embedded_server"], "reused": False, "idle_seconds": 0.0,
    }
    assert not (home / prefect_env.SERVER_STATE_NAME).exists()
    assert wait_until(lambda: not server_pids(home), timeout=20)


@pytest.mark.prefect
def test_a_stale_state_file_naming_another_process_is_ignored(home, tmp_path, mini_report) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / prefect_env.SERVER_STATE_NAME).write_text(
        json.dumps({"pid": os.getpid(), "port": 1, "fingerprint": prefect_env.server_fingerprint()}),
        encoding="utf-8",
    )
    run = extract(home, tmp_path / "a", mini_report, idle="3")
    assert run["prefect"]["embedded_server"]["reused"] is False  # not this pytest process on port 1
    assert json.loads((home / prefect_env.SERVER_STATE_NAME).read_text())["pid"] != os.getpid()
    assert wait_until(lambda: not server_pids(home), timeout=30)


def test_idle_seconds_default_zero_and_bad_values(monkeypatch) -> None:
    assert prefect_env.idle_seconds({}) == prefect_env.DEFAULT_IDLE_SECONDS == 600
    assert prefect_env.idle_seconds({prefect_env.IDLE_ENV: "0"}) == 0
    assert prefect_env.idle_seconds({prefect_env.IDLE_ENV: "-5"}) == 0
    assert prefect_env.idle_seconds({prefect_env.IDLE_ENV: "90"}) == 90
    with pytest.raises(prefect_env.EmbeddedServerError, match="CARDEX_SERVER_IDLE_SECONDS='ten'"):
        prefect_env.idle_seconds({prefect_env.IDLE_ENV: "ten"})


def test_the_idle_clock_counts_open_connections_as_activity() -> None:
    import asyncio

    from flows.embedded_server import IdleClock

    release = asyncio.Event()

    async def app(scope, receive, send):
        await release.wait()

    async def scenario() -> tuple[float, float]:
        clock = IdleClock(app)
        call = asyncio.create_task(clock({"type": "websocket"}, None, None))
        await asyncio.sleep(0.05)
        busy = clock.idle_for()
        release.set()
        await call
        await asyncio.sleep(0.05)
        return busy, clock.idle_for()

    busy, after = asyncio.run(scenario())
    assert busy == 0.0 and after > 0.0
