"""Field (7) 問い合わせ先（担当課）: nlp/contacts.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from extractors import validate as V
from extractors.records import Phone
from nlp.contacts import Contact, load_rules, parse_contact, parse_emails, parse_phones

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "002_e59d51f378d5a747.txt"


def P(number: str, extension: str | None = None) -> Phone:
    return Phone(number=number, extension=extension)


# Irregular (7) tables of the survey: (first line in the corpus file, the table rows as printed,
# expected department, phones, e-mails, warnings); each expectation checked by reading the rows.
CORPUS_CASES = [
    (
        410,
        ("担当部署名\t市民協働推進課\t\t", "電話番号\t017-734-5235\t電子メール\tshiminkyoudou@city.aomori.aomori.jp"),
        "市民協働推進課",
        (P("017-734-5235"),),
        ("shiminkyoudou@city.aomori.aomori.jp",),
        (),
    ),
    (  # extension in full-width brackets, no colon
        508,
        ("担当部署名\t総務課\t\t", "電話番号\t0254-27-2111（内線228）\t電子メール\tsoumu@town.seiro.niigata.jp"),
        "総務課",
        (P("0254-27-2111", "228"),),
        ("soumu@town.seiro.niigata.jp",),
        (),
    ),
    (  # department in full-width brackets, kept as printed
        605,
        ("担当部署名\t教育部生涯学習課（浜田市生徒国際交流事業実行委員会）\t\t", "電話番号\t0855-25-9720\t電子メール\tmanabi@city.hamada.shimane.jp"),
        "教育部生涯学習課（浜田市生徒国際交流事業実行委員会）",
        (P("0855-25-9720"),),
        ("manabi@city.hamada.shimane.jp",),
        (),
    ),
    (  # neither phone nor e-mail
        938,
        ("担当部署名\t教育委員会 文化課 体育保健課\t\t", "電話番号\t\t電子メール\t"),
        "教育委員会 文化課 体育保健課",
        (),
        (),
        (V.MISSING_PHONE, V.MISSING_EMAIL),
    ),
    (  # an upper-case address (a zero where an O is expected): kept as printed
        1073,
        ("担当部署名\t子ども家庭部 児童青少年課\t\t", "電話番号\t0422-60-1853\t電子メール\tSEC-JIDOUSEISY0@city.musashino.lg.jp"),
        "子ども家庭部 児童青少年課",
        (P("0422-60-1853"),),
        ("SEC-JIDOUSEISY0@city.musashino.lg.jp",),
        (),
    ),
    (  # two numbers and two addresses in one cell each; 、 in the department
        1537,
        (
            "担当部署名\t文化生活部 文化・国際課、観光振興部 観光政策課\t\t",
            "電話番号\t088-823-9605 088-823-9608\t電子メール\t140201@ken.pref.kochi.lg.jp 020101@ken.pref.kochi.lg.jp",
        ),
        "文化生活部 文化・国際課、観光振興部 観光政策課",
        (P("088-823-9605"), P("088-823-9608")),
        ("140201@ken.pref.kochi.lg.jp", "020101@ken.pref.kochi.lg.jp"),
        (),
    ),
    (  # extension `(内線: 2233)`
        1571,
        ("担当部署名\t東市来支所 地域振興課 自治振興係\t\t", "電話番号\t099-274-2111 (内線: 2233)\t電子メール\tjishin01@city.hioki.lg.jp"),
        "東市来支所 地域振興課 自治振興係",
        (P("099-274-2111", "2233"),),
        ("jishin01@city.hioki.lg.jp",),
        (),
    ),
    (  # e-mail label in the department row, phone row without e-mail
        1848,
        ("担当部署名\t文化振興課\t電子メール\tkokusai@city.shibuya.tokyo.jp", "電話番号\t03-3463-1142\t\t"),
        "文化振興課",
        (P("03-3463-1142"),),
        ("kokusai@city.shibuya.tokyo.jp",),
        (),
    ),
    (  # extension `（内線：2456）`
        1972,
        ("担当部署名\t県民生活部 文化芸術課\t\t", "電話番号\t052-954-6184（内線：2456）\t電子メール\tbunka@pref.aichi.lg.jp"),
        "県民生活部 文化芸術課",
        (P("052-954-6184", "2456"),),
        ("bunka@pref.aichi.lg.jp",),
        (),
    ),
    (  # no e-mail
        2004,
        ("担当部署名\t教育委員会\t\t", "電話番号\t0855-72-0594\t電子メール\t"),
        "教育委員会",
        (P("0855-72-0594"),),
        (),
        (V.MISSING_EMAIL,),
    ),
    (  # half-width brackets in the department
        2143,
        (
            "担当部署名\t教育委員会 文化会館 人形劇のまちづくり係 (飯田人形劇フェスタ実行委員会事務局)\t\t",
            "電話番号\t0265-24-4478\t電子メール\tsports@city.iida.nagano.jp",
        ),
        "教育委員会 文化会館 人形劇のまちづくり係 (飯田人形劇フェスタ実行委員会事務局)",
        (P("0265-24-4478"),),
        ("sports@city.iida.nagano.jp",),
        (),
    ),
    (
        2245,
        ("担当部署名\t教育委員会 生涯学習スポーツ課\t\t", "電話番号\t0265-22-4511（内線：5572）\t電子メール\tsports@city.iida.nagano.jp"),
        "教育委員会 生涯学習スポーツ課",
        (P("0265-22-4511", "5572"),),
        ("sports@city.iida.nagano.jp",),
        (),
    ),
    (  # labels swapped between columns, second case
        2663,
        ("担当部署名\t農林部 農政課\t電子メール\ts07010@pref.nagasaki.lg.jp", "電話番号\t095-895-2919\t\t"),
        "農林部 農政課",
        (P("095-895-2919"),),
        ("s07010@pref.nagasaki.lg.jp",),
        (),
    ),
    (
        2793,
        ("担当部署名\t経済部 産業振興課\t\t", "電話番号\t0466-25-1111 (内線: 3413)\t電子メール\tindus@city.fujisawa.kanagawa.jp"),
        "経済部 産業振興課",
        (P("0466-25-1111", "3413"),),
        ("indus@city.fujisawa.kanagawa.jp",),
        (),
    ),
    (  # no phone
        3370,
        ("担当部署名\t上下水道局海外事業課\t\t", "電話番号\t\t電子メール\tsui-jigyou@city.kitakyushu.lg.jp"),
        "上下水道局海外事業課",
        (),
        ("sui-jigyou@city.kitakyushu.lg.jp",),
        (V.MISSING_PHONE,),
    ),
    (  # 00561-… : complete, read as printed, but no valid Japanese number
        3640,
        ("担当部署名\t交流活力部 交流学び課\t\t", "電話番号\t00561-97-1336\t電子メール\tkoryu@city.seto.lg.jp"),
        "交流活力部 交流学び課",
        (P("00561-97-1336"),),
        ("koryu@city.seto.lg.jp",),
        (V.SUSPICIOUS_PHONE,),
    ),
    (  # mixed-case local part kept as printed
        4085,
        ("担当部署名\t港湾局 港湾振興部 振興課\t\t", "電話番号\t092-282-7168\t電子メール\tshinko.PHB@city.fukuoka.lg.jp"),
        "港湾局 港湾振興部 振興課",
        (P("092-282-7168"),),
        ("shinko.PHB@city.fukuoka.lg.jp",),
        (),
    ),
    (  # department over three table rows
        4615,
        (
            "担当部署名\t政策企画室 秘書部 国際交流推進担当\t\t",
            "\t環境局 環境施策部 環境施策課\t\t",
            "\t建設局 下水道河川部 水環境課\t\t",
            "電話番号\t06-6208-7246\t電子メール\taa0006@city.osaka.lg.jp",
        ),
        "政策企画室 秘書部 国際交流推進担当\n環境局 環境施策部 環境施策課\n建設局 下水道河川部 水環境課",
        (P("06-6208-7246"),),
        ("aa0006@city.osaka.lg.jp",),
        (),
    ),
    (  # A/B labelled pairs: labels kept in the department, dropped from phones and e-mails
        4854,
        (
            "担当部署名\tA 京都府 商工労働観光部 海外経済課 B 舞鶴市 産業振興部 みなと振興・国際交流課\t\t",
            "電話番号\tA 075-414-4844 B 0773-66-1037\t電子メール\tA kaigaikeizai@pref.kyoto.lg.jp B minato@post.city.maizuru.kyoto.jp",
        ),
        "A 京都府 商工労働観光部 海外経済課 B 舞鶴市 産業振興部 みなと振興・国際交流課",
        (P("075-414-4844"), P("0773-66-1037")),
        ("kaigaikeizai@pref.kyoto.lg.jp", "minato@post.city.maizuru.kyoto.jp"),
        (),
    ),
    (
        5557,
        (
            "担当部署名\tA 建設局下水道河川部計画課、B 水道局技術部計画課\t\t",
            "電話番号\tA 078-322-5449 B 078-322-5911\t電子メール\tA gesui_keikaku@office.city.kobe.lg.jp B kk-wb@office.city.kobe.lg.jp",
        ),
        "A 建設局下水道河川部計画課、B 水道局技術部計画課",
        (P("078-322-5449"), P("078-322-5911")),
        ("gesui_keikaku@office.city.kobe.lg.jp", "kk-wb@office.city.kobe.lg.jp"),
        (),
    ),
]


def _rows(lines) -> list[list[str]]:
    return [line.split("\t") for line in lines]


@pytest.mark.parametrize(("line", "lines", "department", "phones", "emails", "warnings"), CORPUS_CASES, ids=[str(c[0]) for c in CORPUS_CASES])
def test_corpus_irregular_contacts(line, lines, department, phones, emails, warnings):
    assert parse_contact(_rows(lines)) == Contact(department, phones, emails, warnings)


def _corpus_lines() -> list[str]:
    if not CORPUS.exists():
        pytest.skip("corpus not present")
    return CORPUS.read_text(encoding="utf-8").split("\n")


def test_corpus_cases_are_printed_where_listed():
    lines = _corpus_lines()
    for line, rows, *_ in CORPUS_CASES:
        assert tuple(lines[line - 1 : line - 1 + len(rows)]) == rows, line


def _contact_blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(first line, table rows) of every (7) block of the corpus."""
    blocks = []
    for i, line in enumerate(lines):
        if re.match(r"\s*[(（]\s*7\s*[)）]\s*問い合わせ先", line):
            j = i + 1
            while not lines[j].strip():
                j += 1
            start, rows = j + 1, []
            while j < len(lines) and "\t" in lines[j]:
                rows.append(lines[j])
                j += 1
            blocks.append((start, rows))
    return blocks


