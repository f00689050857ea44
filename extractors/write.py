"""Atomic writers for a run's outputs: records.parquet, rejects.parquet, run.json.

Every file is written to a temporary file in the destination directory
(``.NAME.tmp-XXXXXXXX``), flushed and fsynced, then moved over the old file
with ``os.replace`` (atomic on POSIX within one file system), and the
directory is fsynced. A failed or interrupted write leaves the previous file
untouched and removes its temporary file.

A run directory is published by :func:`publish_run` as one step:

1. take an exclusive lock on ``DIR/.cardex.lock`` (two runs writing the same
   DIR are serialised instead of interleaved) and delete temporary files that
   an earlier, killed run left behind;
2. write *all* temporary files (records, rejects, run.json) and fsync them;
   if any of this fails, nothing in DIR has changed;
3. replace records.parquet, then rejects.parquet, then run.json.

run.json is the commit record: it is replaced last and holds the sha256 and
row count of each Parquet file it belongs to. The one window where DIR can
hold files from two runs is a crash between two of the three renames of
step 3 (microseconds); :func:`verify_run` detects it, because the Parquet
files' hashes then disagree with run.json. Every file is always whole.

The schemas are never spelled out here: tables are built with
``RECORD_SCHEMA`` / ``REJECT_SCHEMA`` from :mod:`extractors.records`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from extractors.records import (
    REJECT_SCHEMA,
    RECORD_SCHEMA,
    AgreementRecord,
    RejectRecord,
    to_row,
)

RECORDS_FILE = "records.parquet"
REJECTS_FILE = "rejects.parquet"
RUN_FILE = "run.json"
RECONCILIATION_FILE = "reconciliation.json"
LOCK_FILE = ".cardex.lock"
TMP_MARK = ".tmp-"


# ---------------------------------------------------------------- tables


def records_table(records: Iterable[AgreementRecord]) -> pa.Table:
    return _table(records, RECORD_SCHEMA)


def rejects_table(rejects: Iterable[RejectRecord]) -> pa.Table:
    return _table(rejects, REJECT_SCHEMA)


def _table(rows: Iterable[Any], schema: pa.Schema) -> pa.Table:
    table = pa.Table.from_pylist([to_row(r) for r in rows], schema=schema)
    # from_pylist does not enforce nullability: refuse to write a null where
    # the contract says "not null" rather than publish a broken file.
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            raise ValueError(f"column {field.name!r} is not nullable but has nulls")
    table.validate(full=True)
    return table


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


# ---------------------------------------------------------------- atomic files


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(directory: Path, name: str, write: Callable[[IO[bytes]], None]) -> Path:
    """Write a complete, fsynced temporary file next to ``directory/name``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}{TMP_MARK}", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path.parent, path.name, lambda fh: fh.write(data))
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def write_records(records: Iterable[AgreementRecord], path: str | os.PathLike[str]) -> Path:
    """records.parquet, atomically."""
    return atomic_write_bytes(path, parquet_bytes(records_table(records)))


def write_rejects(rejects: Iterable[RejectRecord], path: str | os.PathLike[str]) -> Path:
    """rejects.parquet, atomically."""
    return atomic_write_bytes(path, parquet_bytes(rejects_table(rejects)))


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")


def run_json_bytes(run: Mapping[str, Any]) -> bytes:
    return json_bytes(run)


