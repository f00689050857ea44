"""Field (2) 提携年月日: nlp/dates.py."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractors import validate as V
from nlp.dates import ParsedDate, eras, load_rules, normalize, parse_agreement_date

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "002_e59d51f378d5a747.txt"

# Every (2) block of the survey that is not in the regular form `平成N（YYYY）年M月D日`,
# plus the regular ones whose era and western year disagree and the 昭和 ones.
# (line of the value in the corpus file, value as printed, expected date, precision, warnings);
# each expectation checked by reading the printed value.
CORPUS_CASES = [
    (520, "平成11（1999）年8月", dt.date(1999, 8, 1), "month", ()),
    (773, "平成13(2001)年6月", dt.date(2001, 6, 1), "month", ()),
    (805, "平成23(2011)年8月", dt.date(2011, 8, 1), "month", ()),
    (950, "平成18(2006)年5月15日", dt.date(2006, 5, 15), "day", ()),
    (1018, "平成10(1998)年6月8日", dt.date(1998, 6, 8), "day", ()),
    (1052, "平成4（1992）年6月", dt.date(1992, 6, 1), "month", ()),
    (1185, "平成20(2008)年8月7日", dt.date(2008, 8, 7), "day", ()),
    (1289, "平成20（2010）年11月4日", dt.date(2010, 11, 4), "day", (V.DATE_ERA_MISMATCH,)),
    (
        1427,
        "平成13(2001)年5月26日 (・・・旧 八日市市)\n(※東近江市合併後、平成18年(2006)年3月16日に改めて締結した)",
        dt.date(2001, 5, 26),
        "day",
        (V.MULTIPLE_DATES,),
    ),
    (1499, "平成15(2003)年5月30日", dt.date(2003, 5, 30), "day", ()),
    (1549, "平成20(2008)年5月1日", dt.date(2008, 5, 1), "day", ()),
    (1617, "平成20（2010）年8月28日", dt.date(2010, 8, 28), "day", (V.DATE_ERA_MISMATCH,)),
    (1826, "昭和60(1985)年5月22日", dt.date(1985, 5, 22), "day", ()),
    (1911, "平成13（2001）年6月", dt.date(2001, 6, 1), "month", ()),
    (1984, "平成22（2012）年7月6日", dt.date(2012, 7, 6), "day", (V.DATE_ERA_MISMATCH,)),
    (2121, "平成20(2008)年8月4日", dt.date(2008, 8, 4), "day", ()),
    (2325, "昭和59（1984）年10月7日", dt.date(1984, 10, 7), "day", ()),
    (2359, "平成7（1995）年", dt.date(1995, 1, 1), "year", ()),
    (2427, "平成23(2011)年10月28日", dt.date(2011, 10, 28), "day", ()),
    (2569, "昭和60（1985）年4月17日", dt.date(1985, 4, 17), "day", ()),
    (2641, "昭和61(1986)年1月", dt.date(1986, 1, 1), "month", ()),
    (2740, "平成21(2009)年11月18日", dt.date(2009, 11, 18), "day", ()),
    (
        2772,
        "平成22(2010)年11月8日 (※有効期間：平成24(2012)年の末まで)\n--",
        dt.date(2010, 11, 8),
        "day",
        (V.MULTIPLE_DATES,),
    ),
    (2942, "平成23(2011)年5月18日", dt.date(2011, 5, 18), "day", ()),
    (2975, "平成23(2011)年5月18日", dt.date(2011, 5, 18), "day", ()),
    (3281, "平成23(2011)年6月8日", dt.date(2011, 6, 8), "day", ()),
    (
        3382,
        "平成18（2006）年11月2日（※更新：平成23（2011）年10月17日）",
        dt.date(2006, 11, 2),
        "day",
        (V.MULTIPLE_DATES,),
    ),
    (3486, "平成20（2008）年4月23日、平成24（2012）年6月12日", dt.date(2008, 4, 23), "day", (V.MULTIPLE_DATES,)),
    (3924, "--", None, "none", (V.MISSING_DATE,)),
    (4097, "平成15(2003)年2月6日", dt.date(2003, 2, 6), "day", ()),
    (4230, "平成21(2009)年11月11日", dt.date(2009, 11, 11), "day", ()),
    (4296, "平成20(2008)年5月21日", dt.date(2008, 5, 21), "day", ()),
    (4331, "平成15(2003)年5月30日", dt.date(2003, 5, 30), "day", ()),
    (4421, "平成19（2009）年5月14日", dt.date(2009, 5, 14), "day", (V.DATE_ERA_MISMATCH,)),
    (4455, "昭和63（1988）年3月31日", dt.date(1988, 3, 31), "day", ()),
    (4523, "平成17(2005)年5月23日", dt.date(2005, 5, 23), "day", ()),
    (4661, "昭和54（1979）年3月31日", dt.date(1979, 3, 31), "day", ()),
    (4695, "平成17(2005)年11月3日", dt.date(2005, 11, 3), "day", ()),
    (4764, "平成 1 1 （ 1 9 9 9 ） 年 8 月 3 日", dt.date(1999, 8, 3), "day", ()),
    (4866, "平成17(2005)年11月2日", dt.date(2005, 11, 2), "day", ()),
    (
        4901,
        "黒竜江省：平成元（1989）年11月11日\n吉林省：平成元（1989）年11月13日\n遼寧省：平成元（1989）年11月15日",
        dt.date(1989, 11, 11),
        "day",
        (V.MULTIPLE_DATES,),
    ),
    (
        5002,
        "当初プログラム：平成4（1992）年9月3日 現行（第4期）プログラム：平成20（2008）年2月18日",
        dt.date(1992, 9, 3),
        "day",
        (V.MULTIPLE_DATES,),
    ),
    (5347, "平成13(2001)年2月1日", dt.date(2001, 2, 1), "day", ()),
    (5500, "平成24(2012)年6月28日", dt.date(2012, 6, 28), "day", ()),
    (5678, "平成18(2006)年5月31日", dt.date(2006, 5, 31), "day", ()),
    (5888, "平成4（1992）年から開始", dt.date(1992, 1, 1), "year", ()),
    (6006, "平成3（1991）年10月", dt.date(1991, 10, 1), "month", ()),
    (6148, "平成20(2008)年5月21日", dt.date(2008, 5, 21), "day", ()),
    (6182, "平成21(2009)年9月28日", dt.date(2009, 9, 28), "day", ()),
    (6358, "平成20(2008)年4月23日、平成24(2012)年6月12日", dt.date(2008, 4, 23), "day", (V.MULTIPLE_DATES,)),
    (6394, "平成18(2006)年5月31日", dt.date(2006, 5, 31), "day", ()),
]

OTHER_CASES = [
    # the brief's forms that the corpus lacks
    ("平成１１（１９９９）年", dt.date(1999, 1, 1), "year", ()),
    ("平成２４年４月４日", dt.date(2012, 4, 4), "day", ()),
    ("２０１２年４月４日", dt.date(2012, 4, 4), "day", ()),
    ("2012年4月4日", dt.date(2012, 4, 4), "day", ()),
    ("2012年4月", dt.date(2012, 4, 1), "month", ()),
    ("2012年", dt.date(2012, 1, 1), "year", ()),
    ("2012/4/4", dt.date(2012, 4, 4), "day", ()),
    ("2012(平成24)年4月4日", dt.date(2012, 4, 4), "day", ()),
    ("2010(平成20)年4月4日", dt.date(2010, 4, 4), "day", (V.DATE_ERA_MISMATCH,)),
    ("平成24年(2012年)4月4日", dt.date(2012, 4, 4), "day", ()),
    ("平成18年(2006)年3月16日", dt.date(2006, 3, 16), "day", ()),  # malformed but readable
    ("令和元年5月1日", dt.date(2019, 5, 1), "day", ()),
    ("令和元(2019)年", dt.date(2019, 1, 1), "year", ()),
    ("平成元年", dt.date(1989, 1, 1), "year", ()),
    ("H元.5.1", dt.date(1989, 5, 1), "day", ()),
    ("R1.5.1", dt.date(2019, 5, 1), "day", ()),
    ("昭和64(1989)年1月7日", dt.date(1989, 1, 7), "day", ()),
    ("平成元年1月7日", dt.date(1989, 1, 7), "day", (V.DATE_OUTSIDE_ERA,)),
    ("令和元(2019)年4月30日", dt.date(2019, 4, 30), "day", (V.DATE_OUTSIDE_ERA,)),
    ("平成20（2008）年2月\n18日", dt.date(2008, 2, 18), "day", ()),  # a PDF line break inside the date
    ("<p>平成16（2004）年12月24日</p>", dt.date(2004, 12, 24), "day", ()),
    ("平成24年4月4日、平成24年4月4日", dt.date(2012, 4, 4), "day", ()),  # the same date twice
    ("平成25年3月1日、平成24年", dt.date(2012, 1, 1), "year", (V.MULTIPLE_DATES,)),
    ("平成24年2月29日", dt.date(2012, 2, 29), "day", ()),  # 2012 is a leap year
    # impossible dates: nothing, never a neighbouring plausible date
    ("平成23年2月29日", None, "none", (V.INVALID_DATE,)),
    ("平成24年2月30日", None, "none", (V.INVALID_DATE,)),
    ("平成24年13月1日", None, "none", (V.INVALID_DATE,)),
    ("平成24年4月0日", None, "none", (V.INVALID_DATE,)),
    ("平成0年4月1日", None, "none", (V.INVALID_DATE,)),
    ("平成24年4月4日、平成23年2月30日", None, "none", (V.INVALID_DATE,)),
    # no date
    ("", None, "none", (V.MISSING_DATE,)),
    ("  \n", None, "none", (V.MISSING_DATE,)),
    ("－－", None, "none", (V.MISSING_DATE,)),
    ("なし", None, "none", (V.MISSING_DATE,)),
    ("不明", None, "none", (V.DATE_UNREADABLE,)),
    ("昭和40年代", None, "none", (V.DATE_UNREADABLE,)),
    ("平成23年度", None, "none", (V.DATE_FISCAL_YEAR,)),
    ("平成23年度、平成24年4月1日", dt.date(2012, 4, 1), "day", ()),
]


def _check(result: ParsedDate, date, precision, warnings) -> None:
    assert result == ParsedDate(date, precision, tuple(warnings))


@pytest.mark.parametrize(("line", "raw", "date", "precision", "warnings"), CORPUS_CASES, ids=[str(c[0]) for c in CORPUS_CASES])
def test_corpus_irregular_dates(line, raw, date, precision, warnings):
    _check(parse_agreement_date(raw), date, precision, warnings)


@pytest.mark.parametrize(("raw", "date", "precision", "warnings"), OTHER_CASES, ids=[c[0] for c in OTHER_CASES])
def test_other_forms(raw, date, precision, warnings):
    _check(parse_agreement_date(raw), date, precision, warnings)


@pytest.mark.parametrize("example", load_rules()["example"], ids=lambda e: e["raw"])
def test_examples_of_the_era_table(example):
    _check(parse_agreement_date(example["raw"]), example.get("date"), example["precision"], example["warnings"])


def _corpus_lines() -> list[str]:
    if not CORPUS.exists():
        pytest.skip("corpus not present")
    return CORPUS.read_text(encoding="utf-8").split("\n")


def test_corpus_cases_are_printed_where_listed():
    lines = _corpus_lines()
    for line, raw, *_ in CORPUS_CASES:
        printed = [ln for ln in lines[line - 1 : line + 3] if ln.strip()]
        assert "\n".join(printed[: raw.count("\n") + 1]) == raw, line


def _date_blocks(lines: list[str]) -> list[tuple[int, str]]:
    """(line of the value, value) of every (2) 提携年月日 block of the corpus."""
    blocks = []
    for i, line in enumerate(lines):
        if re.match(r"\s*[(（]\s*2\s*[)）]\s*提携年月日", line):
            j, value = i + 1, []
            while not re.match(r"\s*[(（]\s*3\s*[)）]", lines[j]):
                if lines[j].strip():
                    value.append((j + 1, lines[j]))
                j += 1
            blocks.append((value[0][0] if value else i + 1, "\n".join(v for _, v in value)))
    return blocks


def test_every_corpus_date():
    """All 175 blocks: the regular ones against an independent reading, the rest against CORPUS_CASES."""
    blocks = _date_blocks(_corpus_lines())
    assert len(blocks) == 175
    listed = {c[0]: c for c in CORPUS_CASES}
    regular = re.compile(r"(平成|昭和)(\d+)（(\d{4})）年(\d+)月(\d+)日")
    start = {"平成": 1989, "昭和": 1926}
    for line, raw in blocks:
        result = parse_agreement_date(raw)
        if line in listed:
            assert listed[line][1] == raw
            continue
        m = regular.fullmatch(raw)
        assert m, f"line {line}: irregular date not in CORPUS_CASES: {raw!r}"
        era, n, year, month, day = m.groups()
        assert start[era] + int(n) - 1 == int(year), line  # mismatches are all listed
        assert result == ParsedDate(dt.date(int(year), int(month), int(day)), "day", ()), line


def test_era_table():
    names = [e.name for e in eras()]
    assert names == ["明治", "大正", "昭和", "平成", "令和"]
    assert [e.start for e in eras()] == sorted(e.start for e in eras())
    assert eras()[3].start == dt.date(1989, 1, 8) and eras()[3].end == dt.date(2019, 5, 1)
    assert eras()[-1].end is None
    assert eras()[4].year(1) == 2019


def test_normalize():
    assert normalize("平成 1 1 （ 1 9 9 9 ） 年") == "平成11(1999)年"


def test_warnings_are_registered():
    for _, raw, *_ in CORPUS_CASES:
        assert not V.unregistered(parse_agreement_date(raw).warnings)
    for example in load_rules()["example"]:
        assert not V.unregistered(example["warnings"])


_HEISEI = st.dates(min_value=dt.date(1989, 1, 8), max_value=dt.date(2019, 4, 30))
_FULL = str.maketrans("0123456789()", "０１２３４５６７８９（）")


@settings(max_examples=200, deadline=None)
@given(date=_HEISEI, gensui=st.booleans(), width=st.sampled_from(["half", "full", "spaced"]))
def test_any_heisei_date_round_trips(date, gensui, width):
    n = date.year - 1988
    era_year = "元" if n == 1 and gensui else str(n)
    raw = f"平成{era_year}({date.year})年{date.month}月{date.day}日"
    if width == "full":
        raw = raw.translate(_FULL)
    elif width == "spaced":
        raw = " ".join(raw)
    assert parse_agreement_date(raw) == ParsedDate(date, "day", ())
