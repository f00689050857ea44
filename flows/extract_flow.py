"""The extraction flow: reports in, one published run directory out.

The logic lives in plain functions (:func:`expand_inputs`, :func:`process_input`,
:func:`run_extraction`, :func:`build_run_report`) that tests call without
Prefect. The Prefect flow :func:`extract_reports` runs the same
:func:`run_extraction` with every stage of every input as a Prefect task
(``read`` → ``segment`` → ``extract``, see :mod:`extractors.pipeline`) and the
publication of the run directory as one final task.

One input that cannot be read (:class:`InputError`) is recorded as failed with
its one-line problem; the others are processed and written. A stage that
fails with any other exception (a bug) fails its input the same way, with the
exception named; the traceback is in the Prefect task run's logs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import dataclasses
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows import prefect_env

prefect_env.apply_defaults()

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.states import Failed  # noqa: E402
from prefect.utilities.annotations import quote  # noqa: E402

from extractors.document import Card, Document, InputError  # noqa: E402
from extractors.pipeline import (  # noqa: E402
    DocumentResult,
    card_texts,
    cards_to_records,
    reconcile_document,
    reject_duplicate_card_ids,
)
from extractors.readers import read_document  # noqa: E402
from extractors.records import SCHEMA_VERSION, AgreementRecord, RejectRecord  # noqa: E402
from extractors.segment import document_to_cards  # noqa: E402
from extractors.write import publish_run  # noqa: E402

INPUT_SUFFIXES = (".pdf", ".txt", ".md")
RUN_FORMAT = 1  # version of the run.json layout

# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class InputOutcome:
    """What became of one input: a DocumentResult, or the one-line reason it failed."""

    path: str
    status: str  # "ok" or "failed"
    error: str | None = None
    result: DocumentResult | None = None
    sha256: str | None = None
    kind: str | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def segments(self) -> int:
        return self.result.segments if self.result else 0

    @property
    def records(self) -> tuple[AgreementRecord, ...]:
        return self.result.records if self.result else ()

    @property
    def rejects(self) -> tuple[RejectRecord, ...]:
        return self.result.rejects if self.result else ()

    @property
    def warnings(self) -> int:
        return self.result.warning_count if self.result else 0


@dataclass(frozen=True)
class RunSummary:
    """What the flow returns: the outcomes per input and the run.json written."""

    survey_id: str
    out_dir: str
    inputs: tuple[InputOutcome, ...]
    report: dict[str, Any]
    seconds: float

    @property
    def failed(self) -> tuple[InputOutcome, ...]:
        return tuple(o for o in self.inputs if not o.ok)

    @property
    def exit_code(self) -> int:
        """0 when every input was read (rejected cards included), 1 otherwise."""
        return 1 if self.failed or not self.inputs else 0

    @property
    def totals(self) -> dict[str, int]:
        return self.report["totals"]


# ---------------------------------------------------------------- inputs


def expand_inputs(args: Iterable[str | os.PathLike[str]]) -> list[tuple[str, str | None]]:
    """Each INPUT as (path, problem): a folder becomes its *.pdf, *.txt, *.md files, sorted.

    Folders are not searched recursively. A path given twice is kept once.
    A missing path, or a folder without such files, comes back with its problem.
    """
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()

    def add(path: str, problem: str | None) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            out.append((path, problem))

    for arg in args:
        path = os.fspath(arg)
        if os.path.isdir(path):
            files = sorted(
                str(p) for p in Path(path).iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES
            )
            if not files:
                add(path, "folder holds no .pdf, .txt or .md files")
            for f in files:
                add(f, None)
        elif not os.path.exists(path):
            add(path, "no such file or directory")
        else:
            add(path, None)
    return out


def file_sha256(path: str) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


# ---------------------------------------------------------------- stages


@dataclass(frozen=True)
class Stages:
    """The three stage functions; the flow swaps in Prefect-task-backed versions."""

    read: Callable[[str], Document]
    segment: Callable[[Document], Any]  # -> extractors.segment.Segmentation
    extract: Callable[[list[Card], Document, str], tuple[list[AgreementRecord], list[RejectRecord]]]


PLAIN_STAGES = Stages(read=read_document, segment=document_to_cards, extract=cards_to_records)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _problem(exc: BaseException, stage: str) -> str:
    if isinstance(exc, InputError):
        return _one_line(exc.problem)
    return _one_line(f"internal error in {stage}: {type(exc).__name__}: {exc}")


def process_input(path: str, survey_id: str, stages: Stages = PLAIN_STAGES) -> InputOutcome:
    """Read, segment, extract and validate one input; never raises for a bad input."""
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    stage = "read"

    def failed(problem: str, doc: Document | None = None) -> InputOutcome:
        return InputOutcome(
            path=path,
            status="failed",
            error=problem,
            sha256=doc.sha256 if doc else file_sha256(path),
            kind=doc.kind if doc else None,
            seconds=time.perf_counter() - t_start,
            timings=timings,
        )

    doc: Document | None = None
    try:
        t = time.perf_counter()
        doc = stages.read(path)
        timings["read"] = time.perf_counter() - t
        stage = "segment"
        t = time.perf_counter()
        seg = stages.segment(doc)
        timings["segment"] = time.perf_counter() - t
        stage = "extract"
        t = time.perf_counter()
        cards = list(seg.cards)
        records, rejects = stages.extract(cards, doc, survey_id)
        timings["extract"] = time.perf_counter() - t
        stage = "reconcile"
        t = time.perf_counter()
        reconciliation = reconcile_document(doc, seg, records)
        timings["reconcile"] = time.perf_counter() - t
    except Exception as exc:  # noqa: BLE001 - one input's failure must not stop the others
        return failed(_problem(exc, stage), doc)
    result = DocumentResult(
        source_path=doc.path,
        source_sha256=doc.sha256,
        kind=doc.kind,
        segments=len(cards),
        records=tuple(records),
        rejects=tuple(rejects),
        timings=dict(timings),
        reconciliation=reconciliation,
        card_texts=card_texts(cards),
    )
    if not result.balanced:  # a bug, never an input problem: its rows are not published
        return InputOutcome(
            path=path,
            status="failed",
            error=(
                f"internal error: {result.segments} segments but {len(result.records)} records"
                f" + {len(result.rejects)} rejects"
            ),
            result=result,
            sha256=doc.sha256,
            kind=doc.kind,
            seconds=time.perf_counter() - t_start,
            timings=timings,
        )
    return InputOutcome(
        path=path,
        status="ok",
        result=result,
        sha256=doc.sha256,
        kind=doc.kind,
        seconds=time.perf_counter() - t_start,
        timings=timings,
    )


def survey_level_rules(outcomes: list[InputOutcome]) -> list[InputOutcome]:
    """Rules across the inputs of one survey: a card_id seen in an earlier input (or card) becomes a reject."""
    ok = [o for o in outcomes if o.ok and o.result is not None]
    checked = iter(reject_duplicate_card_ids([o.result for o in ok]))
    return [dataclasses.replace(o, result=next(checked)) if (o.ok and o.result is not None) else o for o in outcomes]


# ---------------------------------------------------------------- run.json


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions(records: Iterable[Any] = ()) -> dict[str, Any]:
    extractor = sorted({r.extractor_version for r in records if getattr(r, "extractor_version", None)})
    cardex = _dist_version("cardex")
    return {
        "cardex": cardex,
        "extractor": extractor or ([cardex] if cardex else []),
        "python": platform.python_version(),
        **{
            name: _dist_version(name)
            for name in ("pdfplumber", "spacy", "sudachipy", "sudachidict-core", "prefect", "pyarrow")
        },
    }


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds")


def input_entry(o: InputOutcome) -> dict[str, Any]:
    return {
        "path": o.path,
        "sha256": o.sha256,
        "kind": o.kind,
        "status": o.status,
        "error": o.error,
        "counts": {
            "segments": o.segments,
            "records": len(o.records),
            "rejects": len(o.rejects),
            "warnings": o.warnings,
        },
        "balanced": o.result.balanced if o.result else None,
        "timings": {k: round(v, 3) for k, v in {**o.timings, "total": o.seconds}.items()},
    }


def build_run_report(
    survey_id: str,
    outcomes: Sequence[InputOutcome],
    started: float,
    finished: float,
    prefect_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of run.json (``outputs`` is added when the files are written)."""
    ok = [o for o in outcomes if o.ok]
    records = [r for o in ok for r in o.records]
    rejects = [r for o in ok for r in o.rejects]
    counts = Counter(r.card_id for r in records)
    duplicates = sorted(k for k, n in counts.items() if n > 1)
    unbalanced = [o.path for o in outcomes if o.result is not None and not o.result.balanced]
    return {
        "run_format": RUN_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "survey_id": survey_id,
        "started": _iso(started),
        "finished": _iso(finished),
        "seconds": round(finished - started, 3),
        "status": "ok" if outcomes and len(ok) == len(outcomes) else "failed_inputs",
        "inputs": [input_entry(o) for o in outcomes],
        "totals": {
            "inputs": len(outcomes),
            "inputs_failed": len(outcomes) - len(ok),
            "segments": sum(o.segments for o in ok),
            "records": len(records),
            "rejects": len(rejects),
            "warnings": sum(o.warnings for o in ok),
        },
        "checks": {
            # every segment of every input ended in records or rejects
            "segments_equal_records_plus_rejects": not unbalanced,
            "unbalanced_inputs": unbalanced,
            "card_id_unique": not duplicates,
            "duplicate_card_ids": duplicates[:50],
            "duplicate_card_id_count": len(duplicates),
        },
        "versions": versions([*records, *rejects]),
        "prefect": prefect_info,
    }