def write_run_json(run: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """run.json, atomically."""
    return atomic_write_bytes(path, run_json_bytes(run))


# ---------------------------------------------------------------- a whole run


@contextlib.contextmanager
def _locked_file(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the duration of the block."""
    with open(path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def stale_temp_files(directory: Path) -> list[Path]:
    names = (RECORDS_FILE, REJECTS_FILE, RECONCILIATION_FILE, RUN_FILE)
    return sorted(
        p for p in directory.glob(f".*{TMP_MARK}*") if any(p.name.startswith(f".{n}{TMP_MARK}") for n in names)
    )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def publish_run(
    out_dir: str | os.PathLike[str],
    records: Iterable[AgreementRecord],
    rejects: Iterable[RejectRecord],
    run: Mapping[str, Any],
    reconciliation: Any = None,
) -> dict[str, Any]:
    """Write records.parquet, rejects.parquet, reconciliation.json and run.json into ``out_dir`` as one step.

    ``run`` gets an ``outputs`` entry (file name, rows, sha256 per file) before
    it is written. Returns that entry. Raises on any failure, in which case the
    files of the previous run in ``out_dir`` are untouched (see module doc).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rec_table, rej_table = records_table(records), rejects_table(rejects)
    rec_bytes, rej_bytes = parquet_bytes(rec_table), parquet_bytes(rej_table)
    outputs = {
        "records": {"file": RECORDS_FILE, "rows": rec_table.num_rows, "sha256": sha256_bytes(rec_bytes)},
        "rejects": {"file": REJECTS_FILE, "rows": rej_table.num_rows, "sha256": sha256_bytes(rej_bytes)},
    }
    rec_json = json_bytes(reconciliation if reconciliation is not None else [])
    outputs["reconciliation"] = {"file": RECONCILIATION_FILE, "sha256": sha256_bytes(rec_json)}
    run_doc = {**run, "outputs": outputs}
    with _locked_file(out / LOCK_FILE):
        for stale in stale_temp_files(out):
            with contextlib.suppress(OSError):
                stale.unlink()
        temps: list[tuple[Path, Path]] = []
        try:
            for name, data in (
                (RECORDS_FILE, rec_bytes),
                (REJECTS_FILE, rej_bytes),
                (RECONCILIATION_FILE, rec_json),
                (RUN_FILE, run_json_bytes(run_doc)),
            ):
                temps.append((_write_temp(out, name, lambda fh, d=data: fh.write(d)), out / name))
            while temps:  # run.json is last: the commit record
                tmp, final = temps[0]
                os.replace(tmp, final)
                temps.pop(0)
        finally:
            for tmp, _ in temps:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        _fsync_dir(out)
    return outputs


def verify_run(out_dir: str | os.PathLike[str]) -> list[str]:
    """Problems with a published run directory (empty list: consistent)."""
    out = Path(out_dir)
    problems: list[str] = []
    try:
        run = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{RUN_FILE}: {exc}"]
    for key, entry in (run.get("outputs") or {}).items():
        path = out / entry["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(f"{entry['file']}: {exc.strerror or exc}")
            continue
        if sha256_bytes(data) != entry["sha256"]:
            problems.append(f"{entry['file']}: sha256 differs from {RUN_FILE} (files from two runs)")
        elif "rows" in entry and pq.read_metadata(io.BytesIO(data)).num_rows != entry["rows"]:
            problems.append(f"{entry['file']}: row count differs from {RUN_FILE}")
    return problems


# ---------------------------------------------------------------- a whole partition
#
# A dataset root holds one hive-style partition per survey, ROOT/survey_id=ID/,
# each a complete run directory (records.parquet, rejects.parquet,
# reconciliation.json, run.json). Re-running a survey replaces its partition
# as a whole: the new run is published into a sibling temporary directory
# (``.survey_id=ID.tmp-XXXXXXXX``, with publish_run), then swapped with the
# partition in one atomic rename (renameat2 RENAME_EXCHANGE on Linux; two
# renames elsewhere, with recovery). Other partitions are never touched; a
# crash before the swap leaves the previous partition as it was, and the
# temporary directory is removed by the next publication.

OLD_MARK = ".old-"


def _renameat2_exchange() -> Callable[[Path, Path], bool] | None:
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    AT_FDCWD, RENAME_EXCHANGE = -100, 2

    def exchange(a: Path, b: Path) -> bool:
        if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
            return True
        import errno

        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL):
            return False  # not supported by this kernel or file system: fall back
        raise OSError(err, os.strerror(err), os.fspath(b))

    return exchange


_EXCHANGE = _renameat2_exchange()


def _cleanup_partition_leftovers(root: Path, name: str) -> None:
    """Remove what a killed publication left: temporary dirs; restore an old partition left mid-swap."""
    import shutil

    target = root / name
    for old in sorted(root.glob(f".{name}{OLD_MARK}*")):
        if not target.exists():
            os.rename(old, target)  # crashed between the two renames of the fallback: put it back
        else:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in root.glob(f".{name}{TMP_MARK}*"):
        shutil.rmtree(tmp, ignore_errors=True)


def publish_partition(
    partition_dir: str | os.PathLike[str],
    records: Iterable[AgreementRecord],
    rejects: Iterable[RejectRecord],
    run: Mapping[str, Any],
    reconciliation: Any = None,
) -> dict[str, Any]:
    """Replace the partition directory ``ROOT/survey_id=ID`` with this run, atomically (see above)."""
    import shutil

    target = Path(partition_dir)
    root, name = target.parent, target.name
    root.mkdir(parents=True, exist_ok=True)
    with _locked_file(root / f".{name}.lock"):
        _cleanup_partition_leftovers(root, name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}{TMP_MARK}", dir=root))
        try:
            outputs = publish_run(tmp, records, rejects, run, reconciliation)
            (tmp / LOCK_FILE).unlink(missing_ok=True)
            os.chmod(tmp, 0o755)
            _fsync_dir(root)
            if not target.exists():
                os.rename(tmp, target)
            elif _EXCHANGE is not None and _EXCHANGE(tmp, target):
                pass  # tmp now holds the previous partition
            else:
                old = root / f".{name}{OLD_MARK}{os.getpid()}"
                os.rename(target, old)
                os.rename(tmp, target)
                os.rename(old, tmp)
            _fsync_dir(root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return outputs
