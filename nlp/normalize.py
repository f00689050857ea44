"""Character-level normalisers shared by the readers (rule data in ``nlp/rules/lookalikes.tsv``).

Japanese PDF fonts often map an ideograph's glyph to a Kangxi radical or a
CJK radical-supplement code point (``⾃`` U+2F83 for 自, ``⻘`` U+2ED8 for 青).
:func:`fold_lookalikes` maps those back. It deliberately does not apply NFKC to
the whole text, which would also change full-width brackets and digits that the
reports keep as printed; :func:`normalize_width` does that narrower job on request.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

LOOKALIKES_TSV = Path(__file__).parent / "rules" / "lookalikes.tsv"

# Full-width ASCII variants U+FF01–U+FF5E sit at a fixed offset from ASCII U+0021–U+007E.
FULLWIDTH_TO_ASCII = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


@lru_cache(maxsize=1)
def lookalike_table() -> dict[int, str]:
    """The ``str.translate`` table read once from ``lookalikes.tsv`` (code point -> replacement)."""
    table: dict[int, str] = {}
    for raw in LOOKALIKES_TSV.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#") or raw.startswith("codepoint\t"):
            continue
        codepoint, char, replacement, *_ = raw.split("\t")
        cp = int(codepoint.removeprefix("U+"), 16)
        if chr(cp) != char:
            raise ValueError(f"{LOOKALIKES_TSV.name}: {codepoint} does not match its char {char!r}")
        table[cp] = replacement
    return table


def fold_lookalikes(text: str) -> str:
    """Replace Kangxi radicals and CJK radical-supplement forms by the ordinary characters they stand for."""
    return text.translate(lookalike_table())


def normalize_width(text: str) -> str:
    """Map full-width ASCII (``０１７－７３４``, ``＠``) and the ideographic space to ASCII; leave the rest."""
    return text.translate(FULLWIDTH_TO_ASCII)
