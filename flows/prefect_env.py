"""How cardex runs Prefect: embedded, quiet, no telemetry, no server to start.

Import this module and call :func:`apply_defaults` *before* ``import prefect``
(Prefect reads its settings, and its SDK analytics decide whether to run, at
import time). Every default is applied only when the variable is not already
set, so an operator can override any of them, and with ``PREFECT_API_URL`` set
(environment, profile or ``prefect.toml``) cardex reports to that server.

What a Prefect run costs, and why (Prefect 3.8.8; numbers in the README):

* With no API configured, Prefect's own ephemeral mode starts a uvicorn
  subprocess running the whole Prefect server. The client first imports
  ``prefect.server.api.server`` itself (about 4 s) just to launch it; the
  subprocess imports it again (about 5 s) and runs the SQLite migrations.
  On a fresh ``PREFECT_HOME`` the migrations add about 8 s: a first run under
  load came past Prefect's default 20 s start-up timeout.
* The flow run's heartbeat thread sleeps in 1 s steps and is joined on exit:
  up to 1 s at the end of every flow run.
* The server's telemetry heartbeat fights the migrations for the SQLite lock
  and prints a traceback ("database is locked") on a fresh machine.

:class:`PrefectSession` launches the same server subprocess
(:class:`EmbeddedServer`) before Prefect is even imported, so its start-up
overlaps the client's imports, and waits for it only when the flow needs the
API. :func:`embedded_run_settings` turns the heartbeat off for a run on the
embedded server (nobody watches for crashed runs of a server that ends with
the process). Telemetry is off and the start-up timeout is 180 s.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import IO, Any

# Nothing here may phone home; an operator may still opt in by setting them.
TELEMETRY_OFF: dict[str, str] = {
    "DO_NOT_TRACK": "1",  # Prefect SDK analytics (Amplitude events on import / first flow)
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # server heartbeat to sens-o-matic.prefect.io
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",  # OTLP resource metrics of flow runs
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",  # OTel spans sent to Prefect Cloud
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}

DEFAULTS: dict[str, str] = {
    **TELEMETRY_OFF,
    # A first run on a fresh machine migrates a new SQLite database: the server
    # took 13-30 s to start here, depending on load; Prefect's 20 s is too tight.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
}

# For the command line: Prefect's console handler prints only critical records;
# flow and task logs still go to the API (the run history), cardex prints its own
# short lines. Set PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=INFO to see Prefect's.
QUIET_CONSOLE: dict[str, str] = {"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}

SERVER_LOG_NAME = "cardex-embedded-server.log"
SERVER_STATE_NAME = "cardex-embedded-server.json"  # the resident server: pid, port, what it was started with
SERVER_LOCK_NAME = "cardex-embedded-server.lock"
# How long the embedded server stays up after its last request, for the next
# cardex command to use (an operator re-running after fixing one file pays no
# start-up). 0: it stops with the command that started it.
IDLE_ENV = "CARDEX_SERVER_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 600.0
EMBEDDED_SERVER_SCRIPT = Path(__file__).resolve().with_name("embedded_server.py")

# The embedded server's start-up, minus what a run on it never uses (each unless set):
EMBEDDED_SERVER_DEFAULTS: dict[str, str] = {
    # Registering every installed block type on start imports every Prefect
    # collection (prefect-dask imports dask.distributed): about 0.5 s per start.
    # A block that is saved registers its own type (Block.save), so nothing is lost.
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
    # ... and the memo check of that registration imports them all the same.
    "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}

# A path no route matches: FastAPI builds the routes of each included router on
# the first request that reaches it (about 0.6 s for Prefect's API), so a
# request that reaches them all, sent as soon as the server answers, moves that
# cost off the flow's first API call; a read of the flow runs then opens the
# database.
WARM_UP_PATH = "/cardex-warm-up"


def default_prefect_home(environ: MutableMapping[str, str] = os.environ) -> Path:
    """Per-user home for cardex's Prefect state (its SQLite run history).

    Not ``~/.prefect``: another project's Prefect version must not migrate, or
    be broken by, the database cardex's pinned Prefect creates. Not the repo:
    run history is per user, not per checkout.
    """
    state = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cardex" / "prefect"


def apply_defaults(
    environ: MutableMapping[str, str] = os.environ, *, quiet_console: bool = False
) -> dict[str, str]:
    """Set cardex's Prefect defaults where the variable is unset; return what was set."""
    wanted = dict(DEFAULTS)
    wanted["PREFECT_HOME"] = str(default_prefect_home(environ))
    if quiet_console:
        wanted.update(QUIET_CONSOLE)
    applied = {k: v for k, v in wanted.items() if k not in environ}
    environ.update(applied)
    if "PREFECT_HOME" in applied:  # Prefect creates only the last level, and warns
        Path(applied["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    return applied


def configured_api_url() -> str | None:
    """The Prefect API URL from the environment, profile or config files, if any."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def ephemeral_allowed() -> bool:
    from prefect.settings import get_current_settings

    return bool(get_current_settings().server.ephemeral.enabled)


class EmbeddedServerError(RuntimeError):
    """The embedded Prefect server did not come up; the message is one line."""


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def idle_seconds(environ: MutableMapping[str, str] = os.environ) -> float:
    """``CARDEX_SERVER_IDLE_SECONDS`` (default 600): how long a started embedded server stays for the next run."""
    raw = environ.get(IDLE_ENV, "")
    if raw.strip() == "":
        return DEFAULT_IDLE_SECONDS
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise EmbeddedServerError(f"{IDLE_ENV}={raw!r} is not a number of seconds") from None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds that pid
        return False
    return True


def _is_embedded_server(pid: int) -> bool:
    """The process ``pid`` runs flows/embedded_server.py (not another process that got its pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc/self").exists()  # no /proc: trust the pid
    return EMBEDDED_SERVER_SCRIPT.name.encode() in cmdline


def server_fingerprint() -> str:
    """What a resident server must share with a command to serve it: interpreter, Prefect, launcher, database."""
    import hashlib
    import importlib.metadata

    parts = [
        sys.executable,
        importlib.metadata.version("prefect"),
        hashlib.sha256(EMBEDDED_SERVER_SCRIPT.read_bytes()).hexdigest(),
        *(f"{k}={os.environ.get(k, '')}" for k in (
            "PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_PROFILE",
        )),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)


def find_or_start_server() -> EmbeddedServer:
    """The resident embedded server of this PREFECT_HOME if one is up (or starting), else a new one.

    Under a file lock, so commands started together share one server. With
    ``CARDEX_SERVER_IDLE_SECONDS=0`` every command starts (and stops) its own.
    """
    idle = idle_seconds()
    if idle <= 0:
        return EmbeddedServer().start()
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / SERVER_LOCK_NAME, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = read_state(home / SERVER_STATE_NAME)
        if (
            state
            and isinstance(state.get("pid"), int) and isinstance(state.get("port"), int)
            and state.get("fingerprint") == server_fingerprint()
            and pid_alive(state["pid"]) and _is_embedded_server(state["pid"])
        ):
            return EmbeddedServer.attach(state["pid"], state["port"], idle)
        return EmbeddedServer(idle=idle).start()


class EmbeddedServer:
    """Prefect's ephemeral API server as a subprocess, started early and waited for late.

    Runs what Prefect's own ``SubprocessASGIServer`` runs (uvicorn with
    ``prefect.server.api.server:create_app`` in ephemeral mode, UI off), so the
    database, migrations and services are Prefect's; only the launch is ours
    (:mod:`flows.embedded_server`: the garbage collector paused during start-up). Its output goes to ``$PREFECT_HOME/cardex-embedded-server.log``
    (the last run's only).
    """

    def __init__(self, timeout: float | None = None, log_path: Path | None = None, idle: float = 0.0):
        # No Prefect import here: the server is launched before Prefect is imported.
        # The subprocess resolves the same settings (environment, profile, prefect.toml).
        home = prefect_home()
        self.idle = idle  # > 0: resident, it outlives this process and stops after idle seconds
        self.state_path = home / SERVER_STATE_NAME
        self.pid: int | None = None
        self.reused = False  # attached to a resident server another cardex command started
        self.timeout = float(
            timeout or os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 180
        )
        self.log_path = log_path or home / SERVER_LOG_NAME
        self._env = {
            **EMBEDDED_SERVER_DEFAULTS,
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_at: float | None = None
        self.ready_after: float | None = None  # seconds from launch to the first /health answer
        self.warm_up_seconds: float | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._outcome: str | BaseException | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _spawn(self) -> None:
        self.port = _free_port()
        assert self._log is not None
        self.process = subprocess.Popen(
            # by path, not -m: a "flows" folder in the caller's working directory must not shadow it
            [
                sys.executable, str(EMBEDDED_SERVER_SCRIPT), "--host", "127.0.0.1", "--port", str(self.port),
                *(["--idle-timeout", str(self.idle), "--state-file", str(self.state_path)] if self.idle > 0 else []),
            ],
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=self.idle > 0,  # a resident server is not killed with this terminal's jobs
        )
        self.pid = self.process.pid
        if self.idle > 0:
            write_state(self.state_path, {"pid": self.pid, "port": self.port, "fingerprint": server_fingerprint()})

    @classmethod
    def attach(cls, pid: int, port: int, idle: float) -> EmbeddedServer:
        """The resident server ``pid`` on ``port``: waited for like a new one, never stopped by this process."""
        self = cls(idle=idle)
        self.pid, self.port, self.reused = pid, port, True
        self.started_at = time.perf_counter()
        self._watcher = threading.Thread(target=self._watch, name="cardex-embedded-server", daemon=True)
        self._watcher.start()
        return self

    def _alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    def start(self) -> EmbeddedServer:
        """Launch the subprocess, and a thread that waits for it and warms it up; return at once."""
        if self.process is None and not self.reused:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "wb")  # this run's server log only
            self.started_at = time.perf_counter()
            self.ready_after = None
            self._outcome = None
            self._stopping.clear()
            self._spawn()
            self._watcher = threading.Thread(target=self._watch, name="cardex-embedded-server", daemon=True)
            self._watcher.start()
        return self

    def _watch(self) -> None:
        """Poll /health until the server answers, then send the warm-up request (in the watcher thread)."""
        try:
            self._outcome = self._poll_until_ready()
        except BaseException as exc:  # noqa: BLE001 - handed to wait_ready
            self._outcome = exc

    def _poll_until_ready(self) -> str | EmbeddedServerError:
        assert self.started_at is not None
        deadline = self.started_at + self.timeout
        respawns = 0
        while time.perf_counter() < deadline and not self._stopping.is_set():
            proc = self.process
            if proc is None:
                if not self.reused:
                    break
                if not self._alive():
                    return EmbeddedServerError(f"the embedded Prefect server (pid {self.pid}) has exited")
                code = None
            else:
                code = proc.poll()
            if code == 3 and respawns < 3:  # uvicorn: port taken meanwhile
                respawns += 1
                self._spawn()
                continue
            if code is not None:
                return EmbeddedServerError(
                    f"the embedded Prefect server exited with code {code}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        self.ready_after = time.perf_counter() - self.started_at
                        if not self.reused:  # a resident server was warmed up by the command that started it
                            self._warm_up()
                        return self.api_url
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return EmbeddedServerError(
            f"the embedded Prefect server did not start within {self.timeout:.0f} s "
            f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); see {self.log_path}"
        )

    def _warm_up(self) -> None:
        t = time.perf_counter()
        with contextlib.suppress(urllib.error.URLError, OSError):  # 404 expected
            urllib.request.urlopen(f"{self.api_url}{WARM_UP_PATH}", timeout=30).close()
        with contextlib.suppress(urllib.error.URLError, OSError):  # opens the database, read only
            req = urllib.request.Request(
                f"{self.api_url}/flow_runs/filter", data=b'{"limit": 1}', method="POST",
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(req, timeout=30).close()
        self.warm_up_seconds = time.perf_counter() - t

    def wait_ready(self) -> str:
        """Block until the API answers (and is warmed up); return its URL or raise EmbeddedServerError."""
        if self.process is None and not self.reused:
            self.start()
        assert self._watcher is not None
        self._watcher.join()
        outcome = self._outcome
        if isinstance(outcome, str) and self._alive():
            return outcome
        self.stop()
        if isinstance(outcome, BaseException):
            raise outcome
        raise EmbeddedServerError(f"the embedded Prefect server stopped; see {self.log_path}")

    def stop(self, wait: bool = True) -> None:
        """Stop the server (SIGTERM: it finishes writing what it was sent, then exits).

        ``wait=False`` returns at once: the server shuts down by itself after this
        process has gone (the command line, whose run is complete; about 0.3 s saved).
        """
        self._stopping.set()
        proc, self.process = self.process, None
        if proc is None and self.reused and self.pid is not None and pid_alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            if wait:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def detach(self) -> None:
        """Leave a resident server running for the next command (it stops itself when idle)."""
        self._stopping.set()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def resident(self) -> bool:
        return self.idle > 0

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def drain_workers() -> None:
    """Flush the logs and events a run queued for the API (before the server goes away)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with contextlib.suppress(Exception):
        APILogWorker.drain_all(timeout=10)
    with contextlib.suppress(Exception):
        EventsWorker.drain_all(timeout=10)


@contextlib.contextmanager
def embedded_run_settings(api_url: str) -> Iterator[None]:
    """Prefect settings for one run against the embedded server."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    with temporary_settings({PREFECT_API_URL: api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


# The URL of the embedded server while a run uses it (None otherwise).
embedded_api_url: str | None = None
# Its start-up, for run.json: seconds to the first /health answer and for the warm-up request.
embedded_startup: dict[str, float] | None = None


class PrefectSession:
    """Where flow runs go: the configured Prefect API, or an embedded server started now.

    Create it early (it launches the embedded server in the background), do the
    slow imports, then :meth:`run` the flow; :meth:`close` stops the server.
    """

    def __init__(self) -> None:
        self.server: EmbeddedServer | None = None
        self.api_url: str | None = None
        self._used = False  # a run went to the embedded server
        if not os.environ.get("PREFECT_API_URL"):
            # Most likely embedded: launch now, before importing Prefect (about 1.5 s),
            # and drop the server if a profile or prefect.toml names an API after all.
            self.server = find_or_start_server()
        try:
            self.api_url = configured_api_url()
            if self.api_url is None and not ephemeral_allowed():
                raise EmbeddedServerError(
                    "no Prefect API: PREFECT_API_URL is unset and PREFECT_SERVER_EPHEMERAL_ENABLED is false"
                )
        except BaseException:
            self.close()
            raise
        if self.api_url is not None:
            self.close()
            self.server = None
        elif self.server is None:
            self.server = find_or_start_server()

    @property
    def mode(self) -> str:
        return "embedded" if self.server is not None else "server"

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        global embedded_api_url, embedded_startup
        if self.server is None:
            return fn(*args, **kwargs)
        planned = self.server.api_url
        try:
            with contextlib.ExitStack() as stack:
                # Prefect rebuilds its settings for this (about 0.2 s): done while the server starts.
                stack.enter_context(embedded_run_settings(planned))
                url = self.server.wait_ready()
                self._used = True
                if url != planned:  # respawned on another port
                    stack.enter_context(embedded_run_settings(url))
                embedded_api_url = url
                embedded_startup = {
                    "server_ready_s": round(self.server.ready_after or 0.0, 3),
                    "warm_up_s": round(self.server.warm_up_seconds or 0.0, 3),
                    "reused": self.server.reused,
                    "idle_seconds": self.server.idle,
                }
                try:
                    return fn(*args, **kwargs)
                finally:
                    drain_workers()
        finally:
            embedded_api_url = embedded_startup = None

    def close(self, wait: bool = True) -> None:
        """Stop the embedded server, or leave a resident one (used, or another command's) for the next command."""
        if self.server is None:
            return
        if self.server.reused or (self.server.resident and self._used):
            self.server.detach()
        else:
            self.server.stop(wait=wait)

    def __enter__(self) -> PrefectSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
