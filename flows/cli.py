"""The ``cardex`` command.

    cardex extract INPUT [INPUT ...] --survey-id ID [--out DIR]

Exit codes: 0 every input was read (rejected cards included); 1 an input
could not be read (the others are still processed and written) or the run
could not be completed; 2 usage error. A bad input is reported as one line
on stderr, ``cardex: error: PATH: PROBLEM``; never a traceback (``--verbose``
shows Prefect's logs and tracebacks of internal errors).

Slow imports (Prefect, the extraction code) happen only once a command runs,
so ``--help``, ``--version`` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from flows.extract_flow import InputOutcome, RunSummary

PROG = "cardex"
SURVEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cardex")
    except PackageNotFoundError:
        return "0+unknown"


def _survey_id(value: str) -> str:
    if not SURVEY_ID.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"invalid survey id {value!r}: use letters, digits, '.', '_' or '-', e.g. clair-2012"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Turn survey reports of municipal international agreements into validated Parquet records.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_extract_parser(sub)
    add_serve_parser(sub)
    from qa.cli import add_qa_commands  # `cardex diff`, `cardex review`; imports only argparse

    add_qa_commands(sub)
    return parser


def add_extract_parser(sub: Any) -> None:
    p = sub.add_parser(
        "extract",
        help="extract agreement cards from reports into records.parquet, rejects.parquet and run.json",
        description=(
            "Extract agreement cards from survey reports (PDF, or converter text/Markdown). "
            "An INPUT may be a file or a folder (its *.pdf, *.txt and *.md files, not recursive). "
            "Writes DIR/records.parquet, DIR/rejects.parquet and DIR/run.json, atomically. "
            "Runs as a Prefect flow: on a Prefect server when PREFECT_API_URL is set, "
            "otherwise on an embedded one that needs no set-up."
        ),
        epilog=(
            "exit status: 0 every input was read (rejected cards included); "
            "1 an input could not be read (the others are still written); 2 usage error"
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="report file or folder")
    p.add_argument("--survey-id", required=True, type=_survey_id, metavar="ID", help="survey edition, e.g. clair-2012")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="DIR", help="output folder (default: outputs/ID)")
    where.add_argument(
        "--dataset", metavar="ROOT",
        help="dataset root instead of --out: writes the hive partition ROOT/survey_id=ID, replaced atomically",
    )
    p.add_argument(
        "--cache-store", metavar="PATH|URL",
        help="where cached extractions live: a folder, an fsspec URL (s3://...) or block:TYPE/NAME "
        "(default: .cardex-cache under the output root)",
    )
    p.add_argument("--no-cache", action="store_true", help="re-extract every input, store nothing")
    p.add_argument("--runner", choices=("threads", "dask"), default="threads",
                   help="task runner: Prefect's thread pool (default) or prefect-dask's DaskTaskRunner")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="inputs processed at once (threads; Dask LocalCluster workers) (default: 4; dask: 2)")
    p.add_argument("--dask-address", metavar="ADDR",
                   help="join an existing Dask cluster (tcp://host:8786) instead of starting a LocalCluster")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary line")
    p.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs and tracebacks")
    p.set_defaults(func=cmd_extract)


# ---------------------------------------------------------------- output


def _err(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _secs(s: float) -> str:
    return f"{s:.1f} s"


def _input_line(o: InputOutcome) -> str:
    return (
        f"ok  {o.path}: {o.segments} cards, {len(o.records)} records, {len(o.rejects)} rejects, "
        f"{o.warnings} warnings, {_secs(o.seconds)}{', cached' if o.cached else ''}"
        f"{', cached ' + '+'.join(o.cached_stages) if o.cached_stages and not o.cached else ''}"
    )


def _cached(o: InputOutcome) -> str:
    """yes (nothing re-extracted), no, or the stages that came from the cache (e.g. read after a rule change)."""
    return "yes" if o.cached else "+".join(o.cached_stages) or "no"


def _summary_line(s: RunSummary, seconds: float) -> str:
    t = s.totals
    failed = f", {t['inputs_failed']} failed" if t["inputs_failed"] else ""
    cached = sum(o.cached for o in s.inputs)
    failed += f", {cached} cached" if cached else ""
    return (
        f"{PROG}: {t['inputs']} inputs{failed}; {t['records']} records, {t['rejects']} rejects, "
        f"{t['warnings']} warnings -> {s.out_dir} ({_secs(seconds)})"
    )


class Progress:
    """Per-input progress as each input finishes: plain lines, or a rich progress bar and a table on a terminal."""

    def __init__(self, total: int, quiet: bool, stream: TextIO = sys.stdout):
        self.total, self.quiet, self.stream = total, quiet, stream
        self.done = 0
        self.rich = stream.isatty() and not quiet and os.environ.get("TERM") != "dumb"
        self.outcomes: list[InputOutcome] = []
        self._bar: Any = None
        if self.rich:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

            self.console = Console(file=stream)
            self._bar = Bar(
                TextColumn("extracting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.description}"), console=self.console, transient=True,
            )
            self._task = self._bar.add_task("", total=total)
            self._bar.start()

    def __call__(self, o: InputOutcome) -> None:
        self.done += 1
        self.outcomes.append(o)
        if not o.ok:
            _err(f"{o.path}: {o.error}")
        elif not self.quiet and not self.rich:
            print(_input_line(o), file=self.stream, flush=True)
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=os.path.basename(o.path))

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def finish(self, s: RunSummary, seconds: float) -> None:
        self.stop()
        if self.rich:
            from rich.table import Table

            table = Table(show_edge=False, pad_edge=False)
            table.add_column("input", overflow="fold")
            table.add_column("status")
            for col in ("cards", "records", "rejects", "warnings", "cached", "seconds"):
                table.add_column(col, justify="right")
            for o in s.inputs:
                table.add_row(
                    o.path,
                    "[green]ok[/]" if o.ok else "[red]failed[/]",
                    str(o.segments), str(len(o.records)), str(len(o.rejects)), str(o.warnings),
                    _cached(o),
                    f"{o.seconds:.1f}",
                )
            self.console.print(table)
        print(_summary_line(s, seconds), file=self.stream, flush=True)


# ---------------------------------------------------------------- extract


def cmd_extract(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    out = args.out or (None if args.dataset else os.path.join("outputs", args.survey_id))
    if args.dataset and os.path.exists(args.dataset) and not os.path.isdir(args.dataset):
        _err(f"--dataset {args.dataset}: exists and is not a folder")
        return 2
    if out and os.path.exists(out) and not os.path.isdir(out):
        _err(f"--out {out}: exists and is not a folder")
        return 2

    # Before Prefect is imported: its defaults, quiet console, no telemetry.
    from flows import prefect_env

    prefect_env.apply_defaults(quiet_console=not args.verbose)
    if not args.verbose:
        import warnings

        warnings.filterwarnings("ignore")

    session = None
    progress: Progress | None = None
    try:
        session = prefect_env.PrefectSession()  # launches the embedded server, if needed
        from flows import extract_flow  # the slow imports overlap the server's start-up

        if args.runner == "threads" and session.mode == "embedded" and not session.server.reused:
            extract_flow.warm_up()  # build the Japanese pipeline while the embedded server starts
        progress = Progress(len(extract_flow.expand_inputs(args.inputs)), args.quiet)
        extract_flow.add_listener(progress)
        try:
            _state, summary = session.run(
                extract_flow.run_flow, list(args.inputs), args.survey_id, out,
                dataset=args.dataset, cache_store=args.cache_store, cache=not args.no_cache,
                runner=args.runner, workers=args.workers or (2 if args.runner == "dask" else 4),
                dask_address=args.dask_address,
            )
        finally:
            extract_flow.remove_listener(progress)
            progress.stop()
        progress.finish(summary, time.perf_counter() - started)
        return summary.exit_code
    except KeyboardInterrupt:
        if progress:
            progress.stop()
        _err("interrupted (outputs are written only once every input is done)")
        return 130
    except prefect_env.EmbeddedServerError as exc:
        _err(str(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 - one line; the traceback on request
        if progress:
            progress.stop()
        if args.verbose:
            raise
        message = " ".join(str(exc).split())
        if type(exc).__name__ == "PublishError":
            _err(message)
        elif "Failed to reach API" in message:  # PREFECT_API_URL names no running server
            _err(f"Prefect: {message}")
        else:
            _err(f"internal error: {type(exc).__name__}: {message} (--verbose shows the traceback)")
        return 1
    finally:
        if session is not None:
            session.close(wait=False)  # the run is complete; the server exits by itself


# ---------------------------------------------------------------- serve


def add_serve_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="long-running process: extract new reports dropped into an inbox folder (Prefect flow.serve)",
        description=(
            "Serve the 'watch-inbox' deployment with Prefect (flow.serve): every --interval seconds it "
            "looks at INBOX and, when its reports changed, runs extract-reports on them into the "
            "partition DATASET/survey_id=ID (unchanged reports come from the cache). Needs a Prefect "
            "server: set PREFECT_API_URL (see README, Running in production)."
        ),
    )
    p.add_argument("inbox", metavar="INBOX", help="folder watched for *.pdf, *.txt, *.md reports")
    p.add_argument("--survey-id", required=True, type=_survey_id, metavar="ID")
    p.add_argument("--dataset", required=True, metavar="ROOT", help="dataset root (hive partition per survey)")
    p.add_argument("--interval", type=float, default=60.0, metavar="SECONDS", help="poll interval (default: 60)")
    p.add_argument("--name", default="cardex-inbox", help="deployment name (default: cardex-inbox)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from flows import prefect_env

    prefect_env.apply_defaults()
    if not os.environ.get("PREFECT_API_URL"):
        from flows.prefect_env import configured_api_url

        if not configured_api_url():
            _err("cardex serve needs a Prefect server: start one (prefect server start) and set PREFECT_API_URL")
            return 2
    if not os.path.isdir(args.inbox):  # else it would watch nothing, silently, for ever
        _err(f"{args.inbox}: no such folder (the inbox must exist)")
        return 2
    import httpx

    from flows.serve import serve_inbox

    try:
        serve_inbox(args.inbox, args.survey_id, args.dataset, interval=args.interval, name=args.name)
    except httpx.TransportError as exc:  # PREFECT_API_URL names no running server
        from flows.prefect_env import configured_api_url

        _err(f"cannot reach the Prefect API at {configured_api_url()} ({exc}): is the server running?")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


def console_main() -> None:
    """The ``cardex`` command: :func:`main`, then an exit that skips the interpreter's teardown.

    When a command returns, its outputs are written and closed, the embedded
    Prefect server is stopped and Prefect's log and event queues are drained
    (:func:`flows.prefect_env.drain_workers`). What remains is freeing the
    objects of spaCy, Prefect and pyarrow one by one: about 1 s here, for
    nothing. The exit handlers still run; only that teardown is skipped.
    """
    code = main()
    import atexit
    import logging

    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    console_main()