def test_every_corpus_contact():
    """All 175 tables: every printed number and address is read, nothing is unreadable."""
    blocks = _contact_blocks(_corpus_lines())
    assert len(blocks) == 175
    seen_warnings = set()
    for line, rows in blocks:
        contact = parse_contact(_rows(rows))
        text = "\n".join(rows)
        assert contact.department, line
        assert [p.number for p in contact.phones] == re.findall(r"0\d{1,4}-\d{1,4}-\d{4}", text), line
        assert list(contact.emails) == re.findall(r"[\w.+-]+@[\w.-]+", text), line
        assert not {V.UNREADABLE_PHONE, V.UNREADABLE_EMAIL, V.CONTACT_UNLABELLED} & set(contact.warnings), line
        seen_warnings |= set(contact.warnings)
    assert seen_warnings == {V.MISSING_PHONE, V.MISSING_EMAIL, V.SUSPICIOUS_PHONE}


@pytest.mark.parametrize("example", load_rules()["example"], ids=lambda e: repr(e["rows"])[:60])
def test_examples_of_the_label_file(example):
    phones = tuple(P(p["number"], p.get("extension")) for p in example["phones"])
    expected = Contact(example["department"], phones, tuple(example["emails"]), tuple(example["warnings"]))
    assert parse_contact(example["rows"]) == expected
    assert not V.unregistered(example["warnings"])


