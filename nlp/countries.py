"""Countries printed in a 海外の自治体 text, as ISO 3166-1 alpha-2 codes.

Names come from two sources, both data:

* pycountry's Japanese translations (gettext domain ``iso3166-1``), turned
  into aliases automatically (``大韓民国 (韓国)`` gives 大韓民国 and 韓国; a
  name shared by two codes is dropped; qualifiers such as ``仏領`` are not
  names);
* ``nlp/rules/countries.tsv``: formal and short Japanese names pycountry
  lacks or spells differently (中華人民共和国, 台湾, イギリス, オーストラリア,
  ハンガリー共和国, …) and territories with their sovereign. A row there wins.

The matching rules (what is a country mention, what is a location, which
country an embassy stands for) are in ``nlp/rules/countries.toml``.
Only printed countries count: a party printed without a country gets no
code, whatever its city (アモイ is not CN, 青島市 is not CN).
"""

from __future__ import annotations

import functools
import gettext
import re

import pycountry

from nlp.tokenizer import is_boundary, load_tsv, rule_regex

RULES = "countries.toml"
_KATAKANA = re.compile(r"[\u30A1-\u30FA\u30FC-\u30FE]")  # katakana and ー, not the ・ separator

Mention = tuple[int, int, str]  # (start, end, alpha-2)


def _pycountry_aliases() -> dict[str, set[str]]:
    try:
        ja = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ja"])
    except OSError:  # pragma: no cover - pycountry always ships it
        return {}
    names: dict[str, set[str]] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            english = getattr(country, attr, None)
            if not english:
                continue
            local = ja.gettext(english).strip()
            if local == english or "、" in local:
                continue  # untranslated, or a list of islands
            m = re.fullmatch(r"(.+?)\s*\((.+)\)", local)
            if m:
                candidates = [m.group(1), m.group(2)]
            elif "(" in local or ")" in local:
                continue
            else:
                candidates = [local]
            for cand in candidates:
                cand = cand.strip()
                if len(cand) < 2 or cand.endswith("領"):  # 仏領, オランダ領: qualifiers, not names
                    continue
                names.setdefault(cand, set()).add(country.alpha_2)
    return names


@functools.cache
def alias_table() -> dict[str, tuple[str, str, str]]:
    """Every Japanese country name known: ``name -> (alpha2, kind, sovereign)``.

    ``kind`` is the TSV kind (formal/short/alias/territory) or ``pycountry``
    for an automatic alias; ``sovereign`` is set for territories only.
    """
    table: dict[str, tuple[str, str, str]] = {}
    for name, codes in _pycountry_aliases().items():
        if len(codes) == 1:
            table[name] = (next(iter(codes)), "pycountry", "")
    for row in load_tsv("countries.tsv"):
        table[row["name"]] = (row["alpha2"], row["kind"], row.get("sovereign", ""))
    return table


@functools.cache
def sovereign_of() -> dict[str, str]:
    """Territory alpha-2 -> sovereign alpha-2 (NC -> FR), from the TSV."""
    return {code: sov for code, kind, sov in alias_table().values() if kind == "territory" and sov}


@functools.cache
def _by_first_char() -> dict[str, tuple[tuple[str, str], ...]]:
    index: dict[str, list[tuple[str, str]]] = {}
    for name, (code, _kind, _sov) in alias_table().items():
        index.setdefault(name[0], []).append((name, code))
    return {ch: tuple(sorted(v, key=lambda nc: -len(nc[0]))) for ch, v in index.items()}


def _accept(text: str, start: int, end: int) -> bool:
    """Guards that keep a name from being read as a country where it is part of a place name."""
    if rule_regex(RULES, "place_suffix_after").match(text[end:]):
        return False  # ジョージア州, メキシコ市, 南オーストラリア州
    glued_left = start > 0 and _KATAKANA.match(text, start - 1) and _KATAKANA.match(text, start)
    glued_right = end < len(text) and _KATAKANA.match(text, end) and _KATAKANA.match(text, end - 1)
    if glued_left or glued_right:
        # katakana running on: a country only if the tokenizer cuts the word there
        # (ドイツ|バイエルン州 yes; ペルージャ県, ニューメキシコ no)
        return is_boundary(text, start) and is_boundary(text, end)
    return True


def countries_in(text: str) -> list[Mention]:
    """Every country name printed in ``text``: ``(start, end, alpha2)``, left to right, longest first.

    ベトナム社会主義共和国 is one mention (VN), not ベトナム + rest. Names that
    are part of a place name are skipped (see :func:`_accept`). Locations
    (在日本, 駐アモイ) are still mentions here; :func:`country_codes` decides
    what they mean.
    """
    index = _by_first_char()
    out: list[Mention] = []
    i, n = 0, len(text)
    while i < n:
        for name, code in index.get(text[i], ()):
            end = i + len(name)
            if text.startswith(name, i) and _accept(text, i, end):
                out.append((i, end, code))
                i = end
                break
        else:
            i += 1
    return out


def _codes_of_chunk(chunk: str) -> set[str]:
    mentions = [m for m in countries_in(chunk) if not rule_regex(RULES, "location_marker").search(chunk[: m[0]])]
    if mentions and rule_regex(RULES, "diplomatic_mission").search(chunk):
        mentions = mentions[:1]  # the country a mission represents is printed first
    sovereigns = sovereign_of()
    kept: list[Mention] = []
    for k, m in enumerate(mentions):
        sov = sovereigns.get(m[2])
        if sov and any(p[2] == sov for p in mentions[:k]):
            continue  # フランス共和国ニューカレドニア: a region of the printed country
        kept.append(m)
    return {m[2] for m in kept}


def country_codes(foreign_text: str) -> list[str]:
    """Sorted unique ISO 3166-1 alpha-2 codes of the countries printed in a 海外の自治体 text.

    A list label (``中華人民共和国：青島市、…``) counts as printed; 台湾 → TW;
    an embassy or consulate gives the country it represents
    (``在日本デンマーク王国日本大使館`` → DK, ``シンガポール共和国駐アモイ
    シンガポール総領事館`` → SG); a territory printed under its sovereign gives
    the sovereign only (``フランス共和国ニューカレドニア ヌメア市`` → FR).
    """
    from nlp.parties import foreign_chunks, normalize_foreign

    codes: set[str] = set()
    for chunk in foreign_chunks(normalize_foreign(foreign_text or "")):
        codes |= _codes_of_chunk(chunk)
    return sorted(codes)
