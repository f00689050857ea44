"""The README's column tables are generated from the record dataclasses and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "readme_columns.py"


def _script():
    spec = importlib.util.spec_from_file_location("readme_columns", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_column_tables_are_up_to_date() -> None:
    script = _script()
    text = script.README.read_text(encoding="utf-8")
    assert script.updated(text) == text, "README.md is out of date: run .venv/bin/python scripts/readme_columns.py"


def test_every_column_is_in_the_readme() -> None:
    from extractors.records import RECORD_SCHEMA, REJECT_SCHEMA

    text = _script().README.read_text(encoding="utf-8")
    for name in {*RECORD_SCHEMA.names, *REJECT_SCHEMA.names}:
        assert f"| `{name}` |" in text
