"""Benchmark of the pipeline as operators run it: library, embedded Prefect, cache, Dask.

Not a test: it measures and reports, in one run, on this machine. From the repository root:

    .venv/bin/python bench/bench_pipeline.py [--repeat 3] [--copies 20] [--json outputs/bench_pipeline.json]

Measures (wall seconds; medians of ``--repeat`` runs where repeated):

* ``library``: the text report (corpus/002, 175 cards) read, extracted and
  published with the plain functions, no Prefect (a fresh process, imports included);
* ``embedded_cold``: ``cardex extract`` of the same report with the cache off,
  every command starting and stopping its own embedded Prefect server
  (``CARDEX_SERVER_IDLE_SECONDS=0``; PREFECT_HOME already migrated), and the
  overhead ``embedded_cold - library`` (goal <= 5 s), with the server's start-up
  and the flow body from run.json; ``embedded_resident``: the same command while
  the server a previous command left is up (the default);
* ``pdf``: ``cardex extract PDF --dataset ...`` with an empty cache, then a
  re-run on the unchanged PDF (goal: cached <= 25 % of first), both with a
  server per command (``cold_server``) and with the server the first run left
  (``resident_server``, the default); as command wall time and as the flow's
  own time (run.json ``seconds``);
* ``copies``: ``--copies`` copies of the PDF through the flow in one process,
  sequentially (thread runner, 1 worker) vs prefect-dask on a 2-worker
  LocalCluster (goal >= 1.6x), with the peak RSS of each Dask worker (goal <= 1 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXT = ROOT / "corpus" / "002_e59d51f378d5a747.txt"
PDF = ROOT / "corpus" / "pdf" / "clair2012_tokutei.pdf"
CARDEX = str(Path(sys.executable).with_name("cardex"))

LIBRARY = """
import sys
from extractors.pipeline import extract_document
from extractors.write import publish_run
r = extract_document(sys.argv[1], "bench")
publish_run(sys.argv[2], r.records, r.rejects, {"survey_id": "bench"}, [r.reconciliation])
"""


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return dt


def stop_resident(home: Path) -> None:
    """Stop the resident embedded server of ``home`` (if any) and wait for it to go."""
    from flows.prefect_env import SERVER_STATE_NAME, pid_alive

    try:
        pid = json.loads((home / SERVER_STATE_NAME).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return
    if pid_alive(pid):
        os.kill(pid, 15)
    deadline = time.monotonic() + 30
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def cardex(*args: str) -> list[str]:
    return [CARDEX, *args] if os.path.exists(CARDEX) else [sys.executable, "-m", "flows.cli", *args]


def median(xs: list[float]) -> float:
    return round(statistics.median(xs), 2)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not getrusage's ru_maxrss: a process started by
    fork+exec inherits its parent's figure there (Dask's workers reported the flow process's)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def copies_phase(copies: int, work: Path) -> dict:
    """In one process: N copies of the PDF, sequential vs Dask (2 workers); peak RSS per worker."""
    from flows import prefect_env

    prefect_env.apply_defaults(quiet_console=True)
    session = prefect_env.PrefectSession()
    from distributed import Client, LocalCluster

    from flows import extract_flow as ef

    inbox = work / "pdfs"
    inbox.mkdir()
    for i in range(copies):
        shutil.copy(PDF, inbox / f"copy_{i:02d}.pdf")
    out: dict = {"copies": copies}
    try:
        session.run(lambda: None)  # the embedded server is up before anything is timed
        t0 = time.perf_counter()
        _, seq = session.run(ef.run_flow, [str(inbox)], "bench", str(work / "seq"), cache=False, workers=1)
        out["sequential_s"] = round(time.perf_counter() - t0, 2)
        out["sequential_peak_rss_mb"] = round(peak_rss_mb())
        # the LocalCluster `--runner dask` starts (same settings), made here so its workers can be measured
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            config=ef.LOCAL_DASK_WORKER_CONFIG,
        ) as cluster, Client(cluster) as client:
            t0 = time.perf_counter()
            _, dsk = session.run(
                ef.run_flow, [str(inbox)], "bench", str(work / "dask"), cache=False,
                runner="dask", workers=2, dask_address=cluster.scheduler_address,
            )
            out["dask_2_workers_s"] = round(time.perf_counter() - t0, 2)
            rss = client.run(peak_rss_mb)
            out["dask_worker_peak_rss_mb"] = sorted(round(v) for v in rss.values())
        assert all(o.ok for o in seq.inputs) and all(o.ok for o in dsk.inputs)
        same = all(
            (work / "seq" / n).read_bytes() == (work / "dask" / n).read_bytes()
            for n in ("records.parquet", "rejects.parquet")
        )
        out["dask_same_records"] = same
        out["speedup"] = round(out["sequential_s"] / out["dask_2_workers_s"], 2)
    finally:
        session.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--_copies-phase", dest="copies_phase", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.copies_phase:
        print(json.dumps(copies_phase(args.copies, Path(args.copies_phase))))
        return

    work = Path(tempfile.mkdtemp(prefix="cardex-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(work / "prefect-home")
    cold_env = {**env, "CARDEX_SERVER_IDLE_SECONDS": "0"}  # every command starts and stops its own server
    resident_env = {**env, "CARDEX_SERVER_IDLE_SECONDS": "600"}  # the default: kept for the next command
    res: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "repeat": args.repeat}

    def run_json(out: Path) -> dict:
        return json.loads((out / "run.json").read_text())

    try:
        # A fresh PREFECT_HOME: the first run migrates the database (reported, not in the medians).
        res["embedded_first_run_fresh_home_s"] = round(
            wall(cardex("extract", str(TEXT), "--survey-id", "bench", "--out", str(work / "warm"), "--no-cache", "-q"),
                 cold_env), 2)
        lib = [wall([sys.executable, "-c", LIBRARY, str(TEXT), str(work / f"lib{i}")], env) for i in range(args.repeat)]
        cold, server_ready, flow_s = [], [], []
        for i in range(args.repeat):
            cold.append(wall(cardex(
                "extract", str(TEXT), "--survey-id", "bench", "--out", str(work / f"cold{i}"), "--no-cache", "-q"),
                cold_env))
            run = run_json(work / f"cold{i}")
            server_ready.append(run["prefect"]["embedded_server"]["server_ready_s"])
            flow_s.append(run["seconds"])
        res["library_s"] = median(lib)
        res["embedded_cold_s"] = median(cold)
        res["embedded_overhead_s"] = round(res["embedded_cold_s"] - res["library_s"], 2)
        # where the cold run's time goes: the embedded server's start-up (launched first, overlapping
        # the command's imports) and the flow body (run.json "seconds")
        res["embedded_server_ready_s"] = median(server_ready)
        res["embedded_flow_body_s"] = median(flow_s)
        # the next commands while the resident server is up (the default)
        wall(cardex("extract", str(TEXT), "--survey-id", "bench", "--out", str(work / "start"), "--no-cache", "-q"),
             resident_env)
        resident = [
            wall(cardex("extract", str(TEXT), "--survey-id", "bench", "--out", str(work / f"res{i}"), "--no-cache", "-q"),
                 resident_env)
            for i in range(args.repeat)
        ]
        assert run_json(work / "res0")["prefect"]["embedded_server"]["reused"]
        stop_resident(Path(env["PREFECT_HOME"]))
        res["embedded_resident_s"] = median(resident)
        res["embedded_resident_overhead_s"] = round(res["embedded_resident_s"] - res["library_s"], 2)

        # The PDF: a first run (cold: it starts the server), then a cached re-run, two ways:
        # with every command starting its own server, and with the server the first run left (default).
        for mode, menv in (("cold_server", cold_env), ("resident_server", resident_env)):
            firsts, cached, flow_first, flow_cached = [], [], [], []
            for i in range(args.repeat):
                ds = work / f"ds-{mode}-{i}"
                cmd = cardex("extract", str(PDF), "--survey-id", "bench", "--dataset", str(ds), "-q")
                firsts.append(wall(cmd, menv))
                flow_first.append(run_json(ds / "survey_id=bench")["seconds"])
                cached.append(wall(cmd, menv))
                run = run_json(ds / "survey_id=bench")
                assert run["inputs"][0]["cached"], run["inputs"][0]
                flow_cached.append(run["seconds"])
                stop_resident(Path(env["PREFECT_HOME"]))
            r = res.setdefault("pdf", {}).setdefault(mode, {})
            r["first_s"], r["cached_s"] = median(firsts), median(cached)
            r["cached_ratio"] = round(r["cached_s"] / r["first_s"], 3)
            r["flow_first_s"], r["flow_cached_s"] = median(flow_first), median(flow_cached)
            r["flow_cached_ratio"] = round(r["flow_cached_s"] / r["flow_first_s"], 3)

        if args.copies:
            phase = work / "copies"
            phase.mkdir()
            proc = subprocess.run(
                [sys.executable, __file__, "--copies", str(args.copies), "--_copies-phase", str(phase)],
                cwd=ROOT, env=cold_env, capture_output=True, text=True,
            )
            if proc.returncode:
                print(json.dumps(res, indent=2), file=sys.stderr)
                raise SystemExit(proc.stderr)
            res["copies"] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        stop_resident(Path(env["PREFECT_HOME"]))
        shutil.rmtree(work, ignore_errors=True)
    res["goals"] = {
        "embedded_overhead_le_5s": res["embedded_overhead_s"] <= 5,
        "cached_le_25pct_resident_server": res["pdf"]["resident_server"]["cached_ratio"] <= 0.25,
        "cached_le_25pct_cold_server": res["pdf"]["cold_server"]["cached_ratio"] <= 0.25,
        **({
            "dask_ge_1_6x": res["copies"]["speedup"] >= 1.6,
            "worker_peak_le_1gb": max(res["copies"]["dask_worker_peak_rss_mb"]) <= 1024,
        } if "copies" in res else {}),
    }
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
