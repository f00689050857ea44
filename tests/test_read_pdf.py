"""PDF reader: layout rules on hand-made glyphs, pages of the 2012 survey, the whole survey against its text twin, bad input."""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

from extractors.document import InputError, Line
from extractors.read_pdf import chars_to_lines, drop_running_furniture, pages_to_logical_lines, read_pdf
from nlp.normalize import LOOKALIKES_TSV, fold_lookalikes, lookalike_table, normalize_width

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SURVEY_PDF = CORPUS / "pdf" / "clair2012_tokutei.pdf"
SURVEY_TXT = CORPUS / "002_e59d51f378d5a747.txt"

# A4 with 20 mm margins, like the survey: body text from x=56.7 to x=538.6.
WIDTH, HEIGHT, LEFT = 595.3, 841.9, 56.7


def glyphs(text: str, x0: float, top: float, size: float = 10.5) -> list[dict]:
    """Glyph dicts as pdfplumber gives them: CJK full width, ASCII half width."""
    out, x = [], x0
    for ch in text:
        w = size * (0.5 if ch.isascii() else 1.0)
        out.append({"text": ch, "x0": x, "x1": x + w, "top": top, "bottom": top + size, "size": size, "upright": True})
        x += w
    return out


def texts(lines: list[Line]) -> list[str]:
    return [ln.text for ln in lines]


def page_lines(chars: list[dict], page: int = 1, rules: list[dict] = ()) -> list[Line]:
    """One synthetic A4 page to logical lines."""
    return pages_to_logical_lines([chars_to_lines(chars, page, WIDTH, HEIGHT, rules)], HEIGHT, WIDTH)


def rule(x0: float, top: float, x1: float, bottom: float) -> dict:
    return {"x0": x0, "top": top, "x1": x1, "bottom": bottom, "object_type": "line"}


def box(x0: float, top: float, x1: float, bottom: float) -> list[dict]:
    """A single-cell ruled box like the survey's (3)-(6) fields."""
    return [rule(x0, top, x1, top), rule(x0, bottom, x1, bottom), rule(x0, top, x0, bottom), rule(x1, top, x1, bottom)]


FULL = "一" * 45  # 45 glyphs of 10.5 pt: ends at 529.2, too close to 538.6 for one more


# ---------------------------------------------------------------------------
# chars -> lines, on hand-made glyphs
# ---------------------------------------------------------------------------


def test_a_line_that_reaches_the_margin_wraps_and_joins_without_a_space():
    chars = glyphs(FULL, LEFT, 100) + glyphs("二三四。", LEFT, 113) + glyphs("次の段落", LEFT, 126)
    assert texts(page_lines(chars)) == [FULL + "二三四。", "次の段落"]


def test_a_line_that_ends_short_ends_its_paragraph():
    chars = glyphs("一" * 42 + "。", LEFT, 100) + glyphs("二三四。", LEFT, 113)
    assert texts(page_lines(chars)) == ["一" * 42 + "。", "二三四。"]


def test_kinsoku_a_glyph_carried_over_with_a_small_kana_still_wraps():
    # The line stopped one glyph short because "なっ" had to move together ("っ" may not start a line).
    chars = glyphs("一" * 44, LEFT, 100) + glyphs("なっている。", LEFT, 113)
    assert texts(page_lines(chars)) == ["一" * 44 + "なっている。"]


@pytest.mark.parametrize("marker", ["・", "○", "【", "※", "(2) ", "（３）", "4.", "- ", "①", "http://x.jp/"])
def test_a_list_item_starts_a_new_line_even_after_a_full_line(marker):
    chars = glyphs("・" + FULL[1:], LEFT, 100) + glyphs(marker + "次の項目", LEFT, 113)
    assert len(page_lines(chars)) == 2


def test_a_title_wrapped_just_before_the_relisted_mark_goes_on():
    chars = glyphs("1. " + "一" * 43, LEFT, 100, size=10.5) + glyphs("【再掲】", LEFT, 113)
    assert texts(page_lines(chars)) == ["1. " + "一" * 43 + "【再掲】"]


def test_a_url_broken_at_the_margin_joins_without_a_space():
    head = "http://www.city.aomori.aomori.jp/info.rbz?nd=1320&ik=1&pnp=115&pnp=429&pnp=540&pnp=123456&"
    tail = "pnp=1320"
    assert len(head) == 90  # 90 half-width glyphs fill the 481.6 pt line to within one glyph
    chars = glyphs(head, LEFT, 100) + glyphs(tail, LEFT, 113)
    assert texts(page_lines(chars)) == [head + tail]


