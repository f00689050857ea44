"""The extraction flow: reports in, one published run directory (or dataset partition) out.

The logic lives in plain functions (:func:`expand_inputs`, :func:`process_input`,
:func:`run_extraction`, :func:`build_run_report`) that tests call without
Prefect. The Prefect flow :func:`extract_reports` runs the same
:func:`run_extraction` with one task per stage and input (``read``,
``segment``, ``extract``, ``validate``: :data:`STAGE_TASKS`, on the same stage
functions as :func:`process_input`), chained by their futures, at most N
inputs in flight on the flow's task runner (threads, or prefect-dask), each
stage cached by content (:func:`cache_key`), then one ``publish`` task. :func:`run_flow` picks the
task runner and returns the final state with the :class:`RunSummary`.

One input that cannot be read (:class:`InputError`) is recorded as failed with
its one-line problem; the others are processed and written, and the flow run
ends Failed, naming the failed inputs. A stage that fails with any other
exception (a bug) fails its input the same way, with the exception named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import dataclasses
import errno
import os
import platform
import queue
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from flows import prefect_env

prefect_env.apply_defaults()

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.states import Failed  # noqa: E402
from prefect.utilities.annotations import quote  # noqa: E402

from extractors.document import Card, Document, InputError  # noqa: E402
from extractors.pipeline import (  # noqa: E402
    DocumentResult,
    cards_to_fields,
    reject_duplicate_card_ids,
    validate_document,
)
from extractors.readers import read_document  # noqa: E402
from extractors.records import SCHEMA_VERSION, AgreementRecord, RejectRecord  # noqa: E402
from extractors.records_from_cards import CardFields  # noqa: E402
from extractors.segment import Segmentation, document_to_cards  # noqa: E402
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
    cached_stages: tuple[str, ...] = ()  # stages whose output came from the cache (Prefect state "Cached")
    transient: bool = False  # failed on an I/O error that a retry may cure

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def cached(self) -> bool:
        """Nothing was re-extracted: every stage came from the cache."""
        return self.ok and set(self.cached_stages) >= set(STAGE_NAMES)

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
#
# One input goes read -> segment -> extract -> validate. Each stage is a pure
# function of the extractors package; :func:`run_stage` runs one, times it and
# turns its failure into a :class:`StageFailed` naming the input, the stage and
# the one-line problem. :func:`process_input` chains the four in plain Python;
# the flow runs each as its own Prefect task (below), on the same functions.

T = TypeVar("T")


class Timed(Generic[T]):
    """A stage's output and the seconds the stage took.

    Deliberately not a dataclass or tuple: Prefect walks dataclasses and
    tuples given to a task looking for futures, and a Document holds tens of
    thousands of lines. Pickles, so Dask workers and the result store keep it.
    """

    __slots__ = ("value", "seconds")

    def __init__(self, value: T, seconds: float):
        self.value = value
        self.seconds = seconds

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timed) and (self.value, self.seconds) == (other.value, other.seconds)

    def __repr__(self) -> str:
        return f"Timed({type(self.value).__name__}, {self.seconds:.3f} s)"

    def __getstate__(self) -> tuple[Any, float]:
        return self.value, self.seconds

    def __setstate__(self, state: tuple[Any, float]) -> None:
        self.value, self.seconds = state


@dataclass(frozen=True)
class Stages:
    """The four stage functions (tests swap one for a broken version)."""

    read: Callable[[str], Document]
    segment: Callable[[Document], Segmentation]
    extract: Callable[[list[Card], Document, str], list[CardFields]]
    validate: Callable[[Document, Segmentation, list[CardFields], dict[str, float]], DocumentResult]


PLAIN_STAGES = Stages(read=read_document, segment=document_to_cards, extract=cards_to_fields, validate=validate_document)
STAGE_NAMES = ("read", "segment", "extract", "validate")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# errno values that a retry does not cure: the file is missing or forbidden
_PERMANENT_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG}


def is_transient(exc: BaseException) -> bool:
    """An I/O error a retry may cure (EIO, ESTALE, timeouts...), also when a reader wrapped it in InputError."""
    for e in (exc, exc.__context__, exc.__cause__):
        if isinstance(e, OSError) and e.errno not in _PERMANENT_ERRNOS:
            return True
    return False


def _problem(exc: BaseException, stage: str) -> str:
    if isinstance(exc, InputError):
        return _one_line(exc.problem)
    return _one_line(f"internal error in {stage}: {type(exc).__name__}: {exc}")


class StageFailed(Exception):
    """A stage of one input failed; the message is the one-line problem.

    ``transient``: an I/O error a retry may cure (only ever for ``read``).
    ``result``: the DocumentResult of an input that failed validation as a whole
    (segments != records + rejects: a bug), kept for run.json's checks.
    """

    def __init__(
        self, path: str, stage: str, problem: str, transient: bool = False,
        sha256: str | None = None, kind: str | None = None, result: DocumentResult | None = None,
    ):
        super().__init__(problem)
        self.path, self.stage, self.problem, self.transient = path, stage, problem, transient
        self.sha256, self.kind, self.result = sha256, kind, result

    def __reduce__(self) -> Any:  # picklable across Dask workers and into result storage
        return (StageFailed, (self.path, self.stage, self.problem, self.transient, self.sha256, self.kind, self.result))

    def outcome(self, seconds: float = 0.0) -> InputOutcome:
        return InputOutcome(
            path=self.path, status="failed", error=self.problem, transient=self.transient, result=self.result,
            sha256=self.sha256 if self.sha256 is not None else file_sha256(self.path), kind=self.kind,
            seconds=seconds, timings=dict(self.result.timings) if self.result else {},
        )


def run_stage(stage: str, path: str, fn: Callable[..., T], *args: Any, doc: Document | None = None) -> Timed[T]:
    """Run one stage of one input: its output, timed, or StageFailed with the one-line problem."""
    t = time.perf_counter()
    try:
        value = fn(*args)
    except Exception as exc:  # noqa: BLE001 - one input's failure must not stop the others
        raise StageFailed(
            path, stage, _problem(exc, stage), transient=stage == "read" and is_transient(exc),
            sha256=doc.sha256 if doc else None, kind=doc.kind if doc else None,
        ) from exc
    return Timed(value, time.perf_counter() - t)


def validate_stage(
    path: str, doc: Timed[Document], seg: Timed[Segmentation], fields: Timed[list[CardFields]],
    validate: Callable[..., DocumentResult] = validate_document,
) -> Timed[DocumentResult]:
    """The validate stage: records and rejects of one input, every segment accounted for."""
    timings = {"read": doc.seconds, "segment": seg.seconds, "extract": fields.seconds}
    out = run_stage("validate", path, validate, doc.value, seg.value, fields.value, timings, doc=doc.value)
    result = out.value
    if not result.balanced:  # a bug, never an input problem: its rows are not published
        raise StageFailed(
            path, "validate",
            f"internal error: {result.segments} segments but {len(result.records)} records"
            f" + {len(result.rejects)} rejects",
            sha256=doc.value.sha256, kind=doc.value.kind, result=result,
        )
    return out


def result_to_outcome(path: str, result: DocumentResult, seconds: float, cached: tuple[str, ...] = ()) -> InputOutcome:
    return InputOutcome(
        path=path, status="ok", result=result, sha256=result.source_sha256, kind=result.kind,
        seconds=seconds, timings=dict(result.timings), cached_stages=cached,
    )


def process_input(path: str, survey_id: str, stages: Stages = PLAIN_STAGES) -> InputOutcome:
    """Read, segment, extract and validate one input in plain Python; never raises for a bad input."""
    t0 = time.perf_counter()
    try:
        doc = run_stage("read", path, stages.read, path)
        seg = run_stage("segment", path, stages.segment, doc.value, doc=doc.value)
        fields = run_stage("extract", path, stages.extract, list(seg.value.cards), doc.value, survey_id, doc=doc.value)
        result = validate_stage(path, doc, seg, fields, stages.validate)
    except StageFailed as exc:
        return exc.outcome(time.perf_counter() - t0)
    return result_to_outcome(path, result.value, time.perf_counter() - t0)


def survey_level_rules(outcomes: list[InputOutcome]) -> list[InputOutcome]:
    """Rules across the inputs of one survey: a card_id seen in an earlier input (or card) becomes a reject."""
    ok = [o for o in outcomes if o.ok and o.result is not None]
    checked = iter(reject_duplicate_card_ids([o.result for o in ok]))
    return [dataclasses.replace(o, result=next(checked)) if (o.ok and o.result is not None) else o for o in outcomes]


def warm_up() -> None:
    """Import the readers and writers and build the Japanese pipeline now, not in the first task.

    The command line calls it while the embedded Prefect server starts, so the
    one-time cost (about 2 s, mostly spaCy) overlaps the server's start-up.
    """
    import extractors.read_pdf  # noqa: F401 - pdfplumber
    import extractors.write  # noqa: F401 - pyarrow
    import fastapi.encoders  # noqa: F401 - Prefect's flow engine imports it to serialise parameters (0.4 s)
    import qa.reconcile  # noqa: F401
    from nlp.tokenizer import japanese

    japanese()


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
        "cached": o.cached,
        "cached_stages": list(o.cached_stages),
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
# process_all(paths, survey_id) yields (index into paths, outcome) as each input finishes
ProcessAll = Callable[[list[str], str], Iterable[tuple[int, InputOutcome]]]


def run_extraction(
    inputs: Sequence[str],
    survey_id: str,
    out: str | os.PathLike[str],
    stages: Stages = PLAIN_STAGES,
    publish: Publisher = publish_run,
    prefect_info: dict[str, Any] | None = None,
    process_all: ProcessAll | None = None,
) -> RunSummary:
    """Process every input, then publish the run directory once (plain Python unless ``process_all`` says otherwise).

    ``process_all(paths, survey_id)`` yields ``(index, outcome)`` for each
    readable input as it finishes, in any order (the flow runs them as Prefect
    tasks); listeners hear each as it comes, run.json lists them in input order.
    """
    started_wall, t0 = time.time(), time.perf_counter()
    expanded = expand_inputs(inputs)
    readable = [path for path, problem in expanded if problem is None]
    if process_all is None:
        processed: Iterable[tuple[int, InputOutcome]] = (
            (i, process_input(p, survey_id, stages)) for i, p in enumerate(readable)
        )
    else:
        processed = process_all(readable, survey_id)
    by_path: dict[str, InputOutcome] = {}
    for path, problem in expanded:
        if problem is not None:
            by_path[path] = InputOutcome(path=path, status="failed", error=problem)
            _notify(by_path[path])
    for i, outcome in processed:
        by_path[readable[i]] = outcome
        _notify(outcome)
    outcomes = [by_path[path] for path, _ in expanded]
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
#
# One task per stage and input: ``read``, ``segment``, ``extract``,
# ``validate``, each given the futures of the stages before it (so Prefect
# records the dependencies, and on Dask a document stays on the worker that
# read it). :func:`mapped_processing` keeps at most N inputs in flight and
# yields each input's outcome as its ``validate`` finishes; survey-level rules
# and the one ``publish`` task run at the end. Each stage is cached by content
# (:func:`cache_key`): a changed rule file re-runs segment/extract/validate but
# not the read of a PDF; a new extractor version re-runs everything.

RULES_DIR = Path(__file__).resolve().parent.parent / "nlp" / "rules"
CACHE_DIR_NAME = ".cardex-cache"


def rules_fingerprint(rules_dir: Path = RULES_DIR) -> str:
    """sha256 over the rule files (nlp/rules/*, names and contents): a changed rule invalidates the cache."""
    h = hashlib.sha256()
    for p in sorted(rules_dir.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            h.update(p.relative_to(rules_dir).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def extractor_version() -> str:
    from extractors.version import EXTRACTOR_VERSION

    return EXTRACTOR_VERSION


@dataclass(frozen=True)
class CacheVersions:
    """What every cached stage output depends on besides its input: computed once per flow run."""

    extractor: str
    rules: str
    schema: int = SCHEMA_VERSION

    @classmethod
    def current(cls) -> CacheVersions:
        return cls(extractor=extractor_version(), rules=rules_fingerprint())


def cache_key(stage: str, parameters: dict[str, Any]) -> str | None:
    """Cache key of one stage of one input; None (never cached) for a file that cannot be read.

    Every stage: the input's sha256 and path (``source_path`` is a column),
    the extractor and schema versions. ``segment``, ``extract`` and
    ``validate`` also the rule files; ``extract`` and ``validate`` the survey
    id (a column of every record). ``read`` depends on the file alone.
    """
    doc = parameters.get("doc")
    sha = doc.value.sha256 if isinstance(doc, Timed) else file_sha256(parameters["path"])
    if sha is None:
        return None
    v: CacheVersions = parameters["versions"]
    parts = ["cardex-v2", stage, sha, os.fspath(parameters["path"]), v.extractor, str(v.schema)]
    if stage != "read":
        parts.append(v.rules)
    if stage in ("extract", "validate"):
        parts.append(parameters["survey_id"])
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def stage_cache_key(context: Any, parameters: dict[str, Any]) -> str | None:
    """Prefect's cache_key_fn for the stage tasks: the task's name is the stage."""
    return cache_key(context.task.name, parameters)


def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only I/O errors a retry can cure, never a deterministic parse or input error."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001
        return False
    return isinstance(exc, StageFailed) and exc.transient


_STAGE_TASK = dict(cache_key_fn=stage_cache_key, persist_result=True)


@task(
    name="read", task_run_name="read {path}", **_STAGE_TASK,
    retries=2, retry_delay_seconds=[2, 10],  # backoff; only for I/O errors (retry_condition_fn)
    retry_condition_fn=_retry_transient,
)
def read_task(path: str, versions: CacheVersions) -> Timed[Document]:
    """PDF, text or Markdown -> Document (pages of lines)."""
    return run_stage("read", path, read_document, path)


@task(name="segment", task_run_name="segment {path}", **_STAGE_TASK)
def segment_task(path: str, doc: Timed[Document], versions: CacheVersions) -> Timed[Segmentation]:
    """Document -> numbered agreement cards (across page breaks) and the document's own tables."""
    return run_stage("segment", path, document_to_cards, doc.value, doc=doc.value)


@task(name="extract", task_run_name="extract {path}", **_STAGE_TASK)
def extract_task(
    path: str, doc: Timed[Document], seg: Timed[Segmentation], survey_id: str, versions: CacheVersions
) -> Timed[list[CardFields]]:
    """Cards -> the (1)-(7) fields, phones and e-mails of each card."""
    return run_stage("extract", path, cards_to_fields, list(seg.value.cards), doc.value, survey_id, doc=doc.value)


@task(name="validate", task_run_name="validate {path}", **_STAGE_TASK)
def validate_task(
    path: str, doc: Timed[Document], seg: Timed[Segmentation], fields: Timed[list[CardFields]],
    survey_id: str, versions: CacheVersions,
) -> Timed[DocumentResult]:
    """Fields -> validated records and rejects, agreement keys, reconciliation with the report's tables."""
    return validate_stage(path, doc, seg, fields)


STAGE_TASKS = (read_task, segment_task, extract_task, validate_task)


@task(name="publish", task_run_name="publish {out}", cache_policy=NO_CACHE, persist_result=False)
def publish_task(
    out: str,
    records: list[AgreementRecord],
    rejects: list[RejectRecord],
    run: dict[str, Any],
    reconciliation: list[dict[str, Any]] | None = None,
    partition: bool = False,
) -> dict[str, Any]:
    from extractors.write import publish_partition

    return (publish_partition if partition else publish_run)(out, records, rejects, run, reconciliation)


def _via(t: Any, **options: Any) -> Callable[..., Any]:
    """Call a task in the flow; return its value or raise the exception it failed with."""

    def call(*args: Any) -> Any:
        # quote(): Prefect must not walk record lists looking for futures.
        state = t(*(quote(a) for a in args), return_state=True, **options)
        value = state.result(raise_on_failure=False)
        if state.is_failed() or state.is_crashed():
            raise value if isinstance(value, BaseException) else RuntimeError(state.message)
        return value

    return call


def result_storage(cache_store: str) -> Any:
    """Prefect result storage for ``--cache-store``: a local path, an fsspec URL or ``block:TYPE/NAME``.

    A local path is used as such (Prefect's LocalFileSystem). Prefect wants
    other storage as a saved block: ``block:remote-file-system/NAME`` names
    one; an fsspec URL (``s3://bucket/cardex-cache``) is saved as a
    RemoteFileSystem block named after it (credentials from the usual fsspec
    environment, e.g. AWS_* variables) and used by its slug.
    """
    if cache_store.startswith("block:"):
        return cache_store[len("block:"):]
    if "://" in cache_store and not cache_store.startswith("file://"):
        from prefect.filesystems import RemoteFileSystem

        name = "cardex-cache-" + hashlib.sha256(cache_store.encode()).hexdigest()[:12]
        RemoteFileSystem(basepath=cache_store).save(name, overwrite=True)
        return f"remote-file-system/{name}"
    path = cache_store[len("file://"):] if cache_store.startswith("file://") else cache_store
    return Path(path).expanduser().resolve()


def partition_dir(dataset: str | os.PathLike[str], survey_id: str) -> str:
    """The hive-style partition of one survey in a dataset root: ROOT/survey_id=ID."""
    return os.path.join(os.fspath(dataset), f"survey_id={survey_id}")


def default_cache_store(out: str) -> str:
    """The cache lives beside the run directory, under the output root: replacing a partition keeps it."""
    return os.path.join(os.path.dirname(os.path.abspath(out)), CACHE_DIR_NAME)


def chain_outcome(path: str, chain: Sequence[Any], seconds: float) -> InputOutcome:
    """The outcome of one input from the futures of its four stages (validate last)."""
    final = chain[-1].state
    if final.is_completed():
        result: DocumentResult = final.result(raise_on_failure=False).value
        cached = tuple(name for name, fut in zip(STAGE_NAMES, chain) if fut.state.name == "Cached")
        # a fully cached input cost no extraction this run: seconds 0, its original stage timings kept
        return result_to_outcome(path, result, 0.0 if len(cached) == len(chain) else seconds, cached)
    for fut in chain:  # the first stage that failed says why (the later ones never ran)
        state = fut.state
        if state.is_completed():
            continue
        value = state.result(raise_on_failure=False) if state.is_final() else None
        if isinstance(value, StageFailed):
            return value.outcome(seconds)
        return InputOutcome(
            path=path, status="failed", error=_one_line(state.message or state.name),
            sha256=file_sha256(path), seconds=seconds,
        )
    raise AssertionError("unreachable: the last stage did not complete but every stage did")


def mapped_processing(cache: bool, storage: Any, in_flight: int) -> ProcessAll:
    """Run each input's stage tasks on the flow's task runner, at most ``in_flight`` inputs at a time.

    An input's four tasks are submitted together, each given the futures of
    the ones before it; the next input is submitted as soon as one finishes.
    Yields ``(index, outcome)`` as each input's ``validate`` finishes.
    """

    def process_all(paths: list[str], survey_id: str) -> Iterator[tuple[int, InputOutcome]]:
        if cache:
            options: dict[str, Any] = {"result_storage": storage} if storage is not None else {}
        else:
            options = {"cache_policy": NO_CACHE, "persist_result": False}
        read, segment, extract, validate = (t.with_options(**options) for t in STAGE_TASKS)
        versions = CacheVersions.current()
        finished: queue.SimpleQueue[int] = queue.SimpleQueue()
        pending = list(range(len(paths)))[::-1]
        running: dict[int, tuple[tuple[Any, ...], float]] = {}

        def submit(i: int) -> None:
            path = paths[i]
            doc = read.submit(path, versions)
            seg = segment.submit(path, doc, versions)
            fields = extract.submit(path, doc, seg, survey_id, versions)
            result = validate.submit(path, doc, seg, fields, survey_id, versions)
            running[i] = ((doc, seg, fields, result), time.perf_counter())
            result.add_done_callback(lambda _f: finished.put(i))

        while pending or running:
            while pending and len(running) < in_flight:
                submit(pending.pop())
            i = finished.get()
            chain, t0 = running.pop(i)
            for fut in chain:
                fut.wait()
            yield i, chain_outcome(paths[i], chain, time.perf_counter() - t0)

    return process_all


def _failed_message(summary: RunSummary) -> str:
    failed = summary.failed
    if not summary.inputs:
        return "no inputs"
    names = "; ".join(f"{o.path}: {o.error}" for o in failed[:5])
    more = f" (+{len(failed) - 5} more)" if len(failed) > 5 else ""
    return f"{len(failed)} of {len(summary.inputs)} inputs failed: {names}{more}"


@flow(name="extract-reports", persist_result=False, log_prints=False)
def extract_reports(
    inputs: list[str],
    survey_id: str,
    out: str | None = None,
    dataset: str | None = None,
    cache_store: str | None = None,
    cache: bool = True,
    max_in_flight: int = 4,
) -> Any:
    """Extract agreement cards from survey reports into records.parquet, rejects.parquet, run.json.

    ``out``: the run directory. ``dataset``: a dataset root instead; the run is
    the hive partition ``ROOT/survey_id=ID``, replaced atomically as a whole.
    ``cache_store``: where cached extractions live (path, fsspec URL or
    ``block:TYPE/NAME``; default ``.cardex-cache`` under the output root).
    ``max_in_flight``: inputs between read and validate at once.
    Completed when every input was processed; Failed (naming the failed
    inputs) otherwise, with the :class:`RunSummary` as the state's data.
    """
    from prefect.runtime import flow_run
    from prefect.settings import get_current_settings
    from prefect.states import Completed

    if (out is None) == (dataset is None):
        raise ValueError("give exactly one of out (a run directory) or dataset (a dataset root)")
    partition = dataset is not None
    target = partition_dir(dataset, survey_id) if partition else os.fspath(out)  # type: ignore[arg-type]
    storage = result_storage(cache_store or default_cache_store(target)) if cache else None
    api_url = get_current_settings().api.url
    info = {
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "flow_run_name": flow_run.name,
        # "embedded": the server cardex started for this run (history in $PREFECT_HOME)
        "api": "embedded" if api_url and api_url == prefect_env.embedded_api_url else api_url,
        "prefect_home": str(get_current_settings().home),
    }
    if info["api"] == "embedded" and prefect_env.embedded_startup:
        info["embedded_server"] = dict(prefect_env.embedded_startup)

    def publish(out_dir: str, records: Any, rejects: Any, run: Any, reconciliation: Any) -> Any:
        return _via(publish_task)(out_dir, records, rejects, run, reconciliation, partition)

    summary = run_extraction(
        inputs,
        survey_id,
        target,
        publish=publish,
        prefect_info=info,
        process_all=mapped_processing(cache, storage, max(1, max_in_flight)),
    )
    cached = sum(o.cached for o in summary.inputs)
    # quote(): the engine would otherwise walk every record of the summary looking for futures (0.4 s here)
    if summary.exit_code:
        return Failed(message=_failed_message(summary), data=quote(summary))
    return Completed(message=f"{len(summary.inputs)} inputs, {cached} cached", data=quote(summary))


def summary_of(state: Any) -> RunSummary | None:
    """The RunSummary an extract-reports flow run's final state carries (None if it has none)."""
    value = state.result(raise_on_failure=False)
    if isinstance(value, quote):
        value = value.unwrap()
    return value if isinstance(value, RunSummary) else None


# Dask workers sample their threads' stacks every 10 ms for the dashboard's
# profile; pdfplumber is pure Python, so that costs a worker about a tenth of
# its time. The LocalCluster cardex starts turns it off.
LOCAL_DASK_WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


def task_runner(runner: str = "threads", workers: int = 4, dask_address: str | None = None) -> Any:
    """The task runner for ``--runner``: Prefect's thread pool, or prefect-dask (a LocalCluster, or ``dask_address``).

    ``workers`` inputs are processed at once. Threads: an input in flight holds
    up to one thread per stage (a stage waits for the one before it), so the
    pool has ``len(STAGE_TASKS) * workers`` threads. Dask: ``workers``
    single-threaded worker processes.
    """
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={
            "n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None,
            "config": LOCAL_DASK_WORKER_CONFIG,  # the Nanny sets it in its worker process
        })
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=len(STAGE_TASKS) * workers)


def in_flight(runner: str, workers: int) -> int:
    """Inputs between read and validate at once: ``workers`` on threads; on Dask twice that, so a
    worker that finishes an input finds the next one's read already queued."""
    return 2 * workers if runner == "dask" else workers


def run_flow(
    inputs: Sequence[str],
    survey_id: str,
    out: str | None = None,
    *,
    dataset: str | None = None,
    cache_store: str | None = None,
    cache: bool = True,
    runner: str = "threads",
    workers: int = 4,
    dask_address: str | None = None,
) -> tuple[Any, RunSummary]:
    """Run the flow; return (final Prefect state, RunSummary). Raises only if the run could not complete."""
    f = extract_reports.with_options(task_runner=task_runner(runner, workers, dask_address))
    state = f(
        inputs=list(inputs), survey_id=survey_id, out=out, dataset=dataset, cache_store=cache_store,
        cache=cache, max_in_flight=in_flight(runner, workers), return_state=True,
    )
    summary = summary_of(state)
    if summary is not None:
        return state, summary
    value = state.result(raise_on_failure=False)
    if isinstance(value, BaseException):
        raise value
    raise RuntimeError(state.message or f"flow run ended {state.name}")
