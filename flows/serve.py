"""Deployments of the extraction flow: a yearly run on an input folder, and an inbox watcher.

* ``extract-reports/yearly`` (``prefect.yaml``): ``extract_reports`` on a cron
  schedule with parameters ``inputs``, ``survey_id`` and ``dataset``.
* ``watch-inbox`` (``cardex serve INBOX --survey-id ID --dataset ROOT``): a
  long-running ``flow.serve`` process whose flow runs every ``--interval``
  seconds, and re-extracts the inbox into ``ROOT/survey_id=ID`` only when its
  reports changed (new, modified or removed files). Unchanged reports come from
  the extraction cache, so only new reports are extracted.
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
    return watch_inbox.to_deployment(
        name=name,
        interval=dt.timedelta(seconds=interval),
        parameters={"inbox": os.path.abspath(inbox), "survey_id": survey_id, "dataset": os.path.abspath(dataset)},
        description="Extract new reports dropped into the inbox into the survey's partition.",
        tags=["cardex"],
    )


def yearly_deployment(inputs: str, survey_id: str, dataset: str, cron: str = YEARLY_CRON, name: str = "yearly") -> Any:
    return extract_reports.to_deployment(
        name=name,
        cron=cron,
        parameters={"inputs": [inputs], "survey_id": survey_id, "dataset": dataset},
        description="Yearly extraction of the survey's input folder into the dataset.",
        tags=["cardex"],
    )
