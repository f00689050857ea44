"""Deployments of the extraction flow: a yearly run on an input folder, and an inbox watcher.

* ``extract-reports/yearly`` (``prefect.yaml``): ``extract_reports`` on a cron
  schedule with parameters ``inputs``, ``survey_id`` and ``dataset``.
* ``watch-inbox`` (``cardex serve INBOX --survey-id ID --dataset ROOT``): a
  long-running ``flow.serve`` process whose flow runs every ``--interval``
  seconds, and re-extracts the inbox into ``ROOT/survey_id=ID`` only when its
  reports changed (new, modified or removed files). Unchanged reports come from
  the extraction cache, so only new reports are extracted. One run at a time:
  a run due while the previous one still works is cancelled (deployment
  concurrency limit 1, ``CANCEL_NEW``), so slow runs never pile up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from flows import prefect_env

prefect_env.apply_defaults()

from prefect import flow  # noqa: E402

from flows.extract_flow import expand_inputs, extract_reports, file_sha256, partition_dir  # noqa: E402

YEARLY_CRON = "0 6 1 4 *"  # 06:00 on 1 April: the survey is published once a year

# Prefect's runner looks for due runs every 10 s (PREFECT_RUNNER_POLL_FREQUENCY):
# a shorter --interval makes it look as often as runs are due.
RUNNER_POLL_SECONDS = 10.0


def inbox_fingerprint(inbox: str) -> list[list[str | None]]:
    return [[path, file_sha256(path)] for path, problem in expand_inputs([inbox]) if problem is None]


def published_fingerprint(dataset: str, survey_id: str) -> list[list[str | None]] | None:
    try:
        with open(os.path.join(partition_dir(dataset, survey_id), "run.json"), encoding="utf-8") as fh:
            run = json.load(fh)
    except (OSError, ValueError):
        return None
    return [[i["path"], i["sha256"]] for i in run.get("inputs", [])]


@flow(name="watch-inbox", persist_result=False)
def watch_inbox(inbox: str, survey_id: str, dataset: str, cache_store: str | None = None) -> Any:
    """Extract the inbox into its survey partition if its reports changed since the last publication."""
    current = inbox_fingerprint(inbox)
    if not current:
        return "inbox is empty"
    if current == published_fingerprint(dataset, survey_id):
        return "no new reports"
    return extract_reports(
        inputs=[inbox], survey_id=survey_id, dataset=dataset, cache_store=cache_store, return_state=True
    )


def inbox_deployment(inbox: str, survey_id: str, dataset: str, interval: float = 60.0, name: str = "cardex-inbox") -> Any:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return watch_inbox.to_deployment(
        name=name,
        interval=dt.timedelta(seconds=interval),
        parameters={"inbox": os.path.abspath(inbox), "survey_id": survey_id, "dataset": os.path.abspath(dataset)},
        description="Extract new reports dropped into the inbox into the survey's partition.",
        tags=["cardex"],
        # Each run is a new process (imports, then the extraction): with no limit, runs due
        # while one still works all start at once, re-extract the same inbox side by side
        # and swamp a SQLite-backed server ("database is locked"). One at a time; the
        # next due run looks at the inbox again.
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
    )


def release_orphaned_runs(name: str = "cardex-inbox") -> list[str]:
    """Mark Crashed the ``watch-inbox/NAME`` runs left Pending or Running by a stopped ``cardex serve``.

    Stopping the process (Ctrl-C, SIGTERM, a kill) while a run is being
    submitted or works leaves that run Pending ("Submitting") or Running on the
    server, holding the deployment's one concurrency slot until its lease
    expires (300 s): a ``cardex serve`` started again meanwhile had every run
    cancelled and extracted nothing for five minutes. A Crashed state releases
    the slot. Only one ``cardex serve`` may serve a deployment name; returns
    the names of the runs marked.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(f"{watch_inbox.name}/{name}")
        except ObjectNotFound:
            return []
        in_progress = FlowRunFilterState(type=FlowRunFilterStateType(
            any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
        ))
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(state=in_progress),
        )
        if runs:  # and their extract-reports subflow runs
            runs += client.read_flow_runs(flow_run_filter=FlowRunFilter(
                state=in_progress, parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[r.id for r in runs])
            ))
        for run in runs:
            client.set_flow_run_state(run.id, Crashed(message="cardex serve stopped while this run was in progress"),
                                      force=True)
    return [run.name for run in runs]


def serve_inbox(inbox: str, survey_id: str, dataset: str, interval: float = 60.0, name: str = "cardex-inbox") -> None:
    """Serve :func:`inbox_deployment` until interrupted (Ctrl-C / SIGINT, SIGTERM).

    Runs a previous process left in progress are released first (a kill -9
    leaves them), and the runs this one leaves when it stops are released on
    the way out (:func:`release_orphaned_runs`).
    """
    from prefect import serve

    release_orphaned_runs(name)
    serve(
        inbox_deployment(inbox, survey_id, dataset, interval=interval, name=name),
        query_seconds=min(interval, RUNNER_POLL_SECONDS),
    )
    release_orphaned_runs(name)  # serve returns once its runner and flow-run processes stopped


def yearly_deployment(inputs: str, survey_id: str, dataset: str, cron: str = YEARLY_CRON, name: str = "yearly") -> Any:
    return extract_reports.to_deployment(
        name=name,
        cron=cron,
        parameters={"inputs": [inputs], "survey_id": survey_id, "dataset": dataset},
        description="Yearly extraction of the survey's input folder into the dataset.",
        tags=["cardex"],
    )
