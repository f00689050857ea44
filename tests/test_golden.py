"""Golden-file test: whole records of hand-checked cards of the CLAIR 2012 survey (text input).

``tests/golden/clair-2012-text.expected.jsonl`` holds one JSON object per card
listed in :data:`CARDS`: the WHOLE record (every column of
:class:`extractors.records.AgreementRecord`) except

* ``agreement_key`` — a hash; instead :func:`test_agreement_keys_group_exactly_the_re_listings`
  asserts which cards share a key (over the whole survey);
* ``extractor_version`` — compared to :data:`extractors.version.EXTRACTOR_VERSION`.

Dates are ISO strings, phones ``{number, extension}``, ``source_path`` relative
to the repository root.

**The expectations are hand-checked.** Every field of every card was read
against the source text (``sed -n`` on ``corpus/002_e59d51f378d5a747.txt``)
and SPEC.md's rules; where the extractor was wrong at the time, the file holds
the *correct* value and the test fails until the extractor is fixed (the
card's note in :data:`CARDS` says so). Never make a failing card pass by
regenerating: ``tests/golden/regenerate.py`` prints a field-level diff, and
rewrites cards (``--write CARD_ID ...``) only after a person has reviewed that
diff against the source and SPEC.md. A card added to the file must be added
to :data:`CARDS` with the forms it exercises and what was checked.

One extraction per module (module-scoped fixture); the whole module runs in
about a second.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from extractors.pipeline import extract_document
from extractors.records import AgreementRecord
from extractors.version import EXTRACTOR_VERSION

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SURVEY = CORPUS / "002_e59d51f378d5a747.txt"
SURVEY_ID = "clair-2012"
GOLDEN = REPO / "tests" / "golden" / "clair-2012-text.expected.jsonl"
OTHER_REPORTS = sorted(p for p in CORPUS.glob("*.txt") if p != SURVEY)

# Columns not stored in the golden file (see the module docstring).
EXCLUDED = ("agreement_key", "extractor_version")
GOLDEN_COLUMNS = tuple(f.name for f in dataclasses.fields(AgreementRecord) if f.name not in EXCLUDED)

# card_id -> the irregular forms it exercises; what was checked that is not obvious.
# "FAILS" marks a card whose correct expectation the extractor did not meet when the file was written.
# Categories ⑤–⑦ print their section heading as `經濟交流 (…)` and ⑨ as `その他の交流`: every card of
# those categories checks `category` is the legend's name (経済交流（農業等） …, その他交流).
CARDS: dict[str, str] = {
    # ① 教育交流
    "1-1": "converter `<ul style=…>` list collapsed to `・A・B・C` with no item boundary (訪問・受入れ・小・中学…): "
    "kept as ONE line, nothing guessed (2-11 prints the same items as a Markdown list); `--` after text in "
    "(3)/(4) is a converter rule, not an empty field; bare URL with `&pnp=` query kept whole; original of 2-11",
    "1-4": "内線 spelling 1 `（内線228）` → extension '228'; (6) `--` → no URLs; (5) text followed by a stray `--` "
    "line (dropped); two `<p>` paragraphs on one source line → two lines",
    "1-5": "month-only date 平成11（1999）年8月 → 1999-08-01/month; collapsed `<ul>` list `…。・…` kept as one line; "
    "department with spaces `教育部 教育総室 学校教育課`",
    "1-6": "(5) and (6) are `--` → outcomes '' and no URLs, no warning",
    "1-8": "Markdown `- ・…` lines in (5) → `- ` removed, `・` kept, one item per line; (3)/(4) timeline lines as "
    "printed; URL in `<…>` → brackets removed",
    "1-12": "month-only date with half-width brackets 平成13(2001)年6月; (5) `--`",
    "1-14": "Markdown list in (4); 【成果】/【課題等】 sub-headings on lines of their own in (5); original of 2-3",
    "1-16": "phone AND e-mail cells empty without `--` → phones [], emails [], missing_phone + missing_email; "
    "`<ul>` holding a plain paragraph",
    "1-21": "space after the country `カナダ ブリティッシュコロンビア州` is ONE party (CA); `<p>`/`<ul>` mixed on one "
    "line split at each tag, collapsed `・A・B` runs kept; original of 8-21",
    "1-22": "`・` inside one party's name (バーチ・キシュクン県) does not split; `【成果】 …` kept on one line; "
    "original of 2-21",
    "1-25": "shared country prefix `台湾台北縣、高雄縣、高雄市、嘉義市` → prefix on the first party only, TW; (3), (5), "
    "(6) `--`; same title and parties as 1-26 but another date → another agreement_key",
    "1-26": "card prints 台湾彰化縣 (the TOC prints 台湾台彰化縣: the card wins); another agreement than 1-25",
    # ② 文化交流
    "2-1": "date_era_mismatch: 平成20 (=2008) vs (2010) → western year 2010-11-04 + warning; (5) text pasted from "
    "another card (大連/札幌) kept as printed",
    "2-5": "several dates over two lines (second one `平成18年(2006)年`) → earliest 2001-05-26 + multiple_dates; "
    "raw keeps both lines joined by \\n",
    "2-7": "two phones and two e-mails separated by a space, no labels; department with `、`; (4) is a table "
    "(year/month/text cells) → one row per line, cells joined by a space; (5) `<ul>` whose items start with "
    "` ・` → one item per line (FAILS: not split); original of 7-20",
    "2-8": "内線 spelling 2 `(内線: 2233)` (half-width, colon and space) → '2233'",
    "2-10": "date_era_mismatch 平成20（2010）; (3)/(4) plain multi-line text",
    "2-11": "【再掲】 stripped from title, relisted; Markdown list version of 1-1's `<ul>` text; key shared with 1-1",
    "2-16": "labels in the other table column: 電子メール on the 担当部署名 row, phone row with empty trailing cells; "
    "昭和 date; (5), (6) `--`; converter wrap spaces inside (3) kept as printed",
    "2-19": "内線 spelling 3 `（内線：2456）` (full-width colon); (4), (5), (6) `--`",
    "2-20": "date_era_mismatch 平成22（2012）; empty e-mail cell → missing_email; ASCII title",
    "2-23": "two foreign parties separated by a space, each with its own country → KR, CN; collapsed `<ul>` list; "
    "original of 7-37",
    "2-25": "full-width field headings （1）…（7）; two foreign parties with `、`; `<ul>` with ` ・ ` bullets and "
    "embedded `<p>` → one item/paragraph per line; original of 3-7",
    # ③ スポーツ交流
    "3-2": "内線 `（内線：5572）` (full-width colon spelling again, another card)",
    "3-4": "`フランス共和国ニューカレドニア ヌメア市`: space inside ONE party (territory + city) → FR",
    "3-5": "four space-separated foreign parties, four countries (CN, DE, RU, US); empty e-mail → missing_email",
    "3-6": "year-only date 平成7（1995）年 → 1995-01-01/year; same parties as 3-5 but another agreement",
    "3-7": "relisted of 2-25; foreign parties printed in the other order (kept in print order); `<ul>` items "
    "`・ …` glued after `。` → one item per line (FAILS: not split)",
    "3-8": "bracketed member list replaces the collective name `プンパルツ協議会を構成する市町村`; the country+state "
    "prefix goes on the first member; converter wrap space `バ ートランゲンザルツァ市` repaired (TOC confirms)",
    # ④ 医療交流
    "4-1": "the only ④ card; (5) and (6) empty WITHOUT `--` (heading followed directly by the next heading)",
    # ⑤ 経済交流（農業等）
    "5-5": "labels in the other table column (電子メール on the 担当部署名 row) — the brief's 5-7 does not have "
    "them; 昭和 month-only date 昭和61(1986)年1月; ` ・` inside a plain (non-list) paragraph kept as printed",
    "5-9": "内線 `(内線: 3413)` on another card; (2) with a validity note `(※有効期間：平成24(2012)年の末まで)` "
    "→ 2010-11-08 + multiple_dates; the `--` line after the date is not part of raw; English in title",
    "5-11": "three jp parties in two prefectures; foreign list labels `中華人民共和国：` / `大韓民国：` dropped, items "
    "without a prefix, CN + KR; URL in `<…>`",
    # ⑥ 経済交流（工業等）
    "6-3": "same parties, date and background as 6-4 but another memorandum → another agreement_key; (6) URL "
    "in `<p>` followed by a note paragraph → only the URL",
    "6-4": "see 6-3 (the title distinguishes the two memoranda)",
    "6-11": "split card number `1 1.` → card_no 11; Markdown `- (1) …` lines in (3)",
    "6-12": "embassy 在日デンマーク王国大使館 → DK; many `<p>` paragraphs; URL + note in (6)",
    "6-13": "embassy printed `在日本デンマーク王国日本大使館` kept as printed → DK",
    "6-15": "empty phone cell, e-mail present → missing_phone only; dates in (3) do not count (one date in (2), "
    "the brief's 'several dates' does not apply); `<p>`+`<ul>` on one line",
    "6-16": "date with an update note `（※更新：平成23（2011）年10月17日）` → earliest + multiple_dates; Markdown "
    "`- ア …` items",
    "6-19": "two dates `、`-separated → earliest 2008-04-23 + multiple_dates; `<URL>（note）` → URL only; empty "
    "e-mail; original of 9-13",
    "6-22": "four jp parties incl. the non-municipal 財団法人三重県産業支援センター (as printed), prefecture 三重県 once",
    "6-23": "13 space-separated foreign parties with country prefixes; `・` between two parties (カステリョン市・"
    "セビリア市, 利川市・康津郡) vs inside one name (クルージュ・ナポカ市, ストーン・オン・トレント市); 11 countries "
    "(イギリス → GB); phone printed `00561-97-1336` kept + suspicious_phone; (5), (6) empty without `--`",
    "6-24": "three jp parties in three prefectures (sorted by code point); consulates `…駐アモイ シンガポール総領事館`"
    " and `…駐アモイ フィリピン総領事館` are one party each → SG, PH; `リモージュ市・オーバーニュ市` two parties",
    # ⑦ 経済交流（商業等）
    "7-8": "empty date `--` → agreement_date null, precision none, raw '' + missing_date",
    "7-20": "relisted of 2-7 (same text with `~` for `～`, 随任 for 随行); two unlabelled phones/e-mails; "
    "(5) ` ・` items (FAILS: not split)",
    "7-22": "date_era_mismatch 平成19（2009）; `<ul>` items `・ …` (FAILS: not split)",
    "7-23": "full-width headings; nested `<ul>` collapsed by the converter (item boundaries lost) → split at the "
    "tags only; 昭和63; foreign `…カリフォルニア州オークランド` (no 市) as printed",
    "7-26": "non-member bracket `ベトナム社会主義共和国（計画投資省）` kept whole → VN",
    "7-27": "department over three table rows → joined with \\n; (6) four labelled URL rows `（…）<TAB>URL`; "
    "`<ul>` ` ・` items (FAILS: not split); original of 8-18",
    "7-28": "non-member bracket `シンガポール共和国（生産性企画庁）` → SG",
    "7-29": "full-width headings; `ニュージーランド オークランド市` one party → NZ; 昭和54",
    "7-32": "split card number `3 2.` → 32; full-width headings; letter-spaced date `平成 1 1 （ 1 9 9 9 ） 年 8 月 "
    "3 日` → 1999-08-03, raw as printed; `…ホームページの URL` heading with a space; `P R` kept as printed",
    "7-34": "jp side `京都府、舞鶴市` (SPEC's example), prefecture 京都府; `A … B …` labelled department/phones/"
    "e-mails → labels kept in the department, removed from phones and e-mails; two labelled URL rows",
    "7-35": "three jp prefectures sorted by code point (京都府, 兵庫県, 大阪府)",
    "7-36": "three labelled dates on three lines with 元年 → 1989-11-11 + multiple_dates; shared prefix "
    "`中華人民共和国黒竜江省、吉林省、遼寧省` → prefix on the first only",
    "7-37": "relisted of 2-23 (space-separated foreign parties)",
    "7-38": "two foreign parties with `、` (city + urban community), one country",
    "7-39": "two labelled dates on one line → earliest 1992-09-03 + multiple_dates; shared prefix "
    "`ロシア連邦ハバロフスク地方、沿海地方、サハリン州`",
    # ⑧ 行政交流
    "8-15": "`A … B …` labelled phones and e-mails; department `A …、B …` as printed; Markdown list in (5)",
    "8-18": "relisted of 7-27; department over three rows (FAILS: ` ・` items not split)",
    "8-19": "`英国ロンドン市` → GB; original of 9-14 (printed `イギリス ロンドン市` there)",
    "8-20": "original of the UNMARKED re-listing 9-9; empty e-mail cell",
    "8-21": "relisted of 1-21, which prints the same list as `<ul>` instead of Markdown",
    "8-22": "non-member bracket `ブータン王国（王立ブータン研究所）` → BT",
    "8-25": "four jp prefectures (sorted), four foreign parties after one `大韓民国`; year-only "
    "`平成4（1992）年から開始` → 1992-01-01/year; `<ul>` items `・ …` (FAILS: not split)",
    # ⑨ その他交流
    "9-9": "unmarked re-listing of 8-20 (no 【再掲】 in heading or TOC) → relisted False, key shared with 8-20",
    "9-13": "relisted of 6-19; Markdown lines `- ・ …` (bullet followed by a space) (FAILS: stray '-' lines)",
    "9-14": "the TOC marks 【再掲】 but the heading does not → relisted False; `イギリス ロンドン市` → GB; key "
    "shared with 8-19",
    "9-15": "`ポートスティーブンス市・ニューカッスル市`: two parties after one prefix",
    "9-16": "`済洲` spelling kept as printed; four foreign parties after one `大韓民国`",
}

# The cards that describe the same agreement: the 24 marked re-listings with their originals, ⑨14
# (marked in the TOC only) and ⑨9 (an unmarked re-listing of ⑧20). Every other card has a key of its own.
SAME_AGREEMENT: list[tuple[str, str]] = [
    ("1-1", "2-11"), ("1-2", "2-12"), ("1-3", "5-1"), ("1-14", "2-3"), ("1-21", "8-21"), ("1-22", "2-21"),
    ("2-2", "8-9"), ("2-6", "8-13"), ("2-7", "7-20"), ("2-23", "7-37"), ("2-25", "3-7"), ("3-3", "8-11"),
    ("6-2", "9-2"), ("6-5", "8-6"), ("6-7", "9-5"), ("6-8", "9-6"), ("6-10", "9-12"), ("6-14", "8-16"),
    ("6-19", "9-13"), ("7-1", "8-3"), ("7-10", "9-4"), ("7-19", "9-7"), ("7-27", "8-18"), ("8-5", "9-1"),
    ("8-19", "9-14"), ("8-20", "9-9"),
]
UNMARKED_RELISTINGS = {"9-9", "9-14"}

LEGEND = {
    1: "教育交流", 2: "文化交流", 3: "スポーツ交流", 4: "医療交流", 5: "経済交流（農業等）",
    6: "経済交流（工業等）", 7: "経済交流（商業等）", 8: "行政交流", 9: "その他交流",
}
CARDS_PER_CATEGORY = [26, 25, 8, 1, 11, 24, 39, 25, 16]


# --------------------------------------------------------------------------- helpers (also used by regenerate.py)


def repo_relative(path: str) -> str:
    """A source path relative to the repository root, in POSIX form."""
    p = Path(path)
    p = p.resolve() if p.is_absolute() else (Path.cwd() / p).resolve()
    try:
        return p.relative_to(REPO).as_posix()
    except ValueError:
        return path


def record_to_row(record: AgreementRecord) -> dict[str, Any]:
    """A record as it is stored in the golden file (JSON-ready, excluded columns dropped)."""
    row = dataclasses.asdict(record)
    row["source_path"] = repo_relative(row["source_path"])
    if row["agreement_date"] is not None:
        row["agreement_date"] = row["agreement_date"].isoformat()
    return {k: row[k] for k in GOLDEN_COLUMNS}


def extract_survey():
    return extract_document(SURVEY, SURVEY_ID)


def load_golden(path: Path = GOLDEN) -> dict[str, dict[str, Any]]:
    """The golden rows by card_id, in file order."""
    rows: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["card_id"] in rows:
                raise ValueError(f"{path}:{n}: card {row['card_id']} appears twice")
            rows[row["card_id"]] = row
    return rows


def dump_golden(rows: dict[str, dict[str, Any]], path: Path = GOLDEN) -> None:
    """Write golden rows, one JSON object per line, atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows.values():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


