"""`cardex extract` as an operator runs it: exit codes, one line per bad file, outputs written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows import cli

REPO = Path(__file__).resolve().parent.parent
CARDEX = str(Path(sys.executable).with_name("cardex"))  # the installed entry point


def cardex(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [CARDEX] if os.path.exists(CARDEX) else [sys.executable, "-m", "flows.cli"]
    return subprocess.run(
        [*command, *args], cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=300
    )


def clean_env(**extra: str) -> dict[str, str]:
    """The operator's environment: no Prefect settings but the ones given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(extra)
    return env


# ---------------------------------------------------------------- usage


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["extract"],
        ["extract", "x.txt"],  # --survey-id is required
        ["extract", "x.txt", "--survey-id", "../etc"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage: cardex" in capsys.readouterr().err


def test_out_that_is_a_file_is_a_usage_error(tmp_path, mini_report, capsys) -> None:
    (tmp_path / "f").write_text("x")
    assert cli.main(["extract", str(mini_report), "--survey-id", "t", "--out", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err.startswith("cardex: error: --out")


def test_version_and_usage_error_through_the_entry_point() -> None:
    version = cardex("--version")
    assert version.returncode == 0 and version.stdout.startswith("cardex ")
    usage = cardex("extract", "corpus")
    assert usage.returncode == 2
    assert "--survey-id" in usage.stderr and "Traceback" not in usage.stderr


# ---------------------------------------------------------------- runs


@pytest.mark.prefect
def test_bad_inputs_exit_1_with_one_line_each_and_good_ones_are_written(
    prefect_server, tmp_path, mini_report, bad_inputs
) -> None:
    # The operator's default: no PREFECT_API_URL, so cardex runs Prefect embedded.
    # A copy of the session server's migrated database spares the test the
    # first-run migrations; no --out, so outputs/ID in the working directory.
    home = tmp_path / "home"
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=prefect_server.copy_database(home / "prefect.db"),
    )
    good, empty, noise = str(mini_report), str(bad_inputs["empty"]), str(bad_inputs["noise"])
    result = cardex("extract", good, empty, noise, "--survey-id", "test-2012", cwd=tmp_path, env=env)

    assert result.returncode == 1, result.stderr
    # one line per bad input, printed as each finishes (inputs run side by side: in any order)
    lines = sorted(result.stderr.splitlines(), key=lambda line: noise in line)
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"cardex: error: {empty}: ")
    assert lines[1].startswith(f"cardex: error: {noise}: ")
    assert "Traceback" not in result.stderr

    stdout = result.stdout.splitlines()
    assert len(stdout) == 2, result.stdout
    assert stdout[0].startswith(f"ok  {good}: 2 cards, ")
    assert stdout[1].startswith("cardex: 3 inputs, 2 failed; ")

    out = tmp_path / "outputs" / "test-2012"
    records = pq.read_table(out / "records.parquet")
    rejects = pq.read_table(out / "rejects.parquet")
    assert records.num_rows + rejects.num_rows == 2
    assert set(records.column("source_path").to_pylist()) <= {good}
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [i["status"] for i in run["inputs"]] == ["ok", "failed", "failed"]
    assert run["prefect"]["api"] == "embedded" and run["prefect"]["prefect_home"] == str(home)
    assert run["prefect"]["flow_run_id"]


def test_with_an_api_url_in_a_profile_cardex_uses_it_and_keeps_no_server() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows import prefect_env

    url = "http://prefect.example:4200/api"
    with temporary_settings({PREFECT_API_URL: url}):  # as from a profile or prefect.toml
        session = prefect_env.PrefectSession()  # may launch a server, then drops it
        assert session.mode == "server" and session.server is None
        assert session.run(prefect_env.configured_api_url) == url


def test_with_prefect_api_url_set_no_server_is_launched(monkeypatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows import prefect_env

    def no_launch(self):
        raise AssertionError("launched a server")

    monkeypatch.setattr(prefect_env.EmbeddedServer, "start", no_launch)
    url = "http://prefect.example:4200/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    with temporary_settings({PREFECT_API_URL: url}):
        assert prefect_env.PrefectSession().mode == "server"


def test_prefect_defaults_never_override_the_operator(tmp_path) -> None:
    from flows import prefect_env

    env = {"DO_NOT_TRACK": "0", "PREFECT_HOME": str(tmp_path / "mine"), "XDG_STATE_HOME": str(tmp_path)}
    applied = prefect_env.apply_defaults(env, quiet_console=True)
    assert env["DO_NOT_TRACK"] == "0" and env["PREFECT_HOME"] == str(tmp_path / "mine")
    assert "DO_NOT_TRACK" not in applied and "PREFECT_HOME" not in applied
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] == "CRITICAL"

    fresh = {"XDG_STATE_HOME": str(tmp_path / "state")}
    prefect_env.apply_defaults(fresh)
    assert fresh["PREFECT_HOME"] == str(tmp_path / "state" / "cardex" / "prefect")
    assert (tmp_path / "state" / "cardex" / "prefect").is_dir()
    assert "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL" not in fresh
