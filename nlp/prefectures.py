"""The prefectures (都道府県) printed in the Japanese parties of a card.

Names, JIS X 0401 codes and romaji are in ``nlp/rules/prefectures.tsv``; the
decisions (only printed prefectures, organisation names included, full names
only, code-point sort) are in ``nlp/rules/prefectures.toml``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from nlp.tokenizer import load_tsv, rule_regex

RULES = "prefectures.toml"


@functools.cache
def _table() -> dict[str, tuple[str, str]]:
    return {row["name"]: (row["code"], row["romaji"]) for row in load_tsv("prefectures.tsv")}


@functools.cache
def prefecture_pattern() -> re.Pattern[str]:
    """Any of the 47 full prefecture names, longest first (no context rules: see :func:`prefectures_in`)."""
    names = sorted(_table(), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names)))


def prefecture_code(name: str) -> str | None:
    """JIS X 0401 code of a prefecture name (``"京都府"`` → ``"26"``), or None."""
    entry = _table().get(name)
    return entry[0] if entry else None


def prefectures_in(party: str) -> list[str]:
    """Prefecture names printed in one party, in print order (duplicates kept)."""
    blocked = [m.span() for m in rule_regex(RULES, "not_a_prefecture").finditer(party)]
    return [
        m.group()
        for m in prefecture_pattern().finditer(party)
        if not any(s <= m.start() < e for s, e in blocked)
    ]


def prefectures_of(jp_entities: Iterable[str]) -> list[str]:
    """Sorted unique prefectures printed in the Japanese parties of one card.

    ``["京都府", "舞鶴市"]`` → ``["京都府"]``; ``["大阪府大阪狭山市"]`` →
    ``["大阪府"]``; ``["舞鶴市"]`` → ``[]`` (nothing is inferred).
    """
    found: set[str] = set()
    for party in jp_entities or ():
        found.update(prefectures_in(party))
    return sorted(found)


def jp_prefectures(jp_text: str) -> list[str]:
    """Convenience: prefectures of a raw 日本の自治体 cell (split, then :func:`prefectures_of`)."""
    from nlp.parties import split_jp_entities

    return prefectures_of(split_jp_entities(jp_text))