def test_two_urls_on_successive_lines_stay_apart():
    first = "http://www.city.yotsukaido.chiba.jp/shisei/index.html"
    second = "http://www.y-o-c-c-a.org/activity/sistercity/and/a/long/path/that/would/not/fit"
    chars = glyphs(first, LEFT, 100) + glyphs(second, LEFT, 113)
    assert texts(page_lines(chars)) == [first, second]


def test_english_words_wrapped_at_a_space_glyph_join_with_one_space():
    words = "Memorandum of Understanding on industrial collaboration and industrial development and "
    assert len(words) == 87  # "platform" would not have fitted after the trailing space glyph
    chars = glyphs(words, LEFT, 100) + glyphs("platform development", LEFT, 113)
    assert texts(page_lines(chars)) == [words.rstrip() + " platform development"]


def test_a_number_broken_mid_way_joins_without_a_space():
    chars = glyphs("電話番号 " + "0" * 80 + "2", LEFT, 100) + glyphs("33", LEFT, 113)
    assert texts(page_lines(chars))[0].endswith("0233")


def test_doubled_glyphs_of_fake_bold_are_dropped():
    once = glyphs("担当部署名", LEFT, 100)
    twice = once + [dict(g, x0=g["x0"] + 0.3, x1=g["x1"] + 0.3) for g in once]
    assert texts(page_lines(twice)) == ["担当部署名"]


def test_kangxi_and_radical_supplement_lookalikes_are_folded():
    chars = glyphs("⾃治体 ⻘森県⻑野市", LEFT, 100)
    assert texts(page_lines(chars)) == ["自治体 青森県長野市"]


def test_space_glyphs_are_kept_as_printed_inside_a_line_and_dropped_at_its_ends():
    chars = glyphs("　企画課　企画調整担当 ", LEFT, 100)
    assert texts(page_lines(chars)) == ["企画課　企画調整担当"]


def test_cjk_latin_autospacing_is_no_space_but_a_wider_gap_is_one():
    chars = glyphs("平成", LEFT, 100) + glyphs("16", LEFT + 21 + 2.1, 100) + glyphs("年", LEFT + 21 + 2.1 + 10.5 + 2.1, 100)
    chars += glyphs("1.", LEFT, 120) + glyphs("中華", LEFT + 10.5 + 4.5, 120)
    assert texts(page_lines(chars)) == ["平成16年", "1. 中華"]


def test_a_cell_sized_gap_is_a_tab_and_wrapped_cells_of_a_ruleless_table_join():
    # Like the 2012 survey p.47: year, month, text; the text column wraps onto indented lines.
    rows = [
        ("2003年", "5月", "一" * 35, 100),
        (None, None, "続き", 112),
        (None, "6月", "二" * 10, 124),
    ]
    chars = []
    for year, month, text, top in rows:
        if year:
            chars += glyphs(year, 70, top)
        if month:
            chars += glyphs(month, 115, top)
        chars += glyphs(text, 150, top)
    assert texts(page_lines(chars)) == ["2003年\t5月\t" + "一" * 35 + "続き", "\t6月\t" + "二" * 10]


def test_a_toc_title_wrapped_in_its_column_joins_before_the_page_number_cell():
    chars = glyphs("3. " + "一" * 38, 78, 100) + glyphs("16", 523, 100) + glyphs("書」", 98, 114)
    chars += glyphs("4. 短い題", 78, 134) + glyphs("17", 523, 134)
    assert texts(page_lines(chars)) == ["3. " + "一" * 38 + "書」\t16", "4. 短い題\t17"]


def test_ruled_table_rows_are_one_line_each_with_spanned_cells_padded():
    # The (7) table: a department row spanning three columns, then phone and e-mail in four.
    xs_top, xs_bottom = [66.6, 126.7, 538.6], [66.6, 126.7, 268.2, 326.9, 538.6]
    rules = [rule(66.3, y, 538.9, y) for y in (400, 416, 432, 448)]
    rules += [rule(x, 400, x, 432) for x in xs_top] + [rule(x, 432, x, 448) for x in xs_bottom]
    chars = glyphs("担当部署名", 70, 403) + glyphs("市民協働推進課", 130, 403)
    chars += glyphs("環境局 環境施策部", 130, 419)
    chars += glyphs("電話番号", 76, 435) + glyphs("017-734-5235", 130, 435)
    chars += glyphs("電子メール", 271, 435) + glyphs("x@city.aomori.aomori.jp", 330, 435)
    assert texts(page_lines(chars, rules=rules)) == [
        "担当部署名\t市民協働推進課\t\t",
        "\t環境局 環境施策部\t\t",
        "電話番号\t017-734-5235\t電子メール\tx@city.aomori.aomori.jp",
    ]


