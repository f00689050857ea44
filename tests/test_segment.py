"""Segmentation into categories and numbered cards."""

from collections import Counter
from pathlib import Path

import pytest

from extractors.document import Line
from extractors.headings import match_card, match_category, match_field
from extractors.read_text import read_text
from extractors.segment import lines_to_cards

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SURVEY = CORPUS / "002_e59d51f378d5a747.txt"
NO_CARD_REPORTS = sorted(p for p in CORPUS.glob("*.txt") if not p.name.startswith("002_"))


@pytest.fixture(scope="module")
def survey():
    return lines_to_cards(list(read_text(SURVEY).lines))


def test_survey_has_175_cards_in_the_reported_categories(survey):
    per_category = Counter(c.category_code for c in survey.cards)
    assert [per_category[i] for i in range(1, 10)] == [26, 25, 8, 1, 11, 24, 39, 25, 16]
    assert len({(c.category_code, c.card_no) for c in survey.cards}) == 175


def test_24_cards_carry_the_relisting_mark_in_their_own_heading(survey):
    assert sum("【再掲】" in c.heading for c in survey.cards) == 24


def test_table_of_contents_is_read_but_not_cards(survey):
    assert len(survey.toc) == 175
    assert sum("【再掲】" in e.text for e in survey.toc) == 25
    first = survey.toc[0]
    assert (first.category_code, first.card_no, first.page) == (1, 1, 14)


def test_category_names_come_from_the_legend(survey):
    assert survey.legend[7] == "経済交流（商業等）"
    assert survey.legend[9] == "その他交流"
    # the section heading prints 經濟交流 (商業等); the record carries the legend's name
    assert {c.category for c in survey.cards if c.category_code == 7} == {"経済交流（商業等）"}


def test_split_card_numbers_are_joined(survey):
    """Regression: the converter printed `1 1.` for card ⑥11 and `3 2.` for card ⑦32."""
    numbers = {(c.category_code, c.card_no): c.heading for c in survey.cards}
    assert numbers[(6, 11)] == "経済分野等の交流強化に関する覚書"
    assert numbers[(7, 32)] == "共同宣言書（貿易協力港）"


@pytest.mark.parametrize("report", NO_CARD_REPORTS, ids=lambda p: p.name[:3])
def test_reports_without_cards_give_no_cards(report):
    assert lines_to_cards(list(read_text(report).lines)).cards == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [("① 教育交流", (1, "教育交流")), ("⑤ 經濟交流 (農業等)", (5, "經濟交流(農業等)")), ("⑨その他の交流", (9, "その他の交流")),
     ("④医療交流\t\t", (4, "医療交流"))],
)
def test_category_headings(line, expected):
    assert match_category(line) == expected


@pytest.mark.parametrize(
    ("line", "number"),
    [("1. 題", 1), ("1 1. 題", 11), ("１２．題", 12), ("5.\t題", 5), ("3 2. 題", 32)],
)
def test_card_headings(line, number):
    assert match_card(line).number == number


@pytest.mark.parametrize(
    ("line", "number"),
    [("(1) 自治体名", 1), ("（１）自治体名", 1), ("( 1 ) 自 治 体 名", 1), ("(7) 問い合わせ先(担当課)", 7),
     ("(1) 相互交流の促進と訪問団への支援", None), ("日本の自治体\t青森県", None)],
)
def test_field_headings(line, number):
    assert match_field(line) == number


def _lines(*texts, page=None):
    return [Line(text=t, lineno=i + 1, page=page) for i, t in enumerate(texts)]


def test_card_continuing_on_the_next_page_is_one_card():
    lines = [
        *_lines("① 教育交流", "1. 協定", "(1) 自治体名", "日本の自治体\t青森県青森市", page=14),
        *_lines("海外の自治体\t大連市", "(2) 提携年月日", "平成16（2004）年12月24日", page=15),
        *_lines("2. 次の協定", "(1) 自治体名", page=15),
    ]
    cards = lines_to_cards(lines).cards
    assert [(c.card_no, c.page_start, c.page_end) for c in cards] == [(1, 14, 15), (2, 15, 15)]


def test_numbered_list_inside_a_card_does_not_start_a_card():
    lines = _lines("① 教育交流", "1. 協定", "(1) 自治体名", "日本の自治体\tA市", "(3) 提携に至った経緯",
                   "2. 交流の推進", "(4) 提携後の取組内容", "本文", "2. 次の協定", "(1) 自治体名")
    cards = lines_to_cards(lines).cards
    assert [c.heading for c in cards] == ["協定", "次の協定"]
    assert "2. 交流の推進" in [ln.text for ln in cards[0].lines]
