"""Party splitting, country codes and prefectures (nlp/parties.py, countries.py, prefectures.py).

The hand-verified tables live in nlp/rules/*.toml and are run by
tests/test_rules.py; here: the cases the brief spells out, coverage of the
real survey (every irregular line of corpus/002 must be in a table, every
regular line must come out whole with its one printed country), invariants,
the spaCy pipeline, and speed.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp import countries, parties, prefectures, tokenizer
from nlp.countries import countries_in, country_codes
from nlp.parties import normalize_foreign, split_foreign_entities, split_jp_entities
from nlp.prefectures import prefecture_code, prefectures_of
from nlp.tokenizer import sudachi_tokens, load_toml, tokens

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "002_e59d51f378d5a747.txt"


def _cells(label: str) -> list[tuple[int, str]]:
    out = []
    for no, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(label + "\t"):
            out.append((no, line.split("\t", 1)[1]))
    return out


FOREIGN = _cells("海外の自治体")
JAPANESE = _cells("日本の自治体")
FOREIGN_TABLE = {ex["input"]: ex for ex in load_toml("foreign_parties.toml")["example"]}
JP_TABLE = {ex["input"]: ex for ex in load_toml("jp_parties.toml")["example"]}
IRREGULAR = re.compile(r"[、,，・（）()：:＝\s]|[\uAC00-\uD7AF]")


def _formal_lead(text: str) -> bool:
    """The line starts with a formal country name from the TSV (大韓民国…, フランス共和国…)."""
    first = countries_in(text)[:1]
    if not first or first[0][0] != 0:
        return False
    kind = countries.alias_table()[text[: first[0][1]]][1]
    return kind == "formal"


def test_corpus_has_175_cards():
    assert len(FOREIGN) == len(JAPANESE) == 175


# --------------------------------------------------------------------------- the brief's cases


@pytest.mark.parametrize(
    "text,expected",
    [
        ("京都府、舞鶴市", ["京都府", "舞鶴市"]),
        ("三重県、三重県津市、三重県四日市市、財団法人三重県産業支援センター",
         ["三重県", "三重県津市", "三重県四日市市", "財団法人三重県産業支援センター"]),
        ("青森県青森市", ["青森県青森市"]),
        ("京都府,舞鶴市", ["京都府", "舞鶴市"]),
        ("京都府，舞鶴市", ["京都府", "舞鶴市"]),
        ("--", []),
        ("", []),
    ],
)
def test_split_jp_entities(text, expected):
    assert split_jp_entities(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("中華人民共和国黒竜江省、吉林省、遼寧省", ["中華人民共和国黒竜江省", "吉林省", "遼寧省"]),
        ("中華人民共和国：青島市、大連市、天津市、煙台市 大韓民国：釜山広域市、仁川広域市、蔚山広域市",
         ["青島市", "大連市", "天津市", "煙台市", "釜山広域市", "仁川広域市", "蔚山広域市"]),
        ("カステリョン市・セビリア市", ["カステリョン市", "セビリア市"]),
        ("ポートスティーブンス市・ニューカッスル市", ["ポートスティーブンス市", "ニューカッスル市"]),
        ("利川市・康津郡", ["利川市", "康津郡"]),
        ("リモージュ市・オーバーニュ市", ["リモージュ市", "オーバーニュ市"]),
        ("中華人民共和国景德鎮市・瀋陽市", ["中華人民共和国景德鎮市", "瀋陽市"]),  # Sudachi: …共和|国景|德鎮|市 in context
        ("釜山広域市・蔚山広域市", ["釜山広域市", "蔚山広域市"]),
        ("シンガポール共和国駐アモイ シンガポール総領事館", ["シンガポール共和国駐アモイ シンガポール総領事館"]),
        ("スペイン カステリョン市・セビリア市", ["スペイン カステリョン市", "セビリア市"]),
        ("イギリス ストーン・オン・トレント市", ["イギリス ストーン・オン・トレント市"]),
        ("ベトナム社会主義共和国（計画投資省）", ["ベトナム社会主義共和国（計画投資省）"]),
        ("ブータン王国（王立ブータン研究所）", ["ブータン王国（王立ブータン研究所）"]),
        ("シンガポール共和国（生産性企画庁）", ["シンガポール共和国（生産性企画庁）"]),
    ],
)
def test_split_foreign_entities_brief(text, expected):
    assert split_foreign_entities(text) == expected


@pytest.mark.parametrize(
    "name",
    ["クルージュ・ナポカ市", "バーチ・キシュクン県ケチケメート市", "セーヌ・エ・マルヌ県バビルゾン市",
     "タミル・ナドゥ州", "モン・サン＝ミッシェル", "イル・ド・フランス州オー・ド・セーヌ県イッシー・レ・ムリノー市",
     "ベルギー王国ラ・ルビエール市", "フランス共和国バス・ノルマンディ州", "九州・四国", "都市・農村"],
)
def test_dot_inside_one_name_does_not_split(name):
    assert split_foreign_entities(name) == [name]


def test_member_list_replaces_collective_name():
    text = ("ドイツ連邦共和国チュウリンゲン州プンパルツ協議会を構成する市町村 (シュバイナ町、ルーラ市、"
            "バートリーベンシュタイン市、ガイサ市、バ ートランゲンザルツァ市、プンパルツ協議会)")
    assert split_foreign_entities(text) == [
        "ドイツ連邦共和国チュウリンゲン州シュバイナ町", "ルーラ市", "バートリーベンシュタイン市",
        "ガイサ市", "バートランゲンザルツァ市", "プンパルツ協議会",
    ]
    assert country_codes(text) == ["DE"]


def test_long_space_separated_lists():
    card_6_23 = dict(FOREIGN)[3620]
    assert len(split_foreign_entities(card_6_23)) == 13
    card_6_24 = dict(FOREIGN)[3648]
    items = split_foreign_entities(card_6_24)
    assert len(items) == 11
    assert "フィリピン共和国駐アモイ フィリピン総領事館" in items
    assert "CN" in country_codes(card_6_24)  # 中華人民共和国景德鎮市 is printed …
    assert country_codes("シンガポール共和国駐アモイ シンガポール総領事館") == ["SG"]  # … アモイ gives nothing


@pytest.mark.parametrize(
    "text,expected",
    [
        ("台湾台南市", ["TW"]),
        ("デンマーク王国（在日本国デンマーク王国大使館）", ["DK"]),
        ("在日本デンマーク王国日本大使館", ["DK"]),
        ("在日デンマーク王国大使館", ["DK"]),
        ("シンガポール共和国駐アモイ シンガポール総領事館", ["SG"]),
        ("英国ロンドン市", ["GB"]),
        ("イギリス ロンドン市", ["GB"]),
        ("フランス共和国ニューカレドニア ヌメア市", ["FR"]),
        ("ニューカレドニア ヌメア市", ["NC"]),
        ("中華人民共和国：青島市、大連市", ["CN"]),
        ("青島市、大連市", []),
        ("大韓民国利川市・康津郡", ["KR"]),
    ],
)
def test_country_codes(text, expected):
    assert country_codes(text) == expected


def test_countries_in_longest_first_with_offsets():
    assert countries_in("ベトナム社会主義共和国ダナン市") == [(0, 11, "VN")]
    assert countries_in("大韓民国慶尚北道浦項市 中華人民共和国吉林省琿春市") == [(0, 4, "KR"), (12, 19, "CN")]
    assert countries_in("アメリカ合衆国ジョージア州") == [(0, 7, "US")]
    assert countries_in("イタリア共和国ウンブリア州ペルージャ県") == [(0, 7, "IT")]
    assert countries_in("ドイツバイエルン州") == [(0, 3, "DE")]


def test_pycountry_japanese_names_are_used():
    table = countries.alias_table()
    assert table["オーストリア共和国"][0] == "AT"  # only in pycountry's translations
    assert table["台湾"][0] == "TW" and table["中国領・台湾"][0] == "TW"
    assert "仏領" not in table and "サンマルタン" not in table  # qualifier; shared by MF and SX


@pytest.mark.parametrize(
    "entities,expected",
    [
        (["京都府", "舞鶴市"], ["京都府"]),
        (["京都府舞鶴市"], ["京都府"]),
        (["北海道札幌市"], ["北海道"]),
        (["東京都渋谷区"], ["東京都"]),
        (["大阪府大阪狭山市"], ["大阪府"]),
        (["京都市"], []),
        (["舞鶴市"], []),
        (["財団法人三重県産業支援センター"], ["三重県"]),
    ],
)
def test_prefectures_of(entities, expected):
    assert prefectures_of(entities) == expected


def test_prefecture_code():
    assert prefecture_code("京都府") == "26"
    assert prefecture_code("北海道") == "01"
    assert prefecture_code("京都") is None


# --------------------------------------------------------------------------- the real survey


@pytest.mark.parametrize("no,text", [x for x in FOREIGN if IRREGULAR.search(x[1]) or not _formal_lead(x[1])],
                         ids=lambda v: str(v)[:30])
def test_every_irregular_foreign_line_is_in_the_table(no, text):
    assert text in FOREIGN_TABLE, f"corpus line {no}: add it with its verified output to foreign_parties.toml"
    ex = FOREIGN_TABLE[text]
    assert split_foreign_entities(text) == ex["expected"]
    assert country_codes(text) == ex["codes"]


@pytest.mark.parametrize("no,text", [x for x in FOREIGN if not IRREGULAR.search(x[1]) and _formal_lead(x[1])],
                         ids=lambda v: str(v)[:30])
def test_every_regular_foreign_line_is_one_party_with_its_country(no, text):
    assert split_foreign_entities(text) == [text]
    start, end, code = countries_in(text)[0]
    assert country_codes(text) == [code]


@pytest.mark.parametrize("no,text", [x for x in JAPANESE if IRREGULAR.search(x[1])], ids=lambda v: str(v)[:30])
def test_every_irregular_japanese_line_is_in_the_table(no, text):
    assert text in JP_TABLE, f"corpus line {no}: add it with its verified output to jp_parties.toml"


@pytest.mark.parametrize("no,text", JAPANESE, ids=lambda v: str(v)[:30])
def test_every_japanese_party_names_a_prefecture_it_starts_with(no, text):
    items = split_jp_entities(text)
    assert items and all(item == item.strip() and item for item in items)
    prefs = prefectures_of(items)
    assert prefs == sorted(set(prefs))
    for item in items:
        lead = [p for p in prefectures.prefectures_in(item)[:1] if item.startswith(p)]
        assert set(lead) <= set(prefs)
    if text in JP_TABLE:
        assert items == JP_TABLE[text]["expected"]
        assert prefs == JP_TABLE[text]["prefectures"]


@pytest.mark.parametrize("no,text", FOREIGN, ids=lambda v: str(v)[:30])
def test_foreign_items_are_clean(no, text):
    items = split_foreign_entities(text)
    assert items
    normal = normalize_foreign(text)
    for item in items:
        assert item and item == item.strip() and "  " not in item
        assert not re.search(r"[、,，]", item)
        assert not item.startswith(("・", "：")) and not item.endswith(("・", "：", "("))
        # as written: printed text (the first member of a member list carries its printed prefix)
        assert item in normal or item.replace(" ", "") in normal.replace(" ", "") or item == items[0]
    codes = country_codes(text)
    assert codes == sorted(set(codes)) and all(re.fullmatch(r"[A-Z]{2}", c) for c in codes)
    assert "JP" not in codes


# --------------------------------------------------------------------------- properties

_NAME = st.text(alphabet=st.sampled_from("あいうアイウカキ市町村県東西北南山川ー"), min_size=1, max_size=8).filter(
    lambda n: n.strip("ー")  # a cell of dashes only means "nothing" (rule empty_field)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_NAME, min_size=1, max_size=6), st.sampled_from(["、", ",", "，", " 、 "]))
def test_split_jp_roundtrip(names, sep):
    assert split_jp_entities(sep.join(names)) == names


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("中華人民共和国大韓アメリカ市州県・、 ：（）()ーバルン"), max_size=40))
def test_foreign_never_crashes_and_items_are_trimmed(text):
    items = split_foreign_entities(text)
    assert all(i and i == i.strip() for i in items)
    assert country_codes(text) == sorted(set(country_codes(text)))


# --------------------------------------------------------------------------- tokenizer / pipeline


@pytest.fixture(scope="module")
def nlp():
    return tokenizer.japanese()


def test_pipeline_is_rules_only(nlp):
    assert nlp.lang == "ja"
    assert nlp.pipe_names == ["entity_ruler", "cardex_countries"]
    assert not any(hasattr(proc, "model") for _name, proc in nlp.pipeline)
    assert nlp.tokenizer.split_mode == "C"
    assert tokenizer.japanese() is nlp  # cached


def test_pipeline_entities(nlp):
    doc = nlp("中華人民共和国黒竜江省")
    assert [(e.text, e.label_, e.id_) for e in doc.ents] == [("中華人民共和国", "COUNTRY", "CN"), ("省", "ADMIN_SUFFIX", "admin")]
    doc = nlp("大韓民国江原道襄陽郡")  # 大韓|民国: a two-token country
    assert ("大韓民国", "COUNTRY", "KR") in [(e.text, e.label_, e.id_) for e in doc.ents]
    doc = nlp("アメリカ合衆国ジョージア州")  # ジョージア州 is no country
    assert [(e.text, e.label_) for e in doc.ents if e.label_ == "COUNTRY"] == [("アメリカ合衆国", "COUNTRY")]
    doc = nlp("財団法人三重県産業支援センター")
    assert [(e.text, e.label_, e.id_) for e in doc.ents] == [("三重県", "PREF", "24")]
    doc = nlp("カステリョン市・セビリア市")
    assert [e.text for e in doc.ents if e.label_ == "ADMIN_SUFFIX"] == ["市", "市"]


def test_spacy_tokens_equal_sudachi_split_mode_c(nlp):
    """The rules' tokens come from spaCy's Japanese tokenizer; they are SudachiPy's mode-C tokens."""
    for _no, text in FOREIGN + JAPANESE:
        assert tokens(text) == sudachi_tokens(text), text