def test_text_wrapped_inside_a_ruled_cell_is_joined():
    rules = [rule(66.3, y, 538.9, y) for y in (400, 430)] + [rule(x, 400, x, 430) for x in (66.6, 126.7, 268.2, 326.9, 538.6)]
    chars = glyphs("電話番号", 76, 410) + glyphs("099-274-2111 (内線: 223", 130, 402) + glyphs("3)", 130, 415)
    chars += glyphs("電子メール", 271, 410) + glyphs("140201@ken.pref.kochi.lg.jp 020101@ken.", 330, 402)
    chars += glyphs("pref.kochi.lg.jp", 330, 415)
    assert texts(page_lines(chars, rules=rules)) == [
        "電話番号\t099-274-2111 (内線: 2233)\t電子メール\t140201@ken.pref.kochi.lg.jp 020101@ken.pref.kochi.lg.jp"
    ]


def test_a_label_cell_merged_over_two_rows_belongs_to_the_first():
    # The rule between the rows stops at the label column, so the label (centred) spans both rows.
    rules = [rule(66.3, 400, 538.9, 400), rule(126.7, 416, 538.9, 416), rule(66.3, 432, 538.9, 432)]
    rules += [rule(x, 400, x, 432) for x in (66.6, 126.7, 538.6)]
    chars = glyphs("担当部署名", 70, 411) + glyphs("国際課", 130, 403) + glyphs("観光課", 130, 419)
    assert texts(page_lines(chars, rules=rules)) == ["担当部署名\t国際課", "\t観光課"]


def _box_page(page: int, body: list[tuple[str, float]], footer: str) -> list:
    chars = [g for text, top in body for g in glyphs(text, 72.4, top)]
    chars += glyphs(footer, 292, 797, size=10)
    return chars_to_lines(chars, page, WIDTH, HEIGHT, box(66.6, body[0][1] - 4, 538.6, body[-1][1] + 14))


def test_a_boxed_paragraph_crossing_a_page_break_is_joined_and_page_numbers_dropped():
    full = "一" * 43  # 72.4 + 43 * 10.5 = 523.9: no room for one more before 532.8
    page1 = _box_page(14, [("(見出しではない本文)", 700), (full, 713)], "14")
    page2 = _box_page(15, [("続きの文。", 60), ("・次の項目", 73)], "15")
    lines = pages_to_logical_lines([page1, page2], HEIGHT, WIDTH)
    assert texts(lines) == ["(見出しではない本文)", full + "続きの文。", "・次の項目"]
    joined = lines[1]
    assert (joined.page, joined.page_end) == (14, 15)
    assert [b.page for b in joined.boxes] == [14, 15]
    assert [ln.lineno for ln in lines] == [1, 2, 3]


def test_running_headers_and_page_number_footers_are_dropped():
    pages = []
    for no in range(1, 6):
        chars = glyphs("特定分野における提携・協定等に関する調査結果", LEFT, 25, size=9)
        chars += glyphs(f"{no}. " + "青森高知福井長崎"[no : no + 2] + "の提携", LEFT, 47, size=12) if no != 3 else []
        chars += glyphs("本文です。", LEFT, 100)
        chars += glyphs(f"- {no} -", 285, 800, size=10)
        pages.append(chars_to_lines(chars, no, WIDTH, HEIGHT))
    kept = drop_running_furniture(pages, HEIGHT)
    assert [[ln.text for ln in page] for page in kept][:3] == [
        ["1. 森高の提携", "本文です。"],
        ["2. 高知の提携", "本文です。"],
        ["本文です。"],
    ]


def test_a_header_on_too_few_pages_is_kept():
    pages = [
        chars_to_lines(glyphs("一度だけの見出し" if no == 1 else f"第{no}頁の題", LEFT, 25), no, WIDTH, HEIGHT)
        for no in (1, 2, 3, 4)
    ]
    kept = drop_running_furniture(pages, HEIGHT)
    assert [[ln.text for ln in page] for page in kept] == [["一度だけの見出し"], [], [], []]


# ---------------------------------------------------------------------------
# look-alike folding data
# ---------------------------------------------------------------------------


