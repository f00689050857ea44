"""Split the (1) 自治体名 cells of a card into parties.

* :func:`split_jp_entities` — 日本の自治体: split on ``、`` ``,`` ``，``.
* :func:`split_foreign_entities` — 海外の自治体: one item per foreign party,
  as written. The rules and their examples (every irregular line of the
  CLAIR 2012 survey) are data in ``nlp/rules/foreign_parties.toml``.

"As written" means: every item is text printed in the cell, in print order,
trimmed, with whitespace runs collapsed to one space and converter line-wrap
spaces repaired (``バ ートランゲンザルツァ市``). Nothing is added to a party
that was not printed in front of it: a country or region printed once before
several parties stays on the first (``中華人民共和国黒竜江省``, ``吉林省``,
``遼寧省``); a list label (``大韓民国：``) is a heading, not part of any
party's name, so it is dropped and not glued onto the first item
(``青島市``, not ``中華人民共和国青島市``) — the country it names is still
reported by :func:`nlp.countries.country_codes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from nlp.countries import countries_in, sovereign_of
from nlp.tokenizer import is_admin_unit_end, rule_regex, tokens

RULES = "foreign_parties.toml"
JP_RULES = "jp_parties.toml"

OPENING = "（(［[「『【〔"
CLOSING = "）)］]」』】〕"
_WHITESPACE = re.compile(r"\s+")


def _is_empty(text: str) -> bool:
    return not text or bool(rule_regex(RULES, "empty_field").fullmatch(text))


def _top_level(text: str) -> Iterator[tuple[int, str]]:
    """``(offset, character)`` of every character outside brackets (the brackets themselves left out)."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in OPENING:
            depth += 1
        elif ch in CLOSING:
            depth = max(0, depth - 1)
        elif depth == 0:
            yield i, ch


def _split_top_level(text: str, separator: re.Pattern[str]) -> list[str]:
    """Split on ``separator`` (a one-character pattern) outside brackets."""
    parts, start = [], 0
    for i, ch in _top_level(text):
        if separator.match(ch):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


# --------------------------------------------------------------------------- Japanese side


def split_jp_entities(text: str) -> list[str]:
    """日本の自治体 → parties: split on ``、``/``,``/``，`` (outside brackets), each trimmed.

    ``京都府、舞鶴市`` → ``["京都府", "舞鶴市"]``; an empty cell or ``--`` → ``[]``.
    """
    s = (text or "").strip()
    if _is_empty(s):
        return []
    separator = rule_regex(JP_RULES, "jp_separators")
    return [p.strip() for p in _split_top_level(s, separator) if p.strip()]


# --------------------------------------------------------------------------- foreign side


def normalize_foreign(text: str) -> str:
    """Trim, collapse whitespace runs to one space, repair line-wrap spaces inside words."""
    s = _WHITESPACE.sub(" ", text or "").strip()
    return rule_regex(RULES, "wrap_space").sub("", s)


def _space_splits(text: str, chunk_start: int, space: int, mention: tuple[int, int, str],
                  previous: tuple[int, int, str] | None) -> bool:
    """Does the space at ``space`` (followed by the country ``mention``) start a new party?"""
    if rule_regex(RULES, "no_split_after").search(text[chunk_start:space]):
        return False  # シンガポール共和国駐アモイ シンガポール総領事館
    if rule_regex(RULES, "mission_tail").match(text[mention[1]:]):
        return False  # … シンガポール総領事館
    if previous is not None and previous[0] >= chunk_start and not text[previous[1]:space].strip():
        if sovereign_of().get(mention[2]) == previous[2]:
            return False  # フランス共和国 ニューカレドニア ヌメア市: a territory of the country just printed
    return True


def foreign_chunks(text: str) -> list[str]:
    """Top-level pieces of a normalised 海外の自治体 text, labels and brackets kept.

    Cut at ``、``/``,``/``，`` outside brackets, and at a space when what
    follows starts with a country name (the space-separated lists of cards
    ⑥23/⑥24), unless the space is inside a diplomatic mission's name.
    """
    if _is_empty(text):
        return []
    separator = rule_regex(RULES, "separators")
    mentions = countries_in(text)
    starts = {m[0]: k for k, m in enumerate(mentions)}
    chunks, start = [], 0
    for i, ch in _top_level(text):
        if separator.match(ch):
            chunks.append(text[start:i])
            start = i + 1
        elif ch == " " and i + 1 in starts:
            k = starts[i + 1]
            if _space_splits(text, start, i, mentions[k], mentions[k - 1] if k else None):
                chunks.append(text[start:i])
                start = i + 1
    chunks.append(text[start:])
    return [c.strip() for c in chunks if c.strip()]


