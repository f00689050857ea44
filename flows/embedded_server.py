"""The process of cardex's embedded Prefect server: ``python -m flows.embedded_server --port N``.

Prefect's own server app (``prefect.server.api.server.create_app``, ephemeral
mode: no UI, the ephemeral set of services, Prefect's database and
migrations) under uvicorn, as Prefect's ``SubprocessASGIServer`` runs it, with
one difference: the garbage collector is paused while the server imports its
modules and builds its app, then those objects are frozen. Importing the
server creates millions of objects that live as long as the process; the
collector's passes over them are wasted work (about 1 s of a 5 s start-up on
2 vCPUs; see README, Prefect). Started by :class:`flows.prefect_env.EmbeddedServer`.

Exit status 3 when the port is taken (uvicorn's start-up failure), so the
launcher can pick another.
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.embedded_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    gc.disable()
    try:
        import uvicorn
        from prefect.server.api.server import create_app

        app = create_app()  # reads PREFECT__SERVER_EPHEMERAL / PREFECT__SERVER_FINAL from the environment
    finally:
        gc.freeze()  # what start-up built is never collected, and never scanned again
        gc.enable()
    uvicorn.run(app, host=args.host, port=args.port, log_level="error", lifespan="on")


if __name__ == "__main__":
    main()