def test_lookalike_table_covers_the_kangxi_block_as_nfkc_does():
    table = lookalike_table()
    for cp in range(0x2F00, 0x2FD6):
        assert table[cp] == unicodedata.normalize("NFKC", chr(cp))
    assert fold_lookalikes("⻘⻑⻄⻝⺟⻭") == "青長西食母歯"


def test_lookalike_tsv_lists_radical_supplement_entries_explicitly():
    rows = [r.split("\t") for r in LOOKALIKES_TSV.read_text(encoding="utf-8").splitlines() if r.startswith("U+2E")]
    assert len(rows) >= 110
    assert ["U+2ED8", "⻘", "青", "by name: CJK RADICAL BLUE"] in rows


def test_folding_keeps_full_width_brackets_and_normalize_width_maps_ascii():
    assert fold_lookalikes("平成16（2004）年") == "平成16（2004）年"
    assert normalize_width("０１７－７３４－５２３５＠ｘ") == "017-734-5235@x"


# ---------------------------------------------------------------------------
# pages of the 2012 survey
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    """A few pages of the survey: ToC (5, 10-11), cards ①1 (14), ②7-8 (47-48), ⑦27 (141)."""
    return read_pdf(SURVEY_PDF, pages=[5, 10, 11, 14, 47, 48, 141])


def on_page(doc, page: int) -> list[str]:
    return [ln.text for ln in doc.lines if ln.page == page]


CARD_1_1 = [
    "1. 青森市・大連市経済文化交流委員会設置に関する協定",
    "(1) 自治体名",
    "日本の自治体\t青森県青森市",
    "海外の自治体\t中華人民共和国大連市",
    "(2) 提携年月日",
    "平成16（2004）年12月24日",
    "(3) 提携に至った経緯",
    "平成16年5月、青森市の東奥日報社と大連市の大連日報社の友好社締結を受け、青森市が友好交流の趣旨に賛同した。",
    "(4) 提携後の取組内容",
    "・公式訪問団の訪問・受入れ・小・中学指定校による作品交流（平成20年度まで）",
    "・棟方志功賞版画展入賞作品を大連市芸術展覧会に送付（平成17年のみ）",
    "(5) 取組による成果・課題等",
    "【成果】市民の国際感覚の醸成、コミュニケーション能力向上、異文化理解の涵養が図られた。",
    "【課題等】指定校交流は各学校長の意向に左右されるため、継続実施が難しい。",
    "(6) 取組を紹介しているホームページのURL",
    "http://www.city.aomori.aomori.jp/info.rbz?nd=1320&ik=1&pnp=115&pnp=429&pnp=540&pnp=1320",
    "(7) 問い合わせ先（担当課）",
    "担当部署名\t市民協働推進課\t\t",
    "電話番号\t017-734-5235\t電子メール\tshiminkyoudou@city.aomori.aomori.jp",
]


def test_page_14_gives_card_1_1_line_for_line(sample):
    assert on_page(sample, 14) == CARD_1_1
    twin = SURVEY_TXT.read_text(encoding="utf-8")
    assert all(line in twin for line in CARD_1_1)  # the text twin has each (it merges the (4) items into one line)
    wrapped = next(ln for ln in sample.lines if ln.text.startswith("http://www.city.aomori"))
    assert len(wrapped.boxes) == 2 and wrapped.page == 14 and wrapped.page_end is None


def test_ruleless_table_in_a_field_keeps_its_columns(sample):
    lines = on_page(sample, 47)
    assert "2003年\t5月\t「日本国高知県と大韓民国全羅南道の観光・文化交流協定書」締結 全羅南道 朴泰榮(パクテヨン) 知事一行が来高し高知市で締結" in lines
    assert "\t6月\t自治体職員協力交流事業で全羅南道職員1人が高知県庁で研修(～11月)" in lines
    assert "電話番号\t088-823-9605 088-823-9608\t電子メール\t140201@ken.pref.kochi.lg.jp 020101@ken.pref.kochi.lg.jp" in lines


def test_a_phone_wrapped_in_its_cell_is_whole(sample):
    assert "電話番号\t099-274-2111 (内線: 2233)\t電子メール\tjishin01@city.hioki.lg.jp" in on_page(sample, 48)


