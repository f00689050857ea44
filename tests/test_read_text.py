"""Text reader: encodings, converter markup, page furniture, bad input."""

from pathlib import Path

import pytest

from extractors.document import InputError
from extractors.read_text import clean_markup, decode, read_text

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SURVEY = CORPUS / "002_e59d51f378d5a747.txt"

# Characters of the 2012 report that CP932 or EUC-JP cannot encode, and what a legacy copy prints instead.
LEGACY_STANDINS = str.maketrans({"县": "県", "吳": "呉", "团": "団", "济": "済", "经": "経", "—": "―",
                                 "é": "e", "堉": "〓", "洱": "〓", "시": "〓", "천": "〓"})


def legacy_safe_survey() -> str:
    """The survey with the few characters legacy encodings lack replaced, so every encoding can hold it."""
    return SURVEY.read_text(encoding="utf-8").translate(LEGACY_STANDINS)


def _records(doc):
    """The records of a document, without the columns naming the file they came from."""
    from dataclasses import asdict

    from extractors.pipeline import cards_to_records
    from extractors.segment import document_to_cards

    records, rejects = cards_to_records(document_to_cards(doc).cards, doc, "clair-2012")
    assert len(records) == 175 and rejects == []
    return [{k: v for k, v in asdict(r).items() if k not in ("source_path", "source_sha256")} for r in records]


@pytest.mark.parametrize(
    ("encoding", "newline"),
    [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("cp932", "\r\n"), ("euc_jis_2004", "\n")],
)
def test_encodings_are_detected_and_give_the_same_lines(tmp_path, encoding, newline):
    text = legacy_safe_survey()
    reference = tmp_path / "ref.txt"
    reference.write_text(text, encoding="utf-8")
    copy = tmp_path / f"copy-{encoding}.txt"
    copy.write_bytes(text.replace("\n", newline).encode(encoding))
    doc = read_text(copy)
    assert [ln.text for ln in doc.lines] == [ln.text for ln in read_text(reference).lines]
    assert _records(doc) == _records(read_text(reference))
    assert doc.encoding == encoding


def test_euc_jp_text_is_not_taken_for_cp932_half_width_katakana():
    data = "日本の自治体\t青森県青森市".encode("euc_jp")
    text, encoding = decode(data, "x.txt")
    assert text == "日本の自治体\t青森県青森市"
    assert encoding.startswith("euc")


@pytest.mark.parametrize(
    ("raw", "lines"),
    [
        ("<p>【成果】市民の国際感覚</p> <p>【課題等】継続実施が難しい。</p>", ["【成果】市民の国際感覚", "【課題等】継続実施が難しい。"]),
        ('<ul style="list-style-type: none">・公式訪問団の訪問・受入れ', ["・公式訪問団の訪問・受入れ"]),
        ("<ul> ・ 駅伝競走大会へのロシア・韓国選手団の招へい <p>平成22年から</p> ・ その他",
         ["・ 駅伝競走大会へのロシア・韓国選手団の招へい", "平成22年から", "・ その他"]),
        ("- ・中学校での英語の授業に参加し", ["・中学校での英語の授業に参加し"]),
        ("- (1) 相互交流の促進と訪問団への支援", ["(1) 相互交流の促進と訪問団への支援"]),
        ("--", []),
        ("--\t----", []),
        ("<http://www.town.iwafune.tochigi.jp/>", ["<http://www.town.iwafune.tochigi.jp/>"]),
        ("http://x.jp/a?nd=1&pnp=115&not=1", ["http://x.jp/a?nd=1&pnp=115&not=1"]),
        ("担当部署名\t市民協働推進課\t\t", ["担当部署名\t市民協働推進課\t\t"]),
    ],
)
def test_converter_markup_is_removed(raw, lines):
    assert clean_markup(raw) == lines


def test_page_numbers_and_running_headers_are_dropped(tmp_path):
    src = tmp_path / "r.txt"
    src.write_text("調査結果\n\n① 教育交流\n\n14\n\n調査結果\n\n- 15 -\n本文\n", encoding="utf-8")
    assert [ln.text for ln in read_text(src).lines] == ["調査結果", "① 教育交流", "本文"]


def test_lines_keep_their_source_line_numbers():
    doc = read_text(SURVEY)
    first_card = next(ln for ln in doc.lines if ln.text.startswith("1. 青森市・大連市"))
    assert SURVEY.read_text(encoding="utf-8").splitlines()[first_card.lineno - 1].startswith("1. 青森市・大連市")


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "empty file"), (b"   \n\n", "empty file"), (b"\x00\x01\x02binary", "not a text file (binary content)")],
)
def test_bad_text_input_is_one_line_error(tmp_path, content, problem):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_text(bad)
    assert err.value.problem == problem
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
