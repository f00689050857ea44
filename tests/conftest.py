"""Shared test set-up: Prefect defaults, one Prefect test server per session.

Prefect's defaults (telemetry off, quiet console) are applied before any
test module imports Prefect, and the session gets its own PREFECT_HOME so
tests never touch an operator's run history. Tests that need a Prefect API
ask for the session-scoped ``prefect_server`` fixture: one
``prefect_test_harness`` (a server subprocess on a temporary SQLite database)
shared by the whole session, started only if such a test runs.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_SESSION_HOME = tempfile.mkdtemp(prefix="cardex-test-prefect-")
os.environ.setdefault("PREFECT_HOME", _SESSION_HOME)
os.environ.pop("PREFECT_API_URL", None)  # the session's server, never an operator's
# Every command started by a test stops its own embedded server (tests of the resident server set it).
os.environ["CARDEX_SERVER_IDLE_SECONDS"] = "0"

from flows import prefect_env  # noqa: E402

prefect_env.apply_defaults(quiet_console=True)

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "prefect: needs the session's Prefect test server")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    db_path: Path  # the harness's SQLite database, already migrated

    def copy_database(self, dest: Path) -> str:
        """A consistent copy of the migrated database; returns its connection URL."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.db_path) as src, sqlite3.connect(dest) as dst:
            src.backup(dst)
        return f"sqlite+aiosqlite:///{dest}"


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL
    from prefect.testing.utilities import prefect_test_harness

    # A fresh database is migrated at start-up: allow for a slow machine.
    with prefect_test_harness(server_startup_timeout=180):
        db_url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
        yield PrefectServer(
            api_url=PREFECT_API_URL.value(),
            db_path=Path(db_url.split(":///", 1)[1]),
        )


def _prefect_child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a Prefect child process: none of this session's PREFECT_* settings,
    its own PREFECT_HOME, telemetry off; ``extra`` on top (e.g. PREFECT_API_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    env.update(extra)
    return env


@pytest.fixture
def prefect_child_env() -> Callable[..., dict[str, str]]:
    """``prefect_child_env(home, **extra)``: the environment of a Prefect child process (see above)."""
    return _prefect_child_env


@pytest.fixture
def real_server(prefect_server: PrefectServer, tmp_path: Path) -> Iterator[str]:
    """``prefect server start`` on a free 127.0.0.1 port (scheduler and all); yields its API URL.

    It starts on a copy of the session's migrated database (no first-run
    migrations); its output is in ``tmp_path/server.log``.
    """
    from flows.prefect_env import _free_port

    home = tmp_path / "server-home"
    port = _free_port()
    env = _prefect_child_env(
        home,
        PREFECT_SERVER_DATABASE_CONNECTION_URL=prefect_server.copy_database(home / "prefect.db"),
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
            proc.wait()
        log.close()


@pytest.fixture
def mini_report() -> Path:
    """Two real cards (category ①) with the report's legend: a small good input."""
    return FIXTURES / "cli_mini.txt"


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.pdf"
    noise.write_bytes(bytes(range(256)) * 16)
    return {"empty": empty, "noise": noise}
