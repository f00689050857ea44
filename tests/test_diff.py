"""`cardex diff`: cards paired by agreement identity, exactly the real changes reported.

The main test runs the 2012 text, then a copy of it where category ⑧ is
renumbered and reordered (its 25 cards in reverse order, numbered 1..25
again), the cards of ③ after a deleted one are renumbered, three phone
numbers are edited, one card is deleted and one card is added (whose text
carries a ``<script>`` payload, for tests/test_report_browser.py). The diff
must report the three phones, the deleted and the added card, and nothing
else. Runs are built with the library (extract_document + publish_run), not
the CLI, and shared with the browser test through :func:`modified_runs`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from extractors.pipeline import extract_document
from extractors.write import publish_run
from qa.diff import (
    BOOKKEEPING_FIELDS,
    CARD,
    DIFF_FILE,
    Run,
    char_diff,
    diff_runs,
    load_run,
    pair_cards,
    write_diff_parquet,
)

ROOT = Path(__file__).resolve().parents[1]
SURVEY = ROOT / "corpus" / "002_e59d51f378d5a747.txt"
SURVEY_ID = "clair-2012"

CARD_HEADING = re.compile(r"^(\d+)\.\s")
FIRST_FIELD = re.compile(r"^\s*[(（][1１][)）]")
CIRCLED = "①②③④⑤⑥⑦⑧⑨"

#: (old card id, old phone, new phone): one edit in ①, one in ⑦, one in the renumbered ⑧.
PHONE_EDITS = (("1-5", "055-223-7321", "055-223-7999"),
               ("7-1", "011-211-2032", "011-211-2099"),
               ("8-7", "054-221-2309", "054-221-2300"))
DELETED = "3-4"
ADDED = "9-17"
PAYLOAD = "<script>window.__pwned=1;alert(1)</script>"
ADDED_TITLE = f"テスト市{PAYLOAD}友好協定"

NEW_CARD = f"""
17. {ADDED_TITLE}

(1) 自治体名

日本の自治体	北海道テスト町
海外の自治体	大韓民国テスト郡

(2) 提携年月日

平成24（2012）年4月1日

(3) 提携に至った経緯

<p>試験用の架空の協定。{PAYLOAD}<img src=x onerror="window.__pwned=2">を含む。</p>
--

(4) 提携後の取組内容

<p>・職員の相互派遣</p>
--

(5) 取組による成果・課題等

<p>特になし。</p>
--

(6) 取組を紹介しているホームページのURL

http://www.town.test.example.jp/koryu?a=1&b=2

(7) 問い合わせ先（担当課）