def test_pipeline_countries_agree_with_countries_in(nlp):
    for _no, text in FOREIGN:
        ents = [(e.start_char, e.end_char, e.id_) for e in nlp(text).ents if e.label_ == "COUNTRY"]
        assert ents == countries_in(text), text
    doc = nlp("中華人民共和国大連市")  # Sudachi: 中華|人民|共和|国大|連市
    assert [(e.text, e.label_, e.id_) for e in doc.ents] == [("中華人民共和国", "COUNTRY", "CN")]


def test_pipeline_prefectures(nlp):
    doc = nlp("三重県、三重県津市、財団法人三重県産業支援センター")
    assert [e.text for e in doc.ents if e.label_ == "PREF"][:1] == ["三重県"]


# --------------------------------------------------------------------------- speed


def _all_cards():
    for (_a, jp), (_b, foreign) in zip(JAPANESE, FOREIGN):
        entities = split_jp_entities(jp)
        prefectures_of(entities)
        split_foreign_entities(foreign)
        country_codes(foreign)


def test_speed_per_card():
    _all_cards()  # warm: rule files, alias table, Sudachi dictionary
    tokenizer.tokens.cache_clear()
    t0 = time.perf_counter()
    _all_cards()
    per_card_ms = (time.perf_counter() - t0) * 1000 / len(FOREIGN)
    assert per_card_ms < 2.0, f"{per_card_ms:.3f} ms per card"
