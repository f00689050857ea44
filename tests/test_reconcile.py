"""Reconciliation of the CLAIR 2012 report with itself: TOC vs cards, summary tables vs records.

The expectations are the report's real figures and the real disagreements, read from the source
(``sed -n 53,75p corpus/002_*.txt`` for the tables, lines 91–373 for the TOC):

* the TOC names other municipalities than the cards in ①10 (栃木県小山市 / 鹿沼市), ①11
  (アリゾナ州 / カリフォルニア州), ①13 (デイモン市 / デモイン市) and ⑧20, ⑨9 (三戸市 / 三戸町);
  it also lists ①2 and ①3 in swapped order, adds 浙江省 to ①9 and 台 to ①26's 彰化縣, and marks
  ⑨14 【再掲】 where the card heading does not; 天台县, 吳江市, 英国, フエ市 … are orthographic;
* the category table (【分野別の提携件数】) is reproduced figure by figure: every card count of its
  合計 row agrees (26, 25, 8, 1, 11, 24, 39, 25, 16, 175); the re-listing counts agree except ⑨
  (9 reported, 8 headings) and the total (25 / 24), explained by ⑨14; 1対1 vs 複数 differs in ⑧ by
  one card (23 / 24), which the country table narrows to ⑧22 or ⑧23.

Text input takes about a second (the tokenizer loads once); the PDF tests read pages 1–14 only
(summary, TOC and card ①1, about 2 s).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from extractors.document import Document
from extractors.pipeline import cards_to_records
from extractors.read_pdf import read_pdf
from extractors.readers import read_document
from extractors.segment import document_to_cards
from qa.reconcile import (
    CATEGORY_TABLE,
    COUNTRY_TABLE,
    ORTHOGRAPHIC,
    SUBSTANTIVE,
    compare_names,
    compare_titles,
    fold_orthography,
    parse_cell,
    parse_summary_tables,
    parse_toc_entry,
    reconcile,
    split_toc_parties,
    variant_rules,
)

REPO = Path(__file__).resolve().parent.parent
SURVEY_TXT = REPO / "corpus" / "002_e59d51f378d5a747.txt"
SURVEY_PDF = REPO / "corpus" / "pdf" / "clair2012_tokutei.pdf"
PDF_FRONT_PAGES = range(1, 15)  # cover … TOC (pages 5–12), category ① (13), card ①1 (14)

# The category table as printed: 合計 row, columns ①–⑨ and 合計, as (cards, re-listed).
CATEGORY_TOTALS = [(26, 0), (25, 4), (8, 1), (1, 0), (11, 1), (24, 0), (39, 2), (25, 8), (16, 9), (175, 25)]
ONE_TO_ONE = [(24, 0), (22, 4), (4, 0), (1, 0), (10, 1), (21, 0), (33, 1), (23, 8), (14, 9), (152, 23)]
MULTIPLE = [(2, 0), (3, 0), (4, 1), (0, 0), (1, 0), (3, 0), (6, 1), (2, 0), (2, 0), (23, 2)]

# Every finding on the 2012 report: (card, kind, severity, TOC-only units, card-only units).
EXPECTED_FINDINGS = [
    ("1-2", "order", SUBSTANTIVE, (), ()),
    ("1-8", "title", SUBSTANTIVE, (), ()),
    ("1-9", "foreign_parties", SUBSTANTIVE, ("浙江省",), ()),
    ("1-10", "japanese_parties", SUBSTANTIVE, ("小山市",), ("鹿沼市",)),
    ("1-11", "foreign_parties", SUBSTANTIVE, ("アリゾナ州",), ("カリフォルニア州",)),
    ("1-13", "foreign_parties", SUBSTANTIVE, ("デイモン市",), ("デモイン市",)),
    ("1-26", "foreign_parties", SUBSTANTIVE, ("台彰化縣",), ("彰化縣",)),
    ("2-12", "foreign_parties", ORTHOGRAPHIC, ("天台县",), ("天台県",)),
    ("6-1", "foreign_parties", ORTHOGRAPHIC, ("吳江市",), ("呉江市",)),
    ("6-18", "title", SUBSTANTIVE, (), ()),
    ("6-23", "foreign_parties", ORTHOGRAPHIC, ("英国", "ルーマニアクルージユナポカ市"),
     ("イギリス", "ルーマニアクルージュナポカ市")),
    ("7-23", "foreign_parties", ORTHOGRAPHIC, ("オークランド市",), ("オークランド",)),
    ("7-27", "title", SUBSTANTIVE, (), ()),
    ("8-17", "foreign_parties", ORTHOGRAPHIC, ("フエ市",), ("フェ市",)),
    ("8-20", "japanese_parties", SUBSTANTIVE, ("三戸市",), ("三戸町",)),
    ("9-8", "foreign_parties", ORTHOGRAPHIC, ("順天市",), ("順천시",)),
    ("9-9", "japanese_parties", SUBSTANTIVE, ("三戸市",), ("三戸町",)),
    ("9-14", "foreign_parties", ORTHOGRAPHIC, ("英国",), ("イギリス",)),
    ("9-14", "relisted_mark", SUBSTANTIVE, (), ()),
]


@pytest.fixture(scope="module")
def text_run():
    doc = read_document(SURVEY_TXT)
    seg = document_to_cards(doc)
    records, rejects = cards_to_records(seg.cards, doc, "clair-2012")
    assert not rejects
    return doc, seg, records, reconcile(doc, seg, records)


@pytest.fixture(scope="module")
def pdf_front():
    doc = read_pdf(SURVEY_PDF, pages=PDF_FRONT_PAGES)
    return doc, document_to_cards(doc)


def _lines(rec, table, row):
    return {(s.column, s.measure): s for s in rec.summary if s.table == table and s.row == row}


# --------------------------------------------------------------------------- orthographic rules


def test_every_rule_example_folds_as_declared():
    rules = variant_rules()
    assert len(rules.examples) >= 15
    for a, b, same in rules.examples:
        assert (fold_orthography(a) == fold_orthography(b)) is same, (a, b, fold_orthography(a), fold_orthography(b))


def test_rule_tables_are_well_formed():
    rules = variant_rules()
    for old, new in rules.characters.items():
        assert len(old) == 1 and len(new) == 1 and old != new, old
        assert fold_orthography(old) == fold_orthography(new)
    for pair in [("經", "経"), ("濟", "済"), ("縣", "県"), ("德", "徳"), ("黑", "黒"), ("龍", "竜")]:
        assert rules.characters[pair[0]] == pair[1]
    for variant, canonical in rules.names.items():
        assert fold_orthography(variant) == fold_orthography(canonical), variant
    assert fold_orthography("英国") == fold_orthography("イギリス")
    assert fold_orthography("中国") == fold_orthography("中華人民共和国")
    assert fold_orthography("韓国") == fold_orthography("大韓民国")


# --------------------------------------------------------------------------- TOC parsing


@pytest.mark.parametrize(
    ("parties", "foreign", "japanese"),
    [
        ("中華人民共和国大連市－青森県青森市", "中華人民共和国大連市", "青森県青森市"),
        ("中華人民共和国江蘇省吳江市ー千葉県千葉市", "中華人民共和国江蘇省吳江市", "千葉県千葉市"),
        ("中華人民共和国四川省一広島県", "中華人民共和国四川省", "広島県"),  # the kanji 一
        ("オーストラリア連邦ニューサウスウェールズ州タムワース市一青森県三戸市",
         "オーストラリア連邦ニューサウスウェールズ州タムワース市", "青森県三戸市"),
        ("フランス共和国イル・ド・フランス州オー・ド・セーヌ県イッシー・レ・ムリノー市 －千葉県市川市",
         "フランス共和国イル・ド・フランス州オー・ド・セーヌ県イッシー・レ・ムリノー市", "千葉県市川市"),
        ("ドイツ連邦共和国チュウリンゲン州プンパルツ協議会の構成市町村－長野県小布施町（シュバイナ町、ルーラ市）",
         "ドイツ連邦共和国チュウリンゲン州プンパルツ協議会の構成市町村（シュバイナ町、ルーラ市）", "長野県小布施町"),
        ("大韓民国慶尚北道浦項市－京都府、京都府舞鶴市", "大韓民国慶尚北道浦項市", "京都府、京都府舞鶴市"),
    ],
)
def test_toc_sides_split_at_the_dash_before_the_prefecture(parties, foreign, japanese):
    assert split_toc_parties(parties) == (foreign, japanese)


def test_every_toc_entry_parses(text_run):
    _, seg, records, _ = text_run
    toc = [parse_toc_entry(e) for e in seg.toc]
    assert len(toc) == 175 and [t.card_id for t in toc] == [r.card_id for r in records]
    assert all(t.foreign and t.japanese and t.title and t.page for t in toc)
    assert sum(t.relisted for t in toc) == 25
    first, nineteen = toc[0], next(t for t in toc if t.card_id == "1-19")
    assert (first.foreign, first.japanese, first.title, first.page, first.relisted) == (
        "中華人民共和国大連市", "青森県青森市", "経済文化交流委員会設置に関する協定", 14, False)
    assert (nineteen.japanese, nineteen.title, nineteen.page) == ("岡山県", "教員交換事業合意書", 32)  # title on the next line
    relisted = next(t for t in toc if t.card_id == "2-3")
    assert relisted.relisted and relisted.title == "教育・文化等の友好交流に関する協定書"


def test_pdf_toc_and_summary_tables_parse_like_the_text(text_run, pdf_front):
    doc, seg, _, _ = text_run
    pdf_doc, pdf_seg = pdf_front
    strip = lambda t: dataclasses.replace(t, lineno=0, text="")  # noqa: E731
    assert [strip(parse_toc_entry(e)) for e in pdf_seg.toc] == [strip(parse_toc_entry(e)) for e in seg.toc]
    cells = lambda tables: [(t.name, [(r.label, r.cells) for r in t.rows], t.columns) for t in tables]  # noqa: E731
    assert cells(parse_summary_tables(pdf_doc.lines)) == cells(parse_summary_tables(doc.lines))


def test_pdf_toc_pages_are_compared_with_the_cards_pages(pdf_front):
    doc, seg = pdf_front
    records, _ = cards_to_records(seg.cards, doc, "clair-2012")
    assert [r.card_id for r in records] == ["1-1"] and records[0].page_start == 14
    rec = reconcile(doc, seg, records)
    assert not [f for f in rec.findings if f.card_id == "1-1"]  # TOC page 14 = PDF page 14
    assert {f.kind for f in rec.findings} == {"missing_card"} and len(rec.findings) == 174  # pages not read
    moved = dataclasses.replace(seg, toc=[dataclasses.replace(seg.toc[0], page=15), *seg.toc[1:]])
    page = [f for f in reconcile(doc, moved, records).findings if f.card_id == "1-1"]
    assert [(f.kind, f.severity, f.toc, f.card) for f in page] == [("page", SUBSTANTIVE, "15", "14")]


# --------------------------------------------------------------------------- comparisons


def test_names_compare_as_place_units():
    assert compare_names("中華人民共和国大連市", ["中華人民共和国大連市"]).severity is None
    assert compare_names("中華人民共和国大連市", ["中華人民共和国遼寧省大連市"]).severity is None  # province omitted
    assert compare_names("中華人民共和国：青島市、大連市", ["青島市", "大連市"]).severity is None  # country omitted
    assert compare_names("京都府、京都府舞鶴市", ["京都府", "舞鶴市"]).severity is None
    assert compare_names("英国ロンドン市", ["イギリス ロンドン市"]).severity == ORTHOGRAPHIC
    assert compare_names("栃木県小山市", ["栃木県鹿沼市"]).severity == SUBSTANTIVE
    assert compare_names("アメリカ合衆国アリゾナ州リバモア市", ["アメリカ合衆国カリフォルニア州リバモア市"]).severity == SUBSTANTIVE
    assert compare_names("中華人民共和国浙江省福建省泉州市", ["中華人民共和国福建省泉州市"]).severity == SUBSTANTIVE
    assert compare_names("京都府、大阪府、兵庫県", ["京都府", "大阪府"]).severity == SUBSTANTIVE


def test_titles_compare_as_shortenings():
    card = "日本国栃木県岩舟町と中華人民共和国浙江省天台県との教育及び文化の友好交流に関する覚書"
    assert compare_titles("教育及び文化の友好交流に関する覚書", card) is None
    assert compare_titles("両都市マラソン大会の姉妹提携に関する協定",
                          "ニューカレドニア国際マラソン大会と立川シティハーフマラソン姉妹提携に関する協定") is None
    assert compare_titles("(札幌)『ライラックまつり』・(大連)『アカシアまつり』交流協定書締結",
                          "札幌市「ライラックまつり」・大連市「アカシアまつり」交流協定書締結") is None
    assert compare_titles("經濟交流に関する覚書", "経済交流に関する覚書") == ORTHOGRAPHIC
    assert compare_titles("教育交流等に関する合意書", "福山市教育委員会と北京市教育委員会との教育交流等に関する覚書") == SUBSTANTIVE


@pytest.mark.parametrize(("cell", "value"), [("25(4)", (25, 4)), ("24", (24, 0)), ("", (0, 0)), ("1(0)", (1, 0)),
                                             ("２５（４）", (25, 4)), ("x", None)])
def test_summary_cells(cell, value):
    assert parse_cell(cell) == value


# --------------------------------------------------------------------------- the 2012 report


def test_toc_findings_are_the_reports_real_disagreements(text_run):
    *_, rec = text_run
    got = [(f.card_id, f.kind, f.severity, f.toc_only, f.card_only) for f in rec.findings]
    assert got == EXPECTED_FINDINGS
    assert all(f.detail for f in rec.findings)


def test_the_four_named_disagreements_are_substantive(text_run):
    *_, rec = text_run
    pairs = {(f.card_id, a, b) for f in rec.substantive for a, b in zip(f.toc_only, f.card_only)}
    assert {("1-10", "小山市", "鹿沼市"), ("1-11", "アリゾナ州", "カリフォルニア州"),
            ("1-13", "デイモン市", "デモイン市"), ("8-20", "三戸市", "三戸町")} <= pairs
    relisted = [f for f in rec.substantive if f.kind == "relisted_mark"]
    assert [(f.card_id, f.toc, f.card) for f in relisted] == [("9-14", "【再掲】", "")]
    assert not {f.card_id for f in rec.orthographic} & {"1-10", "1-11", "1-13", "8-20"}


def test_category_table_is_reproduced_and_every_difference_explained(text_run):
    *_, rec = text_run
    for row, expected in (("合計", CATEGORY_TOTALS), ("1対1の提携", ONE_TO_ONE), ("複数の自治体との提携", MULTIPLE)):
        lines = _lines(rec, CATEGORY_TABLE, row)
        columns = [s.column for s in rec.summary if s.table == CATEGORY_TABLE and s.row == row and s.measure == "cards"]
        assert columns == ["①教育", "②文化", "③姉妹都市", "④医療", "⑤農業等", "⑥工業等", "⑦商業等", "⑧行政", "⑨その他", "合計"]
        assert [(lines[c, "cards"].reported, lines[c, "relisted"].reported) for c in columns] == expected
    totals = _lines(rec, CATEGORY_TABLE, "合計")
    assert all(s.agrees for (c, m), s in totals.items() if m == "cards")  # 26 25 8 1 11 24 39 25 16 175
    differing = {(s.row, s.column, s.measure): (s.reported, s.computed)
                 for s in rec.summary if s.table == CATEGORY_TABLE and not s.agrees}
    assert differing == {
        ("1対1の提携", "⑧行政", "cards"): (23, 24),
        ("1対1の提携", "⑨その他", "relisted"): (9, 8),
        ("1対1の提携", "合計", "cards"): (152, 153),
        ("1対1の提携", "合計", "relisted"): (23, 22),
        ("複数の自治体との提携", "⑧行政", "cards"): (2, 1),
        ("複数の自治体との提携", "合計", "cards"): (23, 22),
        ("合計", "⑨その他", "relisted"): (9, 8),
        ("合計", "合計", "relisted"): (25, 24),
    }
    for s in rec.summary:
        assert bool(s.explanation) == (not s.agrees), s
    nine = totals["合計", "relisted"]
    assert "⑨14" in nine.explanation and "gives 25 (agrees)" in nine.explanation and nine.cards == ("9-14",)
    eight = _lines(rec, CATEGORY_TABLE, "1対1の提携")["⑧行政", "cards"]
    assert set(eight.cards) == {"8-22", "8-23"} and "複数" in eight.explanation


def test_country_table_differences_are_explained(text_run):
    *_, rec = text_run
    rows = [s.row for s in rec.summary if s.table == COUNTRY_TABLE and s.column == "合計" and s.measure == "cards"]
    assert rows[:3] == ["中華人民共和国", "大韓民国", "アメリカ合衆国"] and rows[-2:] == ["その他", "合計"]
    differing = {(s.row, s.column, s.measure): (s.reported, s.computed)
                 for s in rec.summary if s.table == COUNTRY_TABLE and not s.agrees}
    assert differing == {
        ("カナダ", "②文化", "cards"): (1, 0),
        ("カナダ", "合計", "cards"): (5, 4),
        ("英国", "⑨その他", "relisted"): (1, 0),
        ("英国", "合計", "relisted"): (1, 0),
        ("その他", "②文化", "cards"): (1, 2),
        ("その他", "⑧行政", "cards"): (1, 2),
        ("その他", "合計", "cards"): (9, 11),
        ("合計", "⑧行政", "cards"): (23, 24),
        ("合計", "⑨その他", "relisted"): (9, 8),
        ("合計", "合計", "cards"): (152, 153),
        ("合計", "合計", "relisted"): (23, 22),
    }
    canada = _lines(rec, COUNTRY_TABLE, "カナダ")["②文化", "cards"]
    assert "その他" in canada.explanation
    other = _lines(rec, COUNTRY_TABLE, "その他")["②文化", "cards"]
    assert set(other.cards) == {"2-20", "2-22"}


def test_notes_name_the_header_slip_and_the_unmarked_relisting(text_run):
    *_, rec = text_run
    notes = "\n".join(rec.notes)
    assert "③姉妹都市" in notes and "③スポーツ交流" in notes
    assert "⑨9 repeats ⑧20" in notes
    assert "24 card headings and 25 TOC entries" in notes


def test_json_is_ready_to_write(text_run):
    *_, rec = text_run
    data = json.loads(rec.to_json())
    assert data["toc"]["entries"] == 175 and len(data["toc"]["substantive"]) == 12
    assert len(data["toc"]["orthographic"]) == 7
    assert data["summary_tables"]["differ"] == 19 and data["summary_tables"]["agree"] == 361
    line = data["summary_tables"]["lines"][0]
    assert {"table", "row", "column", "reported", "computed", "agrees", "explanation"} <= set(line)
    assert "## Reconciliation" in rec.to_markdown()


def test_a_document_without_toc_or_tables_reconciles_to_nothing():
    doc = Document(path="x.txt", sha256="0" * 64, kind="text", lines=())
    rec = reconcile(doc, document_to_cards(doc), [])
    assert rec.findings == () and rec.summary == ()
    assert any("no summary table" in n for n in rec.notes)