_MISSING = object()


def field_diff(card_id: str, expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable, field-by-field differences (empty when equal)."""
    out: list[str] = []
    keys = list(expected) + [k for k in actual if k not in expected]
    for key in keys:
        e, a = expected.get(key, _MISSING), actual.get(key, _MISSING)
        if e == a:
            continue
        if isinstance(e, str) and isinstance(a, str) and ("\n" in e or "\n" in a or len(e) + len(a) > 160):
            out.append(f"  {key}: (- expected, + actual)")
            diff = difflib.unified_diff(e.split("\n"), a.split("\n"), lineterm="", n=0)
            out.extend(f"      {d}" for d in list(diff)[2:])
        else:
            show = lambda v: "<missing>" if v is _MISSING else repr(v)  # noqa: E731
            out.append(f"  {key}:\n      expected {show(e)}\n      actual   {show(a)}")
    return [f"card {card_id}:", *out] if out else []


def _card_sort_key(card_id: str) -> tuple[int, int]:
    cat, no = card_id.split("-")
    return int(cat), int(no)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def survey():
    return extract_survey()


@pytest.fixture(scope="module")
def by_id(survey):
    return {r.card_id: r for r in survey.records}


@pytest.fixture(scope="module")
def golden():
    return load_golden()


# --------------------------------------------------------------------------- the golden cards


def test_golden_file_and_card_table_list_the_same_cards(golden):
    assert list(golden) == sorted(golden, key=_card_sort_key), "keep the golden file in card order"
    assert set(golden) == set(CARDS)
    assert len(CARDS) >= 45
    assert {int(c.split("-")[0]) for c in CARDS} == set(range(1, 10)), "every category ①–⑨ is covered"


def test_golden_rows_hold_every_column(golden):
    for card_id, row in golden.items():
        assert tuple(row) == GOLDEN_COLUMNS, f"{card_id}: columns differ from AgreementRecord (review + regenerate)"


@pytest.mark.parametrize("card_id", sorted(CARDS, key=_card_sort_key))
def test_card_matches_golden_record(card_id, by_id, golden):
    assert card_id in by_id, f"card {card_id} was not extracted as a record"
    diff = field_diff(card_id, golden[card_id], record_to_row(by_id[card_id]))
    if diff:
        pytest.fail("\n".join(diff), pytrace=False)


# --------------------------------------------------------------------------- whole survey


def test_every_record_carries_the_extractor_version_and_a_key(survey):
    for r in survey.records:
        assert r.extractor_version == EXTRACTOR_VERSION
        assert re.fullmatch(r"[0-9a-f]{16}", r.agreement_key), r.card_id


def test_all_175_cards_are_records_and_none_is_rejected(survey):
    assert survey.segments == 175
    assert len(survey.records) == 175
    assert survey.rejects == ()
    assert len({r.card_id for r in survey.records}) == 175


def test_cards_per_category_match_the_reports_summary_table(survey):
    per_category = Counter(r.category_code for r in survey.records)
    assert [per_category[i] for i in range(1, 10)] == CARDS_PER_CATEGORY


def test_category_names_come_from_the_legend(survey):
    assert {(r.category_code, r.category) for r in survey.records} == set(LEGEND.items())


def test_24_headings_carry_the_relisting_mark(survey):
    relisted = {r.card_id for r in survey.records if r.relisted}
    assert len(relisted) == 24
    assert relisted == {b for _, b in SAME_AGREEMENT} - UNMARKED_RELISTINGS
    assert not any("再掲" in r.title for r in survey.records)


def test_agreement_keys_group_exactly_the_re_listings(survey):
    groups: dict[str, list[str]] = defaultdict(list)
    for r in survey.records:
        groups[r.agreement_key].append(r.card_id)
    shared = sorted((tuple(sorted(ids, key=_card_sort_key)) for ids in groups.values() if len(ids) > 1))
    assert shared == sorted(SAME_AGREEMENT)
    assert len(groups) == 175 - len(SAME_AGREEMENT)


@pytest.mark.parametrize("path", OTHER_REPORTS, ids=lambda p: p.name)
def test_reports_without_cards_give_no_records_and_no_rejects(path):
    result = extract_document(path, SURVEY_ID)
    assert (result.segments, len(result.records), len(result.rejects)) == (0, 0, 0)