def test_department_continued_on_further_table_rows(sample):
    lines = on_page(sample, 141)
    i = lines.index("担当部署名\t政策企画室 秘書部 国際交流推進担当\t\t")
    assert lines[i + 1 : i + 4] == [
        "\t環境局 環境施策部 環境施策課\t\t",
        "\t建設局 下水道河川部 水環境課\t\t",
        "電話番号\t06-6208-7246\t電子メール\taa0006@city.osaka.lg.jp",
    ]
    assert "（職員の長期派遣）\thttp://www.city.osaka.lg.jp/kensetsu/page/0000140541.html" in lines


def test_toc_entries_keep_their_page_number_cell(sample):
    lines = on_page(sample, 5)
    assert "3. 中華人民共和国浙江省天台県－栃木県岩舟町 「教育及び文化の友好交流に関する覚書」\t16" in lines
    i = lines.index("19. オーストラリア連邦南オーストラリア州－岡山県\t32")
    assert lines[i + 1] == "「教員交換事業合意書」"


def test_a_toc_entry_crossing_a_page_break_is_one_line(sample):
    entry = next(ln for ln in sample.lines if ln.text.startswith("39. ロシア連邦ハバロフスク地方"))
    assert entry.text == "39. ロシア連邦ハバロフスク地方、沿海地方、サハリン州－北海道 「経済協力発展プログラム」\t153"
    assert (entry.page, entry.page_end) == (10, 11)


def test_page_numbers_are_not_lines_and_document_facts(sample):
    assert not any(re.fullmatch(r"\d+", ln.text) for ln in sample.lines)
    assert sample.kind == "pdf" and sample.page_count == 196
    assert sample.sha256 == hashlib.sha256(SURVEY_PDF.read_bytes()).hexdigest()
    assert [ln.lineno for ln in sample.lines] == list(range(1, len(sample.lines) + 1))
    assert all(ln.boxes and all(b.page == ln.page or b.page == ln.page_end for b in ln.boxes) for ln in sample.lines)


def test_pages_out_of_range_are_a_value_error():
    with pytest.raises(ValueError):
        read_pdf(SURVEY_PDF, pages=[0])


# ---------------------------------------------------------------------------
# the whole survey against its text twin (the one test that reads every page)
# ---------------------------------------------------------------------------

_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_CARD = re.compile(r"^([0-9][0-9 ]*)\.\s*\S")
_FIELD = re.compile(r"^[(（]([1-7])[)）]")


def twin_lines() -> list[str]:
    """The text twin without converter markup (tags, <url> brackets, `--` rules, Markdown bullets)."""
    out = []
    for raw in SURVEY_TXT.read_text(encoding="utf-8").splitlines():
        for piece in _TAG.sub("\n", re.sub(r"<(https?://[^>]+)>", r"\1", raw)).split("\n"):
            piece = re.sub(r"^- (?=\S)", "", piece if "\t" in piece else piece.strip())
            if piece.strip() and not re.fullmatch(r"-{2,}", piece.strip()):
                out.append(piece)
    return out


def cards_of(lines: list[str]) -> dict[tuple[str, int], dict[int | str, list[str]]]:
    """(category, card no) -> heading and field lines, for cards after a category heading ①..⑨."""
    cards: dict = {}
    cat = cur = None
    field = 0
    for i, text in enumerate(lines):
        if "\t" not in text and re.match(r"^[①-⑨]", text) and len(text) < 20:
            cat, cur = text[0], None
        elif cat and "\t" not in text and _CARD.match(text) and any(_FIELD.match(x) for x in lines[i + 1 : i + 2]):
            cur = cards[(cat, int(_CARD.match(text).group(1).replace(" ", "")))] = defaultdict(list, heading=[text])
            field = 0
        elif cur is not None and "\t" not in text and (m := _FIELD.match(text)) and int(m.group(1)) == field + 1:
            field += 1
        elif cur is not None and field:
            cur[field].append(text)
    return cards


@pytest.fixture(scope="module")
def survey():
    return read_pdf(SURVEY_PDF)