担当部署名	総務課		
電話番号	011-123-4567	電子メール	soumu@town.test.example.jp
"""


# ---------------------------------------------------------------- editing the text


def _section(lines: list[str], code: int) -> tuple[int, int]:
    """[start, end) of the card section of category ``code`` (its last heading: the TOC comes first)."""
    mark, nxt = CIRCLED[code - 1], CIRCLED[code] if code < 9 else None
    start = max(i for i, ln in enumerate(lines) if ln.startswith(mark))
    end = next((i for i in range(start + 1, len(lines)) if nxt and lines[i].startswith(nxt)), len(lines))
    return start, end


def _card_starts(lines: list[str], start: int, end: int) -> list[int]:
    out = []
    for i in range(start, end):
        if CARD_HEADING.match(lines[i]):
            j = i + 1
            while j < end and not lines[j].strip():
                j += 1
            if j < end and FIRST_FIELD.match(lines[j]):
                out.append(i)
    return out


def _blocks(lines: list[str], code: int) -> tuple[int, int, list[list[str]]]:
    start, end = _section(lines, code)
    starts = _card_starts(lines, start, end)
    bounds = [*starts, end]
    return starts[0], end, [lines[a:b] for a, b in zip(bounds, bounds[1:])]


def _renumber(block: list[str], n: int) -> list[str]:
    return [CARD_HEADING.sub(f"{n}. ", block[0], count=1), *block[1:]]


def modified_text(text: str) -> str:
    """The 2012 text with the edits described in the module doc."""
    lines = text.splitlines()
    for card_id, old, new in PHONE_EDITS:
        code, no = map(int, card_id.split("-"))
        first, _, blocks = _blocks(lines, code)
        offset = first + sum(len(b) for b in blocks[: no - 1])
        block = blocks[no - 1]
        hits = [k for k, ln in enumerate(block) if ln.startswith("電話番号") and old in ln]
        assert len(hits) == 1, (card_id, old)
        lines[offset + hits[0]] = lines[offset + hits[0]].replace(old, new)
    # delete ③4 and renumber the cards after it
    code, no = map(int, DELETED.split("-"))
    first, end, blocks = _blocks(lines, code)
    kept = blocks[: no - 1] + [_renumber(b, k) for k, b in enumerate(blocks[no:], start=no)]
    lines[first:end] = [ln for b in kept for ln in b]
    # ⑧ in reverse order, numbered 1..25 again
    first, end, blocks = _blocks(lines, 8)
    assert len(blocks) == 25
    lines[first:end] = [ln for k, b in enumerate(reversed(blocks), start=1) for ln in _renumber(b, k)]
    return "\n".join(lines) + "\n" + NEW_CARD


# ---------------------------------------------------------------- runs (shared with the browser test)


_RUNS: dict[Path, tuple[Path, Path]] = {}


def build_run(source: Path, out: Path) -> Path:
    result = extract_document(source, SURVEY_ID)
    run = {"survey_id": SURVEY_ID,
           "inputs": [{"path": result.source_path, "sha256": result.source_sha256, "kind": result.kind,
                       "status": "ok", "counts": {"records": len(result.records), "rejects": len(result.rejects)}}]}
    publish_run(out, result.records, result.rejects, run)
    return out


def modified_runs(base: Path) -> tuple[Path, Path]:
    """(old run dir of the 2012 text, new run dir of its modified copy), built once per base folder."""
    if base not in _RUNS:
        base.mkdir(parents=True, exist_ok=True)
        copy = base / "002_modified.txt"
        copy.write_text(modified_text(SURVEY.read_text(encoding="utf-8")), encoding="utf-8")
        _RUNS[base] = (build_run(SURVEY, base / "run-old"), build_run(copy, base / "run-new"))
    return _RUNS[base]


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return modified_runs(tmp_path_factory.getbasetemp() / "diff-runs")


@pytest.fixture(scope="session")
def diff(runs):
    old, new = runs
    return diff_runs(load_run(old), load_run(new))


# ---------------------------------------------------------------- the modified text diff


def _by_id(run: Run) -> dict[str, dict]:
    return {r["card_id"]: r for r in run.records}


def test_modified_copy_extracts_as_intended(diff):
    assert len(diff.old.records) == 175 and not diff.old.rejects
    assert len(diff.new.records) == 175 and not diff.new.rejects  # one deleted, one added
    new = _by_id(diff.new)
    assert PAYLOAD in new[ADDED]["title"]
    assert [new[f"8-{k}"]["title"] for k in range(1, 26)] == [
        _by_id(diff.old)[f"8-{k}"]["title"] for k in range(25, 0, -1)
    ]


def test_diff_reports_exactly_the_edits(diff):
    old_ids = _by_id(diff.old)
    got = sorted((c.field, c.kind, c.pair.old and c.pair.old["card_id"], c.pair.new and c.pair.new["card_id"],
                  json.dumps(c.old_value, default=str), json.dumps(c.new_value, default=str))
                 for c in diff.changes if c.field != CARD)
    renumbered = {"8-7": "8-19"}
    want = sorted(("phones", "changed", cid, renumbered.get(cid, cid),
                   json.dumps([{"number": old, "extension": None}]), json.dumps([{"number": new, "extension": None}]))
                  for cid, old, new in PHONE_EDITS)
    assert got == want
    cards = sorted((c.kind, c.pair.old and c.pair.old["card_id"], c.pair.new and c.pair.new["card_id"])
                   for c in diff.changes if c.field == CARD)
    assert cards == [("added", None, ADDED), ("removed", DELETED, None)]
    assert len(diff.changes) == 5
    t = diff.totals
    assert (t["cards_old"], t["cards_new"], t["paired"], t["added"], t["removed"]) == (175, 175, 174, 1, 1)
    assert (t["changed_cards"], t["changed_fields"], t["fuzzy_pairs"]) == (3, 3, 0)
    # the removed card is the one deleted
    assert diff.removed[0].old["agreement_key"] == old_ids[DELETED]["agreement_key"]


def test_renumbering_and_reordering_are_not_changes(diff):
    ids = {(p.old["card_id"], p.new["card_id"]) for p in diff.paired}
    for k in range(1, 26):  # ⑧ reversed
        assert (f"8-{k}", f"8-{26 - k}") in ids
    for k in range(5, 9):  # ③ after the deleted card
        assert (f"3-{k}", f"3-{k - 1}") in ids
    assert sum(1 for o, n in ids if o != n) == 24 + 4  # ⑧13 keeps its number


def test_diff_parquet(diff, tmp_path):
    path = write_diff_parquet(diff, tmp_path)
    assert path == tmp_path / DIFF_FILE
    rows = pq.read_table(path).to_pylist()
    assert len(rows) == 5
    phones = [r for r in rows if r["field"] == "phones"]
    assert {(r["old_card_id"], r["new_card_id"]) for r in phones} == {("1-5", "1-5"), ("7-1", "7-1"), ("8-7", "8-19")}
    row = next(r for r in phones if r["old_card_id"] == "8-7")
    assert json.loads(row["old_value"]) == [{"number": "054-221-2309", "extension": None}]
    assert json.loads(row["new_value"]) == [{"number": "054-221-2300", "extension": None}]
    assert row["kind"] == "changed" and row["match"] == "agreement_key" and not row["whitespace_only"]
    assert row["identity"] == row["old_agreement_key"] == row["new_agreement_key"]
    added = next(r for r in rows if r["kind"] == "added")
    assert added["field"] == CARD and added["old_card_id"] is None and added["old_value"] is None
    assert json.loads(added["new_value"])["title"] == ADDED_TITLE


def test_same_run_is_empty(runs):
    old = load_run(runs[0])
    d = diff_runs(old, old)
    assert d.changes == [] and d.totals["paired"] == 175


# ---------------------------------------------------------------- pairing on edited key fields (records only)


def _edited(run: Run, card_id: str, **changes) -> Run:
    records = [dict(r, **changes) if r["card_id"] == card_id else dict(r) for r in run.records]
    return dataclasses.replace(run, records=records)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("title", "青森市・大連市経済文化交流委員会の設置に関する協定（改）", "fuzzy:parties"),
        ("jp_entities", ["青森県青森市", "青森県"], "fuzzy:title"),
        ("agreement_date_raw", "平成17（2005）年1月1日", "fuzzy:title"),
    ],
)
def test_edited_key_field_is_a_change_not_a_new_card(runs, field, value, match):
    old = load_run(runs[0])
    # an edit of a key field gives the card another agreement key
    new = _edited(old, "1-5", **{field: value, "agreement_key": "0123456789abcdef"})
    d = diff_runs(old, new)
    assert [(c.field, c.kind, c.pair.match) for c in d.changes] == [(field, "changed", match)]
    assert d.totals["added"] == d.totals["removed"] == 0


def test_unrelated_cards_are_not_paired_fuzzily(runs):
    old = load_run(runs[0])
    by_id = _by_id(old)
    other = dict(by_id["9-16"], card_id="9-17", card_no=17, agreement_key="fedcba9876543210",
                 title="まったく別の協定", background="別の経緯", activities="別の取組", outcomes="別の成果")
    new = dataclasses.replace(old, records=[r for r in old.records if r["card_id"] != "9-16"] + [other])
    d = diff_runs(old, new)
    assert sorted(c.kind for c in d.changes) == ["added", "removed"]


def test_relisted_cards_pair_within_their_key(runs):
    old = load_run(runs[0])
    key = _by_id(old)["1-1"]["agreement_key"]
    assert sorted(r["card_id"] for r in old.records if r["agreement_key"] == key) == ["1-1", "2-11"]
    new = _edited(old, "2-11", phones=[{"number": "017-000-0000", "extension": None}])
    pairs = {(p.old["card_id"], p.new["card_id"]) for p in pair_cards(old.records, new.records) if p.old and p.new}
    assert {("1-1", "1-1"), ("2-11", "2-11")} <= pairs
    d = diff_runs(old, new)
    assert [(c.pair.new["card_id"], c.field) for c in d.changes] == [("2-11", "phones")]


# ---------------------------------------------------------------- white space, lists, highlighting


def test_whitespace_only_changes(runs):
    old = load_run(runs[0])
    text = _by_id(old)["1-1"]["activities"]
    new = _edited(old, "1-1", activities=text.replace("・小・中学", "\n・小・中学", 1))
    d = diff_runs(old, new)
    assert [(c.field, c.whitespace_only) for c in d.changes] == [("activities", True)]
    quiet = diff_runs(old, new, ignore_whitespace=True)
    assert quiet.changes == [] and quiet.whitespace_ignored == 1


def test_list_kinds(runs):
    old = load_run(runs[0])
    new = _edited(old, "1-1", urls=[], emails=["a@example.jp", "shiminkyoudou@city.aomori.aomori.jp"])
    new = _edited(new, "1-16", phones=[{"number": "03-0000-0000", "extension": "12"}])  # had no phone
    kinds = {(c.pair.new["card_id"], c.field): c.kind for c in diff_runs(old, new).changes}
    assert kinds == {("1-1", "urls"): "removed", ("1-1", "emails"): "changed", ("1-16", "phones"): "added"}


def test_char_diff_marks_only_the_changed_characters():
    left, right = char_diff("054-221-2309", "054-221-2300")
    assert [(s.op, s.text) for s in left] == [("equal", "054-221-230"), ("del", "9")]
    assert [(s.op, s.text) for s in right] == [("equal", "054-221-230"), ("ins", "0")]
    long = "あ" * 400
    left, right = char_diff(long + "い" + long, long + "う" + long)
    assert [s.op for s in left] == ["gap", "equal", "del", "equal", "gap"]
    assert sum(len(s.text) for s in right if s.op == "equal") < 200


def test_bookkeeping_fields_are_documented_and_exist():
    from extractors.records import RECORD_SCHEMA

    missing = set(BOOKKEEPING_FIELDS) - set(RECORD_SCHEMA.names)
    assert missing <= {"provenance"}  # provenance: added to the schema by a parallel change


# ---------------------------------------------------------------- command line


def _cardex(argv: list[str]) -> int:
    from qa.cli import add_qa_commands

    parser = argparse.ArgumentParser(prog="cardex")
    add_qa_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_diff_and_fail_on_change(runs, tmp_path, capsys):
    old, new = runs
    out = tmp_path / "report"
    assert _cardex(["diff", str(old), str(new), "--out", str(out), "--fail-on-change", "emails,urls"]) == 0
    assert (out / "report.html").is_file() and (out / DIFF_FILE).is_file()
    line = capsys.readouterr().out
    assert "174 paired, 1 added, 1 removed, 3 changed cards, 3 changed fields (phones 3)" in line
    assert _cardex(["diff", str(old), str(new), "--out", str(out), "--fail-on-change", "emails,phones"]) == 1
    assert "FAIL: gated fields changed: phones 3" in capsys.readouterr().err
    assert _cardex(["diff", str(old), str(new), "--out", str(out), "--fail-on-change", "*"]) == 1


def test_cli_usage_errors(runs, tmp_path, capsys):
    old, _ = runs
    with pytest.raises(SystemExit) as exc:
        _cardex(["diff", str(old), str(old), "--out", str(tmp_path), "--fail-on-change", "phone"])
    assert exc.value.code == 2 and "unknown field(s) phone" in capsys.readouterr().err
    assert _cardex(["diff", str(old), str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert _cardex(["diff", str(old), str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "no records.parquet" in capsys.readouterr().err


def test_cli_review(runs, tmp_path, capsys):
    _, new = runs
    assert _cardex(["review", str(new), "--out", str(tmp_path)]) == 0
    html = (tmp_path / "review.html").read_text(encoding="utf-8")
    assert "window.__pwned" in html and PAYLOAD not in html  # escaped
    assert "&lt;script&gt;" in html
    source_pages = list((tmp_path / "sources").glob("*.html"))
    assert len(source_pages) == 1 and 'id="L5000"' in source_pages[0].read_text(encoding="utf-8")
    assert "175 records, 0 rejects" in capsys.readouterr().out


# ---------------------------------------------------------------- review page, sources, degraded runs


def test_review_rejects_reconciliation_and_escaping(tmp_path, capsys):
    from extractors.records import RejectRecord

    result = extract_document(ROOT / "tests" / "fixtures" / "cli_mini.txt", SURVEY_ID)
    reject = RejectRecord(
        survey_id=SURVEY_ID, source_path=result.source_path, source_sha256=result.source_sha256,
        card_id="9-99", category_code=9, card_no=99, page_start=None, page_end=None, line_start=3,
        reasons=["missing_parties"], warnings=["missing_email"],
        raw_text=f"99. 壊れたカード{PAYLOAD}\n(1) 自治体名", extractor_version="test",
    )
    run_dir = tmp_path / "run"
    publish_run(run_dir, result.records, [reject], {"survey_id": SURVEY_ID, "inputs": []})
    recon = {"ok": False, "cards": {"expected": 175, "found": len(result.records)},
             "categories": [{"code": 1, "expected": 26, "found": 1, "note": PAYLOAD}], "toc_mismatches": []}
    (run_dir / "reconciliation.json").write_text(json.dumps(recon, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "review"
    assert _cardex(["review", str(run_dir), "--out", str(out)]) == 0
    html = (out / "review.html").read_text(encoding="utf-8")
    assert PAYLOAD not in html and html.count("&lt;script&gt;window.__pwned=1") == 2  # reject text, reconciliation
    assert html.index('id="rejects"') < html.index('id="warnings"') < html.index('id="records"')
    assert "missing_parties" in html and 'class="val-false">false' in html and "<th>expected</th>" in html
    assert "line 3" in html and 'href="sources/' in html
    assert "<script" not in html.replace("&lt;script", "")


def test_review_of_run_without_extras(runs, tmp_path):
    """A run from before provenance and reconciliation: the page says so instead of failing."""
    run = load_run(runs[0])
    bare = dataclasses.replace(
        run, columns=[c for c in run.columns if c != "provenance"],
        records=[{k: v for k, v in r.items() if k != "provenance"} for r in run.records], reconciliation=None,
    )
    from qa.report import render_review

    html = render_review(bare, tmp_path).read_text(encoding="utf-8")
    assert "no provenance column" in html and "has no <code>reconciliation.json</code>" in html


def test_sources_degrade_with_a_reason(runs, tmp_path):
    from qa.crops import Sources

    record = dict(load_run(runs[0]).records[0])
    with Sources(tmp_path) as sources:
        [view] = sources.views(record, "phones")
        assert view.kind == "lines" and "017-734-5235" in view.excerpt[0][1]
        assert sources.views(record, "category") == []
        [note] = sources.views({**record, "source_path": "nowhere/x.txt"}, "phones")
        assert note.kind == "note" and "nowhere/x.txt not found" in note.text
        [note] = sources.views({**record, "source_sha256": "0" * 64}, "phones")
        assert note.kind == "note" and "not the file this run extracted" in note.text
        [note] = sources.views({k: v for k, v in record.items() if k != "provenance"}, "phones")
        assert "no provenance" in note.text


def test_pdf_crop_of_a_value(tmp_path):
    """A value's box on a PDF page becomes a PNG under crops/ that shows that value."""
    import pdfplumber
    from PIL import Image

    from qa.crops import Sources
    from qa.crops import _sha256 as sha256

    pdf_path = ROOT / "corpus" / "pdf" / "clair2012_tokutei.pdf"
    with pdfplumber.open(pdf_path) as pdf:
        page_no = next(n for n, p in enumerate(pdf.pages[:30], 1) if "017-734-5235" in (p.extract_text() or ""))
        word = next(w for w in pdf.pages[page_no - 1].extract_words() if "017-734-5235" in w["text"])
    record = {"source_path": str(pdf_path), "source_sha256": sha256(pdf_path), "page_start": page_no,
              "provenance": [{"field": "phones", "page": page_no, "x0": word["x0"], "top": word["top"],
                              "x1": word["x1"], "bottom": word["bottom"], "line_start": 1, "line_end": 1}]}
    with Sources(tmp_path) as sources:
        [view] = sources.views(record, "phones")
    assert view.kind == "crop" and view.page == page_no and view.src.startswith("crops/")
    with Image.open(tmp_path / view.src) as image:
        width, height = image.size
        assert 80 < width < 400 and 15 < height < 60  # one number, at 120 dpi
        assert image.convert("L").getextrema()[0] < 100  # there is ink
    with Sources(tmp_path, render=False) as sources:
        [view] = sources.views(record, "phones")
    assert view.kind == "note" and "crops not rendered" in view.text
