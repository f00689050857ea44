"""Cut a card into its seven fields and read the simple ones (parties table, free text)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from extractors import validate as V
from extractors.document import Card, Line
from extractors.headings import field_specs, match_field, party_labels
from extractors.read_text import INLINE_BULLET

FIELD_NAMES = {spec.number: spec.name for spec in field_specs()}


def split_inline_bullets(line: str) -> list[str]:
    """One line of free text to its list items: a new item starts at each bullet printed inline.

    A bullet printed inside a line has white space next to it (`…へ参加・ 9月…`, `… ・平成24年…`);
    a `・` between two words (ロシア・韓国) is no bullet (:data:`extractors.read_text.INLINE_BULLET`).
    """
    if "・" not in line:
        return [line]
    return [item.strip() for item in INLINE_BULLET.split(line) if item.strip()]


@dataclass(frozen=True)
class Sections:
    """The lines of each field of a card, keyed by field number (1–7)."""

    lines: dict[int, tuple[Line, ...]]
    warnings: tuple[str, ...]

    def text(self, number: int) -> str:
        """A field's lines as clean text, one line (paragraph or list item) per line."""
        return "\n".join(ln.text.replace("\t", " ").strip() for ln in self.lines.get(number, ()))

    def free_text(self, number: int) -> str:
        """A free-text field (3)–(5): as :meth:`text`, with bullets printed inline split onto their own lines."""
        return "\n".join(item for line in self.text(number).split("\n") for item in split_inline_bullets(line))

    def rows(self, number: int) -> list[list[str]]:
        """A table field's rows, each split into its cells."""
        return [ln.text.split("\t") for ln in self.lines.get(number, ())]


def card_to_sections(card: Card) -> Sections:
    """Group a card's body lines under the field heading they follow."""
    sections: dict[int, list[Line]] = {}
    warnings: list[str] = []
    current: int | None = None
    for ln in card.lines:
        number = match_field(ln.text)
        if number is not None:
            if number in sections:
                warnings.append(f"{V.DUPLICATE_FIELD}:{FIELD_NAMES[number]}")
            current = number
            sections.setdefault(number, [])
            continue
        if current is None:
            warnings.append(V.TEXT_BEFORE_FIRST_FIELD)
            continue
        sections[current].append(ln)
    for number, name in FIELD_NAMES.items():
        if number not in sections:
            warnings.append(f"{V.MISSING_FIELD}:{name}")
    return Sections({k: tuple(v) for k, v in sections.items()}, tuple(warnings))


@dataclass(frozen=True)
class PartyCells:
    """The raw text of the two rows of the (1) table."""

    japanese: str
    foreign: str


def party_rows(lines: Sequence[Line]) -> list[tuple[str, Line, str]]:
    """The rows of the (1) table as (side, line, value text); a row without a label continues the one above."""
    labels = party_labels()
    rows: list[tuple[str, Line, str]] = []
    side: str | None = None
    for ln in lines:
        cells = [c.strip() for c in ln.text.split("\t")]
        head = cells[0]
        found = next(
            ((key, name) for key, names in labels.items() for name in names
             if head == name or (len(cells) == 1 and head.startswith(name))),
            None,
        )
        if found:
            side = found[0]
            rest = cells[1:] if head == found[1] else [head[len(found[1]):], *cells[1:]]
        else:
            rest = cells
        value = " ".join(c for c in rest if c)
        if side and value:
            rows.append((side, ln, value))
    return rows


def rows_to_parties(lines: Sequence[Line]) -> PartyCells:
    """Read the 日本の自治体 / 海外の自治体 rows into the raw text of each side."""
    values: dict[str, list[str]] = {"japanese": [], "foreign": []}
    for side, _line, value in party_rows(lines):
        values[side].append(value)
    return PartyCells(" ".join(values["japanese"]).strip(), " ".join(values["foreign"]).strip())