# ---------------------------------------------------------------- the run

Listener = Callable[[InputOutcome], None]
_listeners: list[Listener] = []


def add_listener(fn: Listener) -> None:
    """Call ``fn`` with each input's outcome as soon as it is known (the CLI's progress lines)."""
    _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def _notify(o: InputOutcome) -> None:
    for fn in list(_listeners):
        fn(o)


class PublishError(Exception):
    """The run directory could not be written; the previous outputs are unchanged."""

    def __init__(self, out: str, cause: OSError):
        where = cause.filename or out
        super().__init__(f"could not write {where}: {cause.strerror or cause}; the previous outputs are unchanged")
        self.out = out


Publisher = Callable[..., dict[str, Any]]  # publish_run(out, records, rejects, run, reconciliation)


def run_extraction(
    inputs: Sequence[str],
    survey_id: str,
    out: str | os.PathLike[str],
    stages: Stages = PLAIN_STAGES,
    publish: Publisher = publish_run,
    prefect_info: dict[str, Any] | None = None,
) -> RunSummary:
    """Process every input, then publish the run directory once (plain Python, no Prefect)."""
    started_wall, t0 = time.time(), time.perf_counter()
    outcomes: list[InputOutcome] = []
    for path, problem in expand_inputs(inputs):
        if problem is not None:
            outcome = InputOutcome(path=path, status="failed", error=problem)
        else:
            outcome = process_input(path, survey_id, stages)
        outcomes.append(outcome)
        _notify(outcome)
    outcomes = survey_level_rules(outcomes)
    report = build_run_report(
        survey_id, outcomes, started_wall, started_wall + (time.perf_counter() - t0), prefect_info
    )
    records = [r for o in outcomes if o.ok for r in o.records]
    rejects = [r for o in outcomes if o.ok for r in o.rejects]
    reconciliation = [o.result.reconciliation for o in outcomes if o.ok and o.result.reconciliation]
    try:
        report["outputs"] = publish(os.fspath(out), records, rejects, report, reconciliation)
    except OSError as exc:
        raise PublishError(os.fspath(out), exc) from exc
    return RunSummary(
        survey_id=survey_id,
        out_dir=os.fspath(out),
        inputs=tuple(outcomes),
        report=report,
        seconds=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------- Prefect


@task(name="read", task_run_name="read {path}", cache_policy=NO_CACHE, persist_result=False)
def read_task(path: str) -> Document:
    try:
        return read_document(path)
    except InputError as exc:
        # An expected input problem: a Failed state with the one-line message,
        # not an exception with a traceback in the logs.
        return Failed(message=str(exc), data=exc)  # type: ignore[return-value]


@task(name="segment", task_run_name="segment {doc.path}", cache_policy=NO_CACHE, persist_result=False)
def segment_task(doc: Document) -> Any:
    return document_to_cards(doc)


@task(name="extract", task_run_name="extract {doc.path}", cache_policy=NO_CACHE, persist_result=False)
def extract_task(
    cards: list[Card], doc: Document, survey_id: str
) -> tuple[list[AgreementRecord], list[RejectRecord]]:
    return cards_to_records(cards, doc, survey_id)


@task(name="publish", task_run_name="publish {out}", cache_policy=NO_CACHE, persist_result=False)
def publish_task(
    out: str,
    records: list[AgreementRecord],
    rejects: list[RejectRecord],
    run: dict[str, Any],
    reconciliation: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return publish_run(out, records, rejects, run, reconciliation)


def _via(t: Any) -> Callable[..., Any]:
    """Call a task in the flow; return its value or raise the exception it failed with."""

    def call(*args: Any) -> Any:
        # quote(): Prefect must not walk documents and record lists looking for futures.
        state = t(*(quote(a) for a in args), return_state=True)
        value = state.result(raise_on_failure=False)
        if state.is_failed() or state.is_crashed():
            raise value if isinstance(value, BaseException) else RuntimeError(state.message)
        return value

    return call


TASK_STAGES = Stages(read=_via(read_task), segment=_via(segment_task), extract=_via(extract_task))


@flow(name="extract-reports", persist_result=False, log_prints=False)
def extract_reports(inputs: list[str], survey_id: str, out: str) -> RunSummary:
    """Extract agreement cards from survey reports into DIR/records.parquet, rejects.parquet, run.json."""
    from prefect.runtime import flow_run

    from prefect.settings import get_current_settings

    api_url = get_current_settings().api.url
    info = {
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "flow_run_name": flow_run.name,
        # "embedded": the server cardex started for this run (history in $PREFECT_HOME)
        "api": "embedded" if api_url and api_url == prefect_env.embedded_api_url else api_url,
        "prefect_home": str(get_current_settings().home),
    }
    return run_extraction(
        inputs, survey_id, out, stages=TASK_STAGES, publish=_via(publish_task), prefect_info=info
    )