def _members(chunk: str) -> list[str] | None:
    """A bracket note listing members replaces the collective name before it; else None."""
    m = rule_regex(RULES, "member_bracket").search(chunk)
    if not m:
        return None
    inner_space = rule_regex(RULES, "member_inner_space")
    members = [inner_space.sub("", x).strip() for x in rule_regex(RULES, "separators").split(m.group("body"))]
    members = [x for x in members if x]
    if len(members) < 2:
        return None
    before = chunk[: m.start()].rstrip()
    # the country/region printed before the collective name stays on the first member
    lead = countries_in(before)
    pos = lead[0][1] if lead and lead[0][0] == 0 else 0
    region = rule_regex(RULES, "collective_prefix").match(before[pos:])
    prefix = before[: pos + (region.end() if region else 0)]
    members[0] = prefix + members[0]
    after = chunk[m.end():].strip()
    return members + ([after] if after else [])


def _closes_unit(fragment: str) -> bool:
    """Does ``fragment`` end with a token that closes an administrative unit (市, 郡, バイエルン州 …)?"""
    toks = tokens(fragment)
    return bool(toks) and toks[-1].end == len(fragment) and is_admin_unit_end(toks[-1])


def _dot_splits(item: str) -> list[int]:
    """Offsets of the ``・`` in ``item`` that separate two parties.

    A ``・`` separates parties when the token before it closes an
    administrative unit (市, 郡, 州 … or a place-name token such as
    バイエルン州) and what follows, up to a later ``・`` or the end, is itself a
    place name closed by such a token: カステリョン市・セビリア市 splits;
    クルージュ・ナポカ市, セーヌ・エ・マルヌ県, モン・サン＝ミッシェル do not.

    Each side is tokenized on its own, from the last country name, space or
    ``・`` before it: Sudachi reads a long line less reliably than a name
    (中華人民共和国景德鎮市 comes out …共和|国景|德鎮|市).
    """
    dots = [i for i, ch in _top_level(item) if ch == "・"]
    if not dots:
        return []
    country_ends = [end for _start, end, _code in countries_in(item)]
    cuts = []
    for k, p in enumerate(dots):
        start = max(
            [0]
            + [e for e in country_ends if e <= p]
            + [d + 1 for d in dots[:k]]
            + [i + 1 for i in range(p) if item[i] == " "]
        )
        if not _closes_unit(item[start:p]):
            continue
        if any(_closes_unit(item[p + 1 : end].strip()) for end in [*dots[k + 1 :], len(item)]):
            cuts.append(p)
    return cuts


def _split_dots(item: str) -> list[str]:
    if "・" not in item:
        return [item]
    pieces, start = [], 0
    for p in _dot_splits(item):
        pieces.append(item[start:p])
        start = p + 1
    pieces.append(item[start:])
    return [x.strip() for x in pieces if x.strip()]


def split_foreign_entities(text: str) -> list[str]:
    """海外の自治体 → one item per foreign party, as written (see the module docstring).

    ``中華人民共和国黒竜江省、吉林省、遼寧省`` → 3 items, the country on the first;
    ``中華人民共和国：青島市、大連市 大韓民国：釜山広域市`` → labels dropped;
    ``スペイン カステリョン市・セビリア市`` → ``スペイン カステリョン市``, ``セビリア市``;
    a bracket listing members replaces the collective name before it; a
    bracket that is no list stays (``ブータン王国（王立ブータン研究所）``).
    """
    out: list[str] = []
    label = rule_regex(RULES, "list_label")
    for chunk in foreign_chunks(normalize_foreign(text)):
        m = label.match(chunk)
        if m:
            chunk = chunk[m.end():].strip()
            if not chunk:
                continue
        items = _members(chunk) or [chunk]
        for item in items:
            out.extend(_split_dots(item))
    return out