VALUES = {"department": "国際課", "phone": "017-734-5235", "email": "kokusai@pref.aomori.lg.jp"}
VARIANTS = [(kind, v) for kind, variants in load_rules()["labels"].items() if kind in VALUES for v in variants]


@pytest.mark.parametrize(("kind", "variant"), VARIANTS)
@pytest.mark.parametrize("shape", ["cells", "one cell", "colon"])
def test_every_label_variant(kind, variant, shape):
    value = VALUES[kind]
    rows = {"cells": [[variant, value]], "one cell": [[f"{variant} {value}"]], "colon": [[f"{variant}：{value}"]]}[shape]
    contact = parse_contact(rows)
    assert contact.department == (value if kind == "department" else "")
    assert contact.phones == ((P(value),) if kind == "phone" else ())
    assert contact.emails == ((value,) if kind == "email" else ())


# --- phones ---------------------------------------------------------------------

PHONE_CASES = [
    ("０１７－７３４－５２３５", [P("017-734-5235")], []),
    ("017‐734‐5235", [P("017-734-5235")], []),
    ("017ー734ー5235", [P("017-734-5235")], []),
    ("017 － 734 － 5235", [P("017-734-5235")], []),
    ("0172345235", [P("0172345235")], []),  # no hyphens printed, none added
    ("03(3463)1142", [P("03(3463)1142")], []),
    ("+81-3-3463-1142", [P("+81-3-3463-1142")], []),
    ("０２５４－２７－２１１１（内線２２８）", [P("0254-27-2111", "228")], []),
    ("0254-27-2111 内線228", [P("0254-27-2111", "228")], []),
    ("0254-27-2111 ext. 228", [P("0254-27-2111", "228")], []),
    ("017-734-5235（代表）", [P("017-734-5235")], []),
    ("①075-414-4844 ②0773-66-1037", [P("075-414-4844"), P("0773-66-1037")], []),
    ("(A)075-414-4844", [P("075-414-4844")], []),
    ("088-823-9605、088-823-9608", [P("088-823-9605"), P("088-823-9608")], []),
    # fragments: dropped, never truncated or completed
    ("017-734", [], [V.UNREADABLE_PHONE]),
    ("734-5235", [], [V.UNREADABLE_PHONE]),
    ("03 3463 1142", [], [V.UNREADABLE_PHONE]),
    ("0254-27-2111 1", [], [V.UNREADABLE_PHONE]),  # the 1 may belong to the number
    ("内線228", [], [V.UNREADABLE_PHONE]),
    ("088-823-9605/9608", [P("088-823-9605")], [V.UNREADABLE_PHONE]),
    ("00561-97-1336", [P("00561-97-1336")], [V.SUSPICIOUS_PHONE]),
    ("--", [], []),
    ("なし", [], []),
]


