"""The process of cardex's embedded Prefect server: ``python flows/embedded_server.py --port N``.

Prefect's own server app (``prefect.server.api.server.create_app``, ephemeral
mode: no UI, the ephemeral set of services, Prefect's database and
migrations) under uvicorn, as Prefect's ``SubprocessASGIServer`` runs it, with
two differences:

* the garbage collector is paused while the server imports its modules and
  builds its app, then those objects are frozen. Importing the server creates
  millions of objects that live as long as the process; the collector's passes
  over them are wasted work (about 1 s of a 5 s start-up on 2 vCPUs);
* with ``--idle-timeout S`` it is *resident*: it outlives the command that
  started it, serves the next cardex commands (their runs skip the start-up),
  and exits by itself once no request has come for S seconds and none is open
  (a running flow holds its events connection open). On exit it removes
  ``--state-file`` if that still names it.

Started by :class:`flows.prefect_env.EmbeddedServer`. Exit status 3 when the
port is taken (as uvicorn), so the launcher can pick another.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STARTUP_FAILURE = 3  # uvicorn's exit status when it cannot start (e.g. the port is taken)


class IdleClock:
    """ASGI middleware: when the last HTTP request or websocket ended, and how many are open."""

    def __init__(self, app: Any):
        self.app = app
        self.open = 0
        self.last = time.monotonic()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1
            self.last = time.monotonic()

    def idle_for(self) -> float:
        return 0.0 if self.open else time.monotonic() - self.last


def remove_state(path: Path) -> None:
    """Remove the state file if it still names this process (a newer server may have replaced it)."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


async def serve(app: Any, host: str, port: int, idle_timeout: float) -> bool:
    """Run uvicorn until stopped (SIGTERM/SIGINT) or idle; True if it started."""
    import uvicorn

    clock = IdleClock(app)
    server = uvicorn.Server(uvicorn.Config(clock, host=host, port=port, log_level="error", lifespan="on"))

    async def watchdog() -> None:
        while not server.should_exit:
            await asyncio.sleep(min(5.0, max(idle_timeout / 4, 0.2)))
            if server.started and clock.idle_for() > idle_timeout:
                server.should_exit = True

    task = asyncio.create_task(watchdog()) if idle_timeout > 0 else None
    try:
        await server.serve()
    finally:
        if task is not None:
            task.cancel()
    return bool(server.started)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python flows/embedded_server.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle-timeout", type=float, default=0.0, metavar="SECONDS",
                        help="exit after this long without requests (0: run until stopped)")
    parser.add_argument("--state-file", type=Path, help="removed on exit if it names this process")
    args = parser.parse_args(argv)

    gc.disable()
    try:
        from prefect.server.api.server import create_app

        app = create_app()  # reads PREFECT__SERVER_EPHEMERAL / PREFECT__SERVER_FINAL from the environment
    finally:
        gc.freeze()  # what start-up built is never collected, and never scanned again
        gc.enable()
    try:
        started = asyncio.run(serve(app, args.host, args.port, args.idle_timeout))
    finally:
        if args.state_file is not None:
            remove_state(args.state_file)
    if not started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
