"""Warning registry, hard rules and record validation (extractors/validate.py); URLs of field (6) (nlp/urls.py)."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import pytest

from extractors import validate as V
from extractors.records import Phone
from nlp.urls import ParsedUrls, extract_urls, is_valid_url, parse_urls

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("extractors", "nlp")  # where warning codes are produced; flows/ only reports them
CORPUS = ROOT / "corpus" / "002_e59d51f378d5a747.txt"


# --- the registry -------------------------------------------------------------------


def test_registry_entries():
    assert not set(V.WARNINGS) & set(V.HARD_RULES)
    for code, meaning in {**V.WARNINGS, **V.HARD_RULES}.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)+", code), code
        assert meaning.strip() and "\n" not in meaning, code


def test_every_code_constant_is_registered():
    constants = {
        name: value
        for name, value in vars(V).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z_]+", value)
    }
    assert set(constants.values()) == set(V.WARNINGS) | set(V.HARD_RULES)


def _python_files():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _constant_of_registry(node: ast.AST) -> bool:
    """`V.MISSING_FIELD`, `validate.MISSING_FIELD` or an imported `MISSING_FIELD`."""
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name.isupper() and V.base_code(str(getattr(V, name, ""))) in {**V.WARNINGS, **V.HARD_RULES}


def _warning_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """String literals handed to something named like a warning list or used as a code."""
    found = []

    def named_warn(node: ast.AST) -> bool:
        name = (node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")).lower()
        return any(word in name for word in ("warn", "reason", "notes"))

    def literals(node: ast.AST):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node
        elif isinstance(node, ast.JoinedStr):  # an f-string: a code made at run time
            head = node.values[0] if node.values else None
            if isinstance(head, ast.FormattedValue) and _constant_of_registry(head.value):
                return  # f"{V.MISSING_FIELD}:{name}": a registered constant with a detail
            if isinstance(head, ast.Constant) and ":" in head.value:  # `code:{detail}`: the code is spelled out
                yield ast.Constant(value=head.value.partition(":")[0], lineno=node.lineno)
            else:
                yield ast.Constant(value=ast.unparse(node), lineno=node.lineno)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for elt in node.elts:
                yield from literals(elt)
        elif isinstance(node, ast.IfExp):
            yield from literals(node.body)
            yield from literals(node.orelse)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("append", "add", "extend", "insert") and named_warn(node.func.value):
                for arg in node.args:
                    found += [(c.lineno, c.value) for c in literals(arg)]
        if isinstance(node, ast.Call) and named_warn(node.func):
            for arg in node.args:
                found += [(c.lineno, c.value) for c in literals(arg)]
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(named_warn(t) for t in targets) and node.value is not None:
                found += [(c.lineno, c.value) for c in literals(node.value)]
        if isinstance(node, ast.keyword) and node.arg and "warn" in node.arg:
            found += [(c.lineno, c.value) for c in literals(node.value)]
    return found


def test_producers_use_registered_constants():
    """No warning code is spelled as a literal outside the registry, and every one used is registered."""
    codes = set(V.WARNINGS) | set(V.HARD_RULES)
    problems = []
    for path in _python_files():
        if path.name == "validate.py" and path.parent.name == "extractors":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(ROOT)
        reported = set()
        for lineno, value in _warning_literals(tree):
            reported.add(lineno)
            problems.append(f"{rel}:{lineno}: warning literal {value!r} (use a constant of extractors.validate)")
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in codes and node.lineno not in reported:
                problems.append(f"{rel}:{node.lineno}: code {node.value!r} spelled out (use the constant)")
    assert not problems, "\n".join(problems)


def test_the_scan_finds_literals():
    tree = ast.parse(
        "warnings.append('x_y')\nself.warnings += ['a_b']\nf(warnings=('c_d',))\n_warn('e_f')\n"
        "notes = [] if ok else [f'g_h:{n}']\nwarnings.append(f'i_{j}')\nwarnings.append(V.MISSING_DATE)\n"
        "warnings.append(f'{V.MISSING_FIELD}:{name}')\nwarnings.append(f'{V.NOT_A_CODE}:{name}')"
    )
    found = sorted(v for _, v in _warning_literals(tree))
    assert found == ["a_b", "c_d", "e_f", "f'i_{j}'", "f'{V.NOT_A_CODE}:{name}'", "g_h", "x_y"]


def test_a_code_may_carry_a_detail():
    assert V.base_code("missing_email:2") == "missing_email"
    assert V.unregistered(["missing_email:2", "nope:2"]) == ["nope:2"]


# --- validate_record_fields ------------------------------------------------------------

GOOD = dict(
    card_no=23,
    title="青森市・大連市経済文化交流委員会設置に関する協定",
    jp_entities=["青森県青森市"],
    foreign_entities=["中華人民共和国遼寧省大連市"],
    agreement_date=dt.date(2004, 12, 24),
    agreement_date_precision="day",
    contact_department="市民協働推進課",
    phones=[Phone("017-734-5235")],
    emails=["shiminkyoudou@city.aomori.aomori.jp"],
)


def _validate(**changes):
    return V.validate_record_fields(**{**GOOD, **changes})


def test_a_complete_card_is_valid():
    assert _validate() == ([], [])


@pytest.mark.parametrize(
    ("changes", "rejects"),
    [
        (dict(card_no=None), [V.MISSING_CARD_NO]),
        (dict(card_no=0), [V.MISSING_CARD_NO]),
        (dict(title=""), [V.MISSING_TITLE]),
        (dict(title=" \u3000"), [V.MISSING_TITLE]),
        (dict(jp_entities=[], foreign_entities=[]), [V.MISSING_PARTIES]),
        (dict(jp_entities=[""], foreign_entities=["  "]), [V.MISSING_PARTIES]),
        (dict(card_no=None, title=None, jp_entities=[], foreign_entities=[]), [V.MISSING_CARD_NO, V.MISSING_TITLE, V.MISSING_PARTIES]),
    ],
)
def test_hard_rules(changes, rejects):
    assert _validate(**changes)[1] == rejects


@pytest.mark.parametrize(
    ("changes", "warnings"),
    [
        (dict(foreign_entities=[]), [V.MISSING_FOREIGN_PARTY]),
        (dict(jp_entities=[]), [V.MISSING_JP_PARTY]),
        (dict(phones=[]), [V.MISSING_PHONE]),
        (dict(emails=[]), [V.MISSING_EMAIL]),
        (dict(contact_department=""), [V.MISSING_DEPARTMENT]),
        (dict(agreement_date=None, agreement_date_precision="none"), [V.MISSING_DATE]),
        # a parser warning that already explains the empty value: no missing_* on top
        (dict(phones=[], warnings=[V.UNREADABLE_PHONE]), [V.UNREADABLE_PHONE]),
        (dict(emails=[], warnings=[V.UNREADABLE_EMAIL]), [V.UNREADABLE_EMAIL]),
        (dict(agreement_date=None, agreement_date_precision="none", warnings=[V.INVALID_DATE]), [V.INVALID_DATE]),
        (dict(agreement_date=None, agreement_date_precision="none", warnings=[V.DATE_FISCAL_YEAR]), [V.DATE_FISCAL_YEAR]),
        # order kept, repeats dropped
        (dict(warnings=[V.SUSPICIOUS_PHONE, V.MULTIPLE_DATES, V.SUSPICIOUS_PHONE]), [V.SUSPICIOUS_PHONE, V.MULTIPLE_DATES]),
        (dict(phones=[], warnings=[V.MISSING_PHONE]), [V.MISSING_PHONE]),
    ],
)
def test_warnings_are_not_rejects(changes, warnings):
    assert _validate(**changes) == (warnings, [])


@pytest.mark.parametrize(
    ("changes", "failures"),
    [
        (dict(), []),
        (dict(jp_entities=[]), []),
        (dict(foreign_entities=[]), []),
        (dict(jp_entities=[], foreign_entities=[]), [V.MISSING_PARTIES]),
        (dict(card_no=None, title=""), [V.MISSING_CARD_NO, V.MISSING_TITLE]),
    ],
)
def test_hard_rule_failures(changes, failures):
    keys = ("card_no", "title", "jp_entities", "foreign_entities")
    assert V.hard_rule_failures(**{k: {**GOOD, **changes}[k] for k in keys}) == failures


def test_an_unregistered_code_is_a_bug():
    with pytest.raises(V.UnregisteredWarning, match="no_such_code"):
        _validate(warnings=["no_such_code"])
    assert V.unregistered(["missing_email", "x", "x"]) == ["x"]


@pytest.mark.parametrize(
    ("date", "precision"), [(None, "day"), (dt.date(2012, 1, 1), "none"), (dt.date(2012, 1, 1), "week")]
)
def test_an_inconsistent_date_is_a_bug(date, precision):
    with pytest.raises(ValueError):
        _validate(agreement_date=date, agreement_date_precision=precision)


# --- URLs (field 6) -----------------------------------------------------------------------

# (line of the value in the corpus file, value as printed, expected URLs); checked by reading.
URL_CASES = [
    (406, "http://www.city.aomori.aomori.jp/info.rbz?nd=1320&ik=1&pnp=115&pnp=429&pnp=540&pnp=1320",
     ["http://www.city.aomori.aomori.jp/info.rbz?nd=1320&ik=1&pnp=115&pnp=429&pnp=540&pnp=1320"]),
    (438, "<http://www.town.iwafune.tochigi.jp/>", ["http://www.town.iwafune.tochigi.jp/"]),
    (504, "--", []),
    (757, "<p>http://www.city.yotsukaido.chiba.jp/shisei/kokusaikoryu/index.html</p> <p>http://www.y-o-c-c-a.org/activity/sistercity</p>",
     ["http://www.city.yotsukaido.chiba.jp/shisei/kokusaikoryu/index.html", "http://www.y-o-c-c-a.org/activity/sistercity"]),
    (1002, "<http://www.takarazuka.ed.jp/contents/kokusaika.html>", ["http://www.takarazuka.ed.jp/contents/kokusaika.html"]),
    (1483, "http://www.city.osakasayama.osaka.jp/7,0,74.html", ["http://www.city.osakasayama.osaka.jp/7,0,74.html"]),
    (1533, "http://www.pref.kochi.lg.jp/~bunkakokusai/kokusai/h21kokusaikouryu/08zenranando.html",
     ["http://www.pref.kochi.lg.jp/~bunkakokusai/kokusai/h21kokusaikouryu/08zenranando.html"]),
    (2926, "<p>http://www.city.kawasaki.jp/press/info20100423_11/item6144.pdf</p> <p>（協定書締結に係る報道発表資料を掲載）</p>",
     ["http://www.city.kawasaki.jp/press/info20100423_11/item6144.pdf"]),
    (3506, "<http://www.kyoto-modelforest.jp/>（「京都モデルフォレスト協会」のHP）", ["http://www.kyoto-modelforest.jp/"]),
    (4405, "<http://café.city.fukuoka.lg.jp>", ["http://café.city.fukuoka.lg.jp"]),  # printed so, in the PDF too
    (4608, "（職員の長期派遣）\thttp://www.city.osaka.lg.jp/kensetsu/page/0000140541.html\n"
           "（セミナーの開催）\thttp://www.city.osaka.lg.jp/kensetsu/page/0000158792.html\n"
           "（セミナーの開催）\thttp://gec.jp/main.nsf/jp/Activities-IC-hcmc201202\n"
           "（実現可能性調査）\thttp://www.city.osaka.lg.jp/kankyoo/page/0000168434.html",
     ["http://www.city.osaka.lg.jp/kensetsu/page/0000140541.html", "http://www.city.osaka.lg.jp/kensetsu/page/0000158792.html",
      "http://gec.jp/main.nsf/jp/Activities-IC-hcmc201202", "http://www.city.osaka.lg.jp/kankyoo/page/0000168434.html"]),
    (4849, "【京都府HP】\thttp://www.pref.kyoto.jp/news/press/2011/7/1311827947829.html\n"
           "【舞鶴市HP】\thttp://www.city.maizuru.kyoto.jp/modules/kikakup/index.php?content_id=787",
     ["http://www.pref.kyoto.jp/news/press/2011/7/1311827947829.html",
      "http://www.city.maizuru.kyoto.jp/modules/kikakup/index.php?content_id=787"]),
    (5989, "<p>http://www.city.kawasaki.jp/press/info20100423_11/item6144.pdf (協定書締結に係る報道発表資料を掲載)</p>\n--",
     ["http://www.city.kawasaki.jp/press/info20100423_11/item6144.pdf"]),
    (6199, "http://www.suncheon.go.kr/open_content/main_page/index.html (順천시HP)",
     ["http://www.suncheon.go.kr/open_content/main_page/index.html"]),
    (6266, "<p>http://www.city.narashino.chiba.jp/joho/soshiki/kankyo/shizenhogo/news/shicchi.html</p> <p>http://www.yatsuhigata.jp/about/exchange/index.html</p>",
     ["http://www.city.narashino.chiba.jp/joho/soshiki/kankyo/shizenhogo/news/shicchi.html", "http://www.yatsuhigata.jp/about/exchange/index.html"]),
    (6378, "<http://www.kyoto-modelforest.jp/> (「京都モデルフォレスト協会」のHP)", ["http://www.kyoto-modelforest.jp/"]),
]


@pytest.mark.parametrize(("line", "raw", "urls"), URL_CASES, ids=[str(c[0]) for c in URL_CASES])
def test_corpus_urls(line, raw, urls):
    assert parse_urls(raw) == ParsedUrls(tuple(urls), ())
    assert extract_urls(raw) == urls


def test_extract_urls_is_a_list_that_carries_the_warnings():
    found = extract_urls("ttp://a.jp/ http://b.jp/")
    assert isinstance(found, list) and found == ["http://b.jp/"]
    assert found.urls == ("http://b.jp/",) and found.warnings == (V.INVALID_URL,)


def _corpus_lines() -> list[str]:
    if not CORPUS.exists():
        pytest.skip("corpus not present")
    return CORPUS.read_text(encoding="utf-8").split("\n")


def test_url_cases_are_printed_where_listed():
    lines = _corpus_lines()
    for line, raw, _ in URL_CASES:
        n = raw.count("\n") + 1
        printed = [ln for ln in lines[line - 1 : line - 1 + 2 * n] if ln.strip()][:n]
        assert "\n".join(printed) == raw, line


def test_every_corpus_url():
    """All 175 (6) blocks: one URL per `http` printed (minus repeats), none invalid."""
    lines = _corpus_lines()
    blocks = 0
    for i, line in enumerate(lines):
        if re.match(r"\s*[(（]\s*6\s*[)）]\s*取組を紹介", line):
            j, value = i + 1, []
            while not re.match(r"\s*[(（]\s*7\s*[)）]", lines[j]):
                value.append(lines[j])
                j += 1
            raw = "\n".join(value)
            parsed = parse_urls(raw)
            blocks += 1
            assert parsed.warnings == (), i + 1
            assert len(parsed.urls) == len(set(re.findall(r"https?://[\x21-\x7e\u00c0-\u024f]+?(?=[<>\s（(]|$)", raw))), i + 1
            assert all(url in raw for url in parsed.urls), i + 1
    assert blocks == 175


OTHER_URLS = [
    ("", [], []),
    ("ｈｔｔｐ：／／ｗｗｗ．ｃｉｔｙ．ａｏｍｏｒｉ．ｊｐ／ｉｎｄｅｘ．ｈｔｍｌ", ["http://www.city.aomori.jp/index.html"], []),
    ("http://www.city.aomori.jp/。", ["http://www.city.aomori.jp/"], []),
    ("（http://www.city.aomori.jp/）", ["http://www.city.aomori.jp/"], []),
    ("(http://www.city.aomori.jp/)", ["http://www.city.aomori.jp/"], []),
    ("see http://www.city.aomori.jp/.", ["http://www.city.aomori.jp/"], []),
    ("http://ja.wikipedia.org/wiki/A_(B)", ["http://ja.wikipedia.org/wiki/A_(B)"], []),
    ("https://www.city.aomori.jp/a?b=1&amp;c=2", ["https://www.city.aomori.jp/a?b=1&c=2"], []),
    ('<a href="http://www.city.aomori.jp/">http://www.city.aomori.jp/</a>', ["http://www.city.aomori.jp/"], []),
    ("ホームページhttp://www.city.aomori.jp/をご覧ください", ["http://www.city.aomori.jp/"], []),
    ("HPhttp://www.city.aomori.jp/", ["http://www.city.aomori.jp/"], []),
    # invalid: dropped, not repaired
    ("ttp://www.city.aomori.jp/", [], [V.INVALID_URL]),
    ("www.city.aomori.jp", [], [V.INVALID_URL]),
    ("ftp://ftp.city.aomori.jp/", [], [V.INVALID_URL]),
    ("http://localhost/", [], [V.INVALID_URL]),
    ("http://www.city.aomori.jp:99999/", [], [V.INVALID_URL]),
    ("http://", [], [V.INVALID_URL]),
    ("ttp://a.jp/ http://b.jp/ www.c.jp", ["http://b.jp/"], [V.INVALID_URL]),
]


@pytest.mark.parametrize(("raw", "urls", "warnings"), OTHER_URLS, ids=[c[0] or "empty" for c in OTHER_URLS])
def test_other_urls(raw, urls, warnings):
    assert parse_urls(raw) == ParsedUrls(tuple(urls), tuple(warnings))


@pytest.mark.parametrize(
    ("url", "valid"),
    [("http://a.jp", True), ("HTTPS://A.JP/x", True), ("http://a", False), ("http://.jp", False), ("mailto:a@b.jp", False)],
)
def test_is_valid_url(url, valid):
    assert is_valid_url(url) is valid