def test_every_card_of_the_survey_matches_the_text_twin(survey):
    squeeze = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    gone = lambda lines: re.sub(r"\s", "", "".join(lines))  # noqa: E731
    pdf, twin = cards_of([ln.text for ln in survey.lines]), cards_of(twin_lines())
    assert len(twin) == 175 and pdf.keys() == twin.keys()
    for key, card in twin.items():
        got = pdf[key]
        for part in ("heading", 1, 2, 7):  # printed as is: exact up to runs of white space
            assert [squeeze(x) for x in got[part]] == [squeeze(x) for x in card[part]], (key, part)
        for part in (3, 4, 5, 6):  # the converter merged list items onto one line: compare the characters
            assert gone(got[part]) == gone(card[part]), (key, part)
    assert not any(re.fullmatch(r"[0-9]+", ln.text) for ln in survey.lines)  # no page numbers
    pages = [ln.page for ln in survey.lines]
    assert survey.page_count == 196 and pages == sorted(pages) and set(pages) >= set(range(13, 197))


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for b in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(b ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def encrypted_pdf(password: bytes = b"secret") -> bytes:
    """A one-page PDF under the standard security handler (RC4 40-bit, revision 2) with a user password."""
    padded = (password + _PAD)[:32]
    owner = _rc4(hashlib.md5(padded).digest()[:5], padded)
    perms, file_id = -4, b"0123456789abcdef"
    user = _rc4(hashlib.md5(padded + owner + struct.pack("<i", perms) + file_id).digest()[:5], _PAD)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (owner.hex().encode(), user.hex().encode(), perms),
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    fid = file_id.hex().encode()
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>] >>\n" % (len(objects) + 1, fid, fid)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def image_only_pdf(path: Path) -> None:
    """A scan-like PDF: page 14 of the survey rendered to pixels and saved as an image PDF."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(SURVEY_PDF))
    try:
        pdf[13].render(scale=0.4).to_pil().save(path)
    finally:
        pdf.close()


@pytest.mark.parametrize(
    ("name", "make", "problem"),
    [
        ("empty.pdf", lambda p: p.write_bytes(b""), "empty file"),
        ("random.pdf", lambda p: p.write_bytes(bytes(range(256)) * 16), "not a PDF"),
        ("truncated.pdf", lambda p: p.write_bytes(SURVEY_PDF.read_bytes()[:400_000]), "truncated PDF"),
        ("garbled.pdf", lambda p: p.write_bytes(b"%PDF-1.4\nno objects here\n%%EOF\n"), "corrupt or truncated PDF"),
        ("locked.pdf", lambda p: p.write_bytes(encrypted_pdf()), "encrypted"),
        ("scan.pdf", image_only_pdf, "no text layer (scanned image?)"),
    ],
)
def test_bad_input_is_an_input_error_with_a_one_line_problem(tmp_path, name, make, problem):
    path = tmp_path / name
    make(path)
    with pytest.raises(InputError) as caught:
        read_pdf(path)
    assert problem in caught.value.problem
    assert "\n" not in str(caught.value) and caught.value.path == str(path)


def test_the_encrypted_fixture_is_a_real_encrypted_pdf():
    import io

    import pdfplumber

    with pdfplumber.open(io.BytesIO(encrypted_pdf()), password="secret") as pdf:
        assert len(pdf.pages) == 1


def test_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read file"):
        read_pdf(tmp_path / "absent.pdf")


FREE_TEXT = ("background", "activities", "outcomes")
# Where a card came from, not what it says: differs between the PDF and its text twin by design.
SOURCE_COLUMNS = ("source_path", "source_sha256", "page_start", "page_end", "provenance")


def test_pdf_gives_the_same_records_as_its_text_twin(survey):
    """The 175 cards of the PDF carry the same values as the converter text, pages filled in.

    Free text may differ only in white space: the converter flattened some HTML lists onto one
    line, and the PDF cannot tell a paragraph that ends flush with the right margin from a wrap.
    """
    import json

    from extractors.pipeline import cards_to_records
    from extractors.read_text import read_text
    from extractors.segment import document_to_cards

    def records(doc):
        recs, rejects = cards_to_records(document_to_cards(doc).cards, doc, "clair-2012")
        assert rejects == []
        return {r.card_id: r for r in recs}

    pdf, text = records(survey), records(read_text(SURVEY_TXT))
    assert len(pdf) == len(text) == 175
    pagemap = {e["card_id"]: e for e in json.loads((CORPUS / "pdf" / "clair2012_tokutei.pagemap.json").read_text())}
    differences = []
    for card_id, t in text.items():
        p = pdf[card_id]
        assert (p.page_start, p.page_end) == (pagemap[card_id]["page_start"], pagemap[card_id]["page_end"])
        assert (t.page_start, t.page_end) == (None, None)
        for name in t.__dataclass_fields__:
            if name in SOURCE_COLUMNS:
                continue
            a, b = getattr(t, name), getattr(p, name)
            if name in FREE_TEXT:
                a, b = re.sub(r"\s", "", a), re.sub(r"\s", "", b)
            if a != b:
                differences.append(f"{card_id} {name}: text {a!r} pdf {b!r}")
    assert differences == []
