"""Rot test for the rule data in nlp/rules.

Every rule file in ``nlp/rules`` must parse (TOML or TSV, nothing else), every
regex in it must compile (keys ``regex``, ``pattern``, ``*_regex``, strings or
lists), and it must be read by some code under ``nlp/``, ``extractors/`` or
``flows/``.

Files that describe themselves with ``[meta]`` (``description`` and
``checks``: example key -> ``module:function``) get the full treatment:
required keys, no unknown keys, every ``[[rule]]``'s ``match``/``no_match``
run against its regex, every ``[[example]]`` run through the functions named
in ``meta.checks``. The party/country/prefecture files use this schema; a
file that adopts it is run here automatically. Files of other schemas
(eras.toml, contact_labels.toml, field_headings.toml, lookalikes.tsv) have
their examples run by their owners' tests.

TSV files: the first non-comment line is the header, no row has more cells
than the header, the first column is never empty; countries.tsv and
prefectures.tsv are checked row by row, each row being its own example.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pycountry
import pytest

from nlp.countries import countries_in
from nlp.prefectures import prefectures_of
from nlp.tokenizer import RULES_DIR, load_tsv

ROOT = Path(__file__).resolve().parents[1]
TOML_FILES = sorted(p.name for p in RULES_DIR.glob("*.toml"))
TSV_FILES = sorted(p.name for p in RULES_DIR.glob("*.tsv"))
RULE_FILES = TOML_FILES + TSV_FILES
REGEX_KEY = re.compile(r"(?:regex|pattern|regexes|patterns|.+_regex)")

RULE_KEYS = {"id", "description", "regex", "match", "no_match", "values"}
EXAMPLE_META_KEYS = {"input", "note", "source"}
TSV_SCHEMAS = {
    "countries.tsv": ("name", "alpha2", "kind", "sovereign", "note"),
    "prefectures.tsv": ("name", "code", "romaji"),
}
TSV_REQUIRED = {
    "countries.tsv": ("name", "alpha2", "kind"),
    "prefectures.tsv": ("name", "code", "romaji"),
}
COUNTRY_KINDS = {"formal", "short", "alias", "territory"}


def _load(name: str) -> dict:
    with open(RULES_DIR / name, "rb") as fh:
        return tomllib.load(fh)


def _self_describing(name: str) -> bool:
    return "meta" in _load(name)


CHECKED_TOML = [n for n in TOML_FILES if _self_describing(n)]


def _resolve(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def test_rule_dir_holds_only_known_kinds_of_file():
    files = [p for p in RULES_DIR.iterdir() if not p.name.startswith((".", "__"))]
    assert files, "nlp/rules is empty"
    assert {p.suffix for p in files} <= {".toml", ".tsv"}, [p.name for p in files]
    mine = {"countries.tsv", "prefectures.tsv", "countries.toml", "prefectures.toml",
            "foreign_parties.toml", "jp_parties.toml"}
    assert mine <= {p.name for p in files}
    assert mine & set(TOML_FILES) <= set(CHECKED_TOML)


def _regexes(node, key=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _regexes(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _regexes(v, key)
    elif isinstance(node, str) and REGEX_KEY.fullmatch(key):
        yield key, node


@pytest.mark.parametrize("name", TOML_FILES)
def test_every_regex_compiles(name):
    for key, pattern in _regexes(_load(name)):
        try:
            re.compile(pattern)
        except re.error as exc:  # pragma: no cover - the failure path
            pytest.fail(f"{name}: {key} = {pattern!r}: {exc}")


@pytest.mark.parametrize("name", RULE_FILES)
def test_rule_file_is_read_by_code(name):
    sources = [p for d in ("nlp", "extractors", "flows") for p in (ROOT / d).rglob("*.py")]
    assert any(name in p.read_text(encoding="utf-8") for p in sources), f"nothing reads nlp/rules/{name}"


@pytest.mark.parametrize("name", CHECKED_TOML)
def test_toml_rule_file_shape(name):
    data = _load(name)
    assert set(data) <= {"meta", "rule", "example"}, set(data)
    meta = data["meta"]
    assert isinstance(meta.get("description"), str) and meta["description"].strip()
    checks = meta.get("checks")
    assert isinstance(checks, dict) and checks, "meta.checks must map example keys to functions"
    for key, path in checks.items():
        assert key not in EXAMPLE_META_KEYS
        assert callable(_resolve(path)), path
    ids = [r.get("id") for r in data.get("rule", [])]
    assert len(ids) == len(set(ids)), "duplicate rule ids"
    for r in data.get("rule", []):
        assert set(r) <= RULE_KEYS, (r.get("id"), set(r) - RULE_KEYS)
        assert isinstance(r.get("id"), str) and r["id"], r
        assert isinstance(r.get("description"), str) and r["description"].strip(), r["id"]
        if "regex" in r:
            re.compile(r["regex"])
        else:
            assert "match" not in r and "no_match" not in r, f"{r['id']}: examples without a regex"
        if "values" in r:
            assert r["values"] and all(isinstance(v, str) and v for v in r["values"]), r["id"]
    examples = data.get("example", [])
    assert examples, f"{name} has no examples"
    for ex in examples:
        assert "input" in ex, ex
        assert set(ex) - EXAMPLE_META_KEYS, f"example checks nothing: {ex}"
        assert set(ex) - EXAMPLE_META_KEYS <= set(checks), set(ex) - EXAMPLE_META_KEYS - set(checks)


def _regex_examples():
    for name in CHECKED_TOML:
        for r in _load(name).get("rule", []):
            for text in r.get("match", []):
                yield pytest.param(name, r["regex"], text, True, id=f"{name}:{r['id']}:match:{text}")
            for text in r.get("no_match", []):
                yield pytest.param(name, r["regex"], text, False, id=f"{name}:{r['id']}:no_match:{text}")


@pytest.mark.parametrize("name,regex,text,should_match", list(_regex_examples()))
def test_rule_regex_example(name, regex, text, should_match):
    assert bool(re.search(regex, text)) is should_match


def _examples():
    for name in CHECKED_TOML:
        data = _load(name)
        checks = data["meta"]["checks"]
        for k, ex in enumerate(data.get("example", [])):
            for key in sorted(set(ex) & set(checks)):
                yield pytest.param(checks[key], ex["input"], ex[key], id=f"{name}#{k}:{key}:{ex['input']!s:.40}")


@pytest.mark.parametrize("function,given,expected", list(_examples()))
def test_rule_example(function, given, expected):
    assert _resolve(function)(given) == expected


@pytest.mark.parametrize("name", TSV_FILES)
def test_tsv_rule_file_is_well_formed(name):
    lines = [
        ln for ln in (RULES_DIR / name).read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    header = lines[0].split("\t")
    assert all(header) and len(header) == len(set(header)), header
    assert len(lines) > 1, f"{name} has no rows"
    for ln in lines[1:]:
        cells = ln.split("\t")
        assert len(cells) <= len(header) and cells[0].strip(), ln


@pytest.mark.parametrize("name", sorted(TSV_SCHEMAS))
def test_tsv_rule_file_shape(name):
    header = next(
        ln for ln in (RULES_DIR / name).read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    )
    assert tuple(header.split("\t")) == TSV_SCHEMAS[name]
    rows = load_tsv(name)
    assert rows
    for row in rows:
        for col in TSV_REQUIRED[name]:
            assert row[col], (name, col, row)
    names = [row["name"] for row in rows]
    assert len(names) == len(set(names)), "duplicate names"


@pytest.mark.parametrize("row", load_tsv("countries.tsv"), ids=lambda r: r["name"])
def test_countries_tsv_row(row):
    assert pycountry.countries.get(alpha_2=row["alpha2"]) is not None, row
    assert row["kind"] in COUNTRY_KINDS, row
    if row["kind"] == "territory":
        assert pycountry.countries.get(alpha_2=row["sovereign"]) is not None, row
    else:
        assert not row["sovereign"], row
    # every row is an example: the name alone is one mention of its code
    assert countries_in(row["name"]) == [(0, len(row["name"]), row["alpha2"])]


def test_prefectures_tsv_is_the_47_prefectures():
    rows = load_tsv("prefectures.tsv")
    assert [r["code"] for r in rows] == [f"{i:02d}" for i in range(1, 48)]
    assert all(re.fullmatch(r"[A-Za-z]+", r["romaji"]) for r in rows)
    assert all(re.fullmatch(r".+[都道府県]", r["name"]) for r in rows)


@pytest.mark.parametrize("row", load_tsv("prefectures.tsv"), ids=lambda r: r["name"])
def test_prefectures_tsv_row(row):
    assert prefectures_of([row["name"]]) == [row["name"]]
    assert prefectures_of([row["name"] + "テスト市"]) == [row["name"]]