@pytest.mark.parametrize(("text", "phones", "warnings"), PHONE_CASES, ids=[c[0] for c in PHONE_CASES])
def test_parse_phones(text, phones, warnings):
    assert parse_phones(text) == (phones, warnings)


EMAIL_CASES = [
    ("ｋｏｋｕｓａｉ＠ｐｒｅｆ．ａｏｍｏｒｉ．ｌｇ．ｊｐ", ["kokusai@pref.aomori.lg.jp"], []),
    ("kokusai＠pref.aomori.lg.jp", ["kokusai@pref.aomori.lg.jp"], []),
    ("<mailto:a@x.jp>", ["a@x.jp"], []),
    ("a@x.jp、b@y.jp", ["a@x.jp", "b@y.jp"], []),
    ("a@x.jp（国際課）", ["a@x.jp"], []),
    ("a@x.jp.", ["a@x.jp"], []),
    ("A: a@x.jp B: b@y.jp", ["a@x.jp", "b@y.jp"], []),
    # unreadable: dropped, never a truncated address
    ("kokusai@", [], [V.UNREADABLE_EMAIL]),
    ("kokusai@pref", [], [V.UNREADABLE_EMAIL]),
    ("sui jigyou@city.kitakyushu.lg.jp", [], [V.UNREADABLE_EMAIL]),  # as a PDF text layer prints sui-jigyou@…
    ("a..b@x.jp", [], [V.UNREADABLE_EMAIL]),
    ("名前@x.jp", [], [V.UNREADABLE_EMAIL]),
    ("x@café.jp", [], [V.UNREADABLE_EMAIL]),
    ("kokusai(at)pref.aomori.lg.jp", [], [V.UNREADABLE_EMAIL]),
    ("a@x.jp、kokusai", ["a@x.jp"], [V.UNREADABLE_EMAIL]),
    ("--", [], []),
]


@pytest.mark.parametrize(("text", "emails", "warnings"), EMAIL_CASES, ids=[c[0] for c in EMAIL_CASES])
def test_parse_emails(text, emails, warnings):
    assert parse_emails(text) == (emails, warnings)


# --- the table --------------------------------------------------------------------


def test_unreadable_values_replace_missing_warnings():
    contact = parse_contact([["担当部署名", "国際課"], ["電話番号", "017-734", "電子メール", "kokusai@"]])
    assert contact == Contact("国際課", (), (), (V.UNREADABLE_PHONE, V.UNREADABLE_EMAIL))


def test_a_pdf_row_without_cell_separators():
    rows = [["担当部署名 国際課"], ["電話番号 017-734-5235 電子メール kokusai@pref.aomori.lg.jp"]]
    assert parse_contact(rows) == Contact("国際課", (P("017-734-5235"),), ("kokusai@pref.aomori.lg.jp",), ())


def test_an_unknown_label_does_not_leak_into_the_department():
    rows = [["担当部署名", "国際課", "", ""], ["住所", "青森市中央1-22-5", "", ""], ["電話番号", "017-734-5235", "電子メール", "a@x.jp"]]
    assert parse_contact(rows) == Contact("国際課", (P("017-734-5235"),), ("a@x.jp",), (V.CONTACT_UNLABELLED,))


def test_a_fax_number_is_not_a_phone():
    rows = [["担当部署名", "国際課"], ["TEL", "03-3463-1142", "FAX", "03-3463-1143"], ["Mail", "a@x.jp"]]
    assert parse_contact(rows).phones == (P("03-3463-1142"),)
    assert parse_contact([["電話番号", "TEL 03-3463-1142 FAX 03-3463-1143"]]).phones == (P("03-3463-1142"),)


def test_department_as_printed():
    rows = [["担当部署名", "　企画課　企画調整担当　"], ["電話", "017-734-5235"], ["メール", "a@x.jp"]]
    assert parse_contact(rows).department == "企画課　企画調整担当"  # only the surrounding space goes


def test_nothing_at_all():
    assert parse_contact([]) == Contact("", (), (), (V.MISSING_DEPARTMENT, V.MISSING_PHONE, V.MISSING_EMAIL))
    dashes = [["担当部署名", "--"], ["電話番号", "--", "電子メール", "--"]]
    assert parse_contact(dashes) == Contact("", (), (), (V.MISSING_DEPARTMENT, V.MISSING_PHONE, V.MISSING_EMAIL))


def test_the_same_number_twice_is_listed_once():
    rows = [["担当部署名", "国際課"], ["電話番号", "017-734-5235", "電子メール", "a@x.jp"], ["電話", "017-734-5235", "メール", "a@x.jp"]]
    contact = parse_contact(rows)
    assert contact.phones == (P("017-734-5235"),) and contact.emails == ("a@x.jp",)
