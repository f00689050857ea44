"""Read a survey PDF into logical lines in the converter text shape (see docs/CONTRACTS.md).

The work is split into pure steps that unit tests drive with hand-made char dicts:

1. :func:`chars_to_lines` turns one page's chars (pdfplumber dicts) and ruling
   lines into :class:`PhysicalLine` objects: text outside ruled tables as
   physical lines split into :class:`Segment` runs at cell-sized gaps (a
   table drawn without rules); a single-column ruled box as physical lines of
   its own region; every row of a multi-column ruled table as one line whose
   cells are already assembled.
2. :func:`drop_running_furniture` drops page-number footers and running
   headers/footers repeated on many pages.
3. :func:`lines_to_logical_lines` joins wrapped physical lines (a line that
   reached the right edge of its column goes on with the next one; a list item
   always starts a new line) into :class:`~extractors.document.Line` objects.

It reads ``page.chars``, ``page.lines`` and ``page.rects`` once per page and
never runs pdfplumber's table finder or layout analysis, so it costs about what
``page.extract_text()`` costs.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pdfplumber

from extractors.document import Box, Document, InputError, Line
from nlp.normalize import fold_lookalikes

Char = Mapping[str, Any]

# Gaps between glyphs, in units of the font size (em).
SPACE_GAP_EM = 0.3  # at least this wide: a word space (CJK/Latin auto-spacing is about 0.2 em)
CELL_GAP_EM = 0.9  # at least this wide, with no space glyph in it: a cell boundary (a converter tab)
PARA_GAP_EM = 0.8  # a blank this high between two lines of one page ends a paragraph
COLUMN_TOL_EM = 1.0  # segment starts this close belong to the same column of a rule-less table
WRAP_TOL_PT = 0.5  # slack when asking whether the next line's first word would have fitted
DEDUPE_TOL_PT = 1.0  # the same glyph drawn again this close is overprinting (fake bold)
RULE_TOL_PT = 2.0  # ruling lines this close touch
RULE_MAX_THICKNESS_PT = 2.0  # a line or rect thinner than this is a ruling line
FURNITURE_BAND = 0.08  # top/bottom share of the page height where headers and footers live
REPEAT_MIN_PAGES = 3  # a running header must repeat on at least this many pages ...
REPEAT_SHARE = 0.4  # ... and on at least this share of the pages read

# The survey's suffix for a re-listed card; a title wrapped just before it goes on, though it starts with 【.
RELISTED_MARK = "【再掲】"

# Characters that may not start a line (kinsoku): the glyph before them wraps together with them.
_NO_LINE_START = frozenset("、。，．・：；？！ー」』）】〕〉》］｝ゝゞ々ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ,.:;?!)]}%")
# Characters that may not end a line: they wrap together with the glyph after them.
_NO_LINE_END = frozenset("「『（【〔〈《［｛([{")
# Characters that may hang past the right margin; lines ending in them do not tell where the margin is.
_HANGING = frozenset("、。，．,.")
# A line that starts like this always starts a new logical line: bullets, notes, numbered headings, URLs.
_ITEM_START = re.compile(
    r"""^(?:
        [・○●◎◇◆□■▪☆★※【〇◯➢▶►]
      | [-－‐–—]{2}
      | [-－‐–—]\s
      | [(（]\s*[0-9０-９]{1,2}\s*[)）]
      | [0-9０-９]{1,3}[.．](?![0-9０-９])
      | [\u2460-\u2473\u3251-\u325f]
      | https?://
      | www\.
    )""",
    re.VERBOSE,
)
# A bare page number in a header or footer: `14`, `- 14 -`, `(14)`, `14 / 196`, `p. 14`.
_PAGE_NUMBER = re.compile(
    r"^[-－–—(（\[]?\s*(?:p\.?|page)?\s*[0-9０-９]{1,4}\s*(?:/\s*[0-9０-９]{1,4})?\s*[-－–—)）\]]?$", re.IGNORECASE
)
_DIGITS = re.compile(r"[0-9０-９]+")


@dataclass(frozen=True)
class Segment:
    """A run of text on one physical line, bounded by cell-sized gaps."""

    text: str
    x0: float
    x1: float
    lead: float  # width of the first unbreakable unit: what a wrap before it had to fit
    trailing_space: bool = False  # a space glyph followed the text (a word boundary at a wrap)
    leading_space: bool = False  # a space glyph came before the text
    col: int = 0  # column of a rule-less table in its region (0 for ordinary text)
    limit: float | None = None  # right edge text of this column reaches (None: the region's)


@dataclass(frozen=True)
class PhysicalLine:
    """One printed line of a page, or one row of a ruled table with its cells assembled."""

    page: int
    top: float
    bottom: float
    size: float
    segments: tuple[Segment, ...]
    region: tuple[Any, ...]  # ("free",), ("box", x0, x1, table, band) or ("row", table, band)
    limit: float | None  # right edge text in the region may reach (None: not known yet)
    cells: tuple[str, ...] | None = None  # a ruled table row: its cells, spans padded with ""

    @property
    def x0(self) -> float:
        return self.segments[0].x0

    @property
    def x1(self) -> float:
        return self.segments[-1].x1

    @property
    def text(self) -> str:
        """The line as the converter would write it (cells joined by tabs)."""
        if self.cells is not None:
            return "\t".join(self.cells)
        return "\t".join(s.text for s in self.segments)


@dataclass(frozen=True)
class _HRule:
    """A horizontal ruling line."""

    y: float
    x0: float
    x1: float


@dataclass(frozen=True)
class _VRule:
    """A vertical ruling line."""

    x: float
    y0: float
    y1: float


def _slot(bounds: Sequence[float], v: float) -> int:
    """The interval between consecutive sorted ``bounds`` that ``v`` lies in (clamped to the first and last)."""
    return min(max(bisect.bisect_right(bounds, v) - 1, 0), len(bounds) - 2)


@dataclass(frozen=True)
class _Table:
    """A grid of ruling lines: row boundaries, and per row the vertical rules crossing it."""

    x0: float
    top: float
    x1: float
    bottom: float
    ys: tuple[float, ...]
    row_xs: tuple[tuple[float, ...], ...]
    grid_xs: tuple[float, ...]
    covers: tuple[tuple[tuple[float, float], ...], ...]  # per row boundary, the x-spans its rules cover

    def band_of(self, x: float, y: float) -> int:
        """The row a point lies in, moved up while no rule separates it from the row above (a merged cell)."""
        band = _slot(self.ys, y)
        while band > 0 and not any(a - RULE_TOL_PT <= x <= b + RULE_TOL_PT for a, b in self.covers[band]):
            band -= 1
        return band


# ---------------------------------------------------------------------------
# chars -> physical lines
# ---------------------------------------------------------------------------


def dedupe_chars(chars: Iterable[Char], tol: float = DEDUPE_TOL_PT) -> list[Char]:
    """Drop glyphs drawn again at (nearly) the same place: fake-bold overprinting."""
    kept: list[Char] = []
    seen: dict[tuple[str, int, int], list[tuple[float, float]]] = {}
    cell = 2 * tol  # a glyph within tol of another lies in its grid cell or the neighbour on its nearer side
    for c in chars:
        x0, top, text = float(c["x0"]), float(c["top"]), c["text"]
        fx, fy = x0 / cell, top / cell
        kx, ky = int(fx // 1), int(fy // 1)
        nx, ny = kx + (1 if fx - kx >= 0.5 else -1), ky + (1 if fy - ky >= 0.5 else -1)
        duplicate = False
        for key in ((text, kx, ky), (text, nx, ky), (text, kx, ny), (text, nx, ny)):
            for ox, oy in seen.get(key, ()):
                if abs(ox - x0) <= tol and abs(oy - top) <= tol:
                    duplicate = True
                    break
            if duplicate:
                break
        if not duplicate:
            kept.append(c)
            seen.setdefault((text, kx, ky), []).append((x0, top))
    return kept


def graphics_to_rules(objects: Iterable[Mapping[str, Any]]) -> tuple[list[_HRule], list[_VRule]]:
    """Horizontal and vertical ruling lines from pdfplumber line/rect objects (filled panels ignored)."""
    hs: list[_HRule] = []
    vs: list[_VRule] = []
    for o in objects:
        x0, x1, top, bottom = float(o["x0"]), float(o["x1"]), float(o["top"]), float(o["bottom"])
        w, h = x1 - x0, bottom - top
        if h <= RULE_MAX_THICKNESS_PT and w > RULE_MAX_THICKNESS_PT:
            hs.append(_HRule((top + bottom) / 2, x0, x1))
        elif w <= RULE_MAX_THICKNESS_PT and h > RULE_MAX_THICKNESS_PT:
            vs.append(_VRule((x0 + x1) / 2, top, bottom))
        elif o.get("object_type") == "rect" and o.get("stroke") and w > 0 and h > 0:
            hs += [_HRule(top, x0, x1), _HRule(bottom, x0, x1)]
            vs += [_VRule(x0, top, bottom), _VRule(x1, top, bottom)]
    return hs, vs


def _cluster(values: Iterable[float], tol: float) -> list[float]:
    """Sorted values merged when closer than tol (each cluster represented by its first value)."""
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > tol:
            out.append(v)
    return out


def rules_to_tables(hs: Sequence[_HRule], vs: Sequence[_VRule], tol: float = RULE_TOL_PT) -> list[_Table]:
    """Group touching ruling lines into tables (at least two horizontal and two vertical rules each)."""
    parent = list(range(len(hs) + len(vs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, h in enumerate(hs):
        for j, v in enumerate(vs):
            if h.x0 - tol <= v.x <= h.x1 + tol and v.y0 - tol <= h.y <= v.y1 + tol:
                parent[find(i)] = find(len(hs) + j)
    groups: dict[int, tuple[list[_HRule], list[_VRule]]] = {}
    for i, h in enumerate(hs):
        groups.setdefault(find(i), ([], []))[0].append(h)
    for j, v in enumerate(vs):
        groups.setdefault(find(len(hs) + j), ([], []))[1].append(v)
    tables = []
    for g_hs, g_vs in groups.values():
        ys = _cluster((h.y for h in g_hs), tol)
        xs = _cluster((v.x for v in g_vs), tol)
        if len(ys) < 2 or len(xs) < 2:
            continue
        row_xs = []
        for top, bottom in zip(ys, ys[1:]):
            mid = (top + bottom) / 2
            crossing = _cluster((v.x for v in g_vs if v.y0 - tol <= mid <= v.y1 + tol), tol)
            row_xs.append(tuple(crossing) if len(crossing) >= 2 else (xs[0], xs[-1]))
        covers = tuple(tuple((h.x0, h.x1) for h in g_hs if abs(h.y - y) <= tol) for y in ys)
        tables.append(_Table(xs[0], ys[0], xs[-1], ys[-1], tuple(ys), tuple(row_xs), tuple(xs), covers))
    tables.sort(key=lambda t: (t.top, t.x0))
    return tables


def _is_space(c: Char) -> bool:
    """Whether a glyph is white space (ASCII, no-break or ideographic space)."""
    return c["text"].isspace()


def _cluster_rows(chars: Sequence[Char]) -> list[list[Char]]:
    """Chars grouped into physical lines (vertical middle inside the line's extent), each sorted by x."""
    rows: list[list[Char]] = []
    top = bottom = 0.0
    for c in sorted(chars, key=lambda c: (c["top"], c["x0"])):
        mid = (c["top"] + c["bottom"]) / 2
        if rows and top <= mid <= bottom:
            rows[-1].append(c)
            bottom = max(bottom, c["bottom"])
        else:
            rows.append([c])
            top, bottom = c["top"], c["bottom"]
    for row in rows:
        row.sort(key=lambda c: c["x0"])
    return rows


def _lead_width(glyphs: Sequence[Char]) -> float:
    """Width of the first unit a line break could not have split (what the line before had to fit)."""
    # An ASCII word, or one glyph (two after an opening bracket), plus following glyphs that may not start a line.
    end = 0
    if glyphs[0]["text"].isascii():
        while end + 1 < len(glyphs) and glyphs[end + 1]["text"].isascii() and not _is_space(glyphs[end + 1]):
            end += 1
    elif glyphs[0]["text"] in _NO_LINE_END and len(glyphs) > 1:
        end = 1
    for _ in range(2):
        if end + 1 < len(glyphs) and glyphs[end + 1]["text"] in _NO_LINE_START:
            end += 1
    return float(glyphs[end]["x1"] - glyphs[0]["x0"])


def _row_to_segments(row: Sequence[Char]) -> list[Segment]:
    """One physical line's chars (sorted by x) to text segments split at cell-sized gaps."""
    # A blank wider (by CELL_GAP_EM) than the space glyphs in it explain is a cell boundary;
    # space glyphs are kept as spaces, and a narrower blank without one becomes one space.
    segments: list[Segment] = []
    glyphs: list[Char] = []
    parts: list[str] = []
    spaces = ""  # the space glyphs since the last glyph, kept as printed (" ", U+3000) inside a segment
    space_width = 0.0
    leading = False
    prev_x1 = prev_size = 0.0

    def close(trailing: bool) -> None:
        if glyphs:
            text = fold_lookalikes("".join(parts))
            x0, x1 = float(glyphs[0]["x0"]), float(glyphs[-1]["x1"])
            segments.append(Segment(text, x0, x1, _lead_width(glyphs), trailing, leading and not segments))

    for c in row:
        text = c["text"]
        if text.isspace():
            spaces += " " if text == "\u00a0" else text
            space_width += c["x1"] - c["x0"]
            continue
        size = c["size"]
        if glyphs:
            em = max(prev_size, size, 1.0)
            gap = c["x0"] - prev_x1
            if gap - space_width >= CELL_GAP_EM * em:
                close(bool(spaces))
                glyphs, parts = [], []
            elif spaces:
                parts.append(spaces)
            elif gap >= SPACE_GAP_EM * em:
                parts.append(" ")
        else:
            leading = bool(spaces)
        spaces, space_width = "", 0.0
        glyphs.append(c)
        parts.append(text)
        prev_x1, prev_size = c["x1"], size
    close(bool(spaces))
    return segments


def _physical_line(page_no: int, chars: Sequence[Char], segments: Sequence[Segment], **layout: Any) -> PhysicalLine:
    """A physical line whose vertical extent and size are those of its inked (non-space) chars."""
    ink = [c for c in chars if not _is_space(c)]
    return PhysicalLine(
        page=page_no,
        top=float(min(c["top"] for c in ink)),
        bottom=float(max(c["bottom"] for c in ink)),
        size=float(max(c["size"] for c in ink)),
        segments=tuple(segments),
        **layout,
    )


def _lines_of(chars: Sequence[Char], page_no: int, region: tuple[Any, ...]) -> list[PhysicalLine]:
    """Physical lines of one region (free text or one box band)."""
    out = []
    for row in _cluster_rows(chars):
        segments = _row_to_segments(row)
        if not segments:
            continue
        out.append(_physical_line(page_no, row, segments, region=region, limit=None))
    return out


def _with_columns(lines: list[PhysicalLine]) -> list[PhysicalLine]:
    """Give the segments of a region's rule-less tables (runs of multi-segment lines) columns and right edges."""
    out: list[PhysicalLine] = []
    block: list[PhysicalLine] = []
    for ln in lines:  # a table goes on while lines have cells or are indented like its cells (wrapped cell text)
        if block and (len(ln.segments) > 1 or ln.x0 >= min(b.x0 for b in block) - COLUMN_TOL_EM * ln.size):
            block.append(ln)
            continue
        out += _block_with_columns(block)
        block = [ln] if len(ln.segments) > 1 else []
        if not block:
            out.append(ln)
    return out + _block_with_columns(block)


def _block_with_columns(lines: list[PhysicalLine]) -> list[PhysicalLine]:
    """Columns and right edges for one rule-less table (its single-segment lines left as they are)."""
    multi = [ln for ln in lines if len(ln.segments) > 1]
    if not multi:
        return lines
    em = max(ln.size for ln in multi)
    starts = _cluster((s.x0 for ln in multi for s in ln.segments), COLUMN_TOL_EM * em)
    col_limit: dict[int, float] = {}
    assigned: dict[int, tuple[int, ...]] = {}
    for ln in multi:
        cols: list[int] = []
        for s in ln.segments:
            col = max(0, bisect.bisect_right(starts, s.x0 + COLUMN_TOL_EM * em / 2) - 1)
            cols.append(col if not cols or col > cols[-1] else cols[-1] + 1)
        assigned[id(ln)] = tuple(cols)
        for s, col in zip(ln.segments[:-1], cols):
            col_limit[col] = max(col_limit.get(col, s.x1), s.x1)
    out = []
    for ln in lines:
        cols_of = assigned.get(id(ln))
        if cols_of is None:
            out.append(ln)
            continue
        segs = tuple(
            replace(s, col=col, limit=col_limit.get(col) if i < len(ln.segments) - 1 else None)
            for i, (s, col) in enumerate(zip(ln.segments, cols_of))
        )
        out.append(replace(ln, segments=segs))
    return out


def _observed_right(lines: Iterable[PhysicalLine]) -> float | None:
    """The rightmost line end that does not end in hanging punctuation."""
    ends = [ln.x1 for ln in lines if ln.segments[-1].text[-1:] not in _HANGING]
    return max(ends) if ends else None


def _join_in_cell(pieces: Sequence[PhysicalLine], right: float) -> str:
    """The physical lines of one ruled cell as one string (wraps joined, segments spaced)."""
    text = ""
    prev: PhysicalLine | None = None
    for ln in pieces:
        piece = " ".join(s.text for s in ln.segments)
        if prev is not None and text:
            space = prev.segments[-1].trailing_space or ln.segments[0].leading_space
            text += _separator(text[-1], piece[0], right - prev.x1, space, prev.size)
        text += piece
        prev = ln
    return text


def chars_to_lines(
    chars: Iterable[Char],
    page_no: int,
    page_width: float,
    page_height: float | None = None,
    rules: Iterable[Mapping[str, Any]] = (),
    free_right: float | None = None,
) -> list[PhysicalLine]:
    """One page's chars and ruling lines (pdfplumber line/rect dicts) to its physical lines, top to bottom."""
    # free_right: right edge of the text column outside tables; by default the page width less the
    # commonest left margin of this page, or the rightmost line end if that is further right.
    height = page_height if page_height is not None else math.inf
    usable = [
        c
        for c in chars
        if c.get("upright", True) and c["text"] and c["x1"] > 0 and c["x0"] < page_width and c["bottom"] > 0 and c["top"] < height
    ]
    usable = dedupe_chars(usable)
    tables = rules_to_tables(*graphics_to_rules(rules))

    free: list[Char] = []
    in_table: dict[int, list[Char]] = {}
    bboxes = [(ti, t.x0, t.top, t.x1, t.bottom) for ti, t in enumerate(tables)]
    for c in usable:
        cx, cy = (c["x0"] + c["x1"]) / 2, (c["top"] + c["bottom"]) / 2
        for ti, x0, top, x1, bottom in bboxes:
            if x0 <= cx <= x1 and top <= cy <= bottom:
                in_table.setdefault(ti, []).append(c)
                break
        else:
            free.append(c)

    out: list[PhysicalLine] = []
    free_lines = _lines_of(free, page_no, ("free",))
    if free_lines:
        right = free_right if free_right is not None else free_text_right([free_lines], page_width)
        out += _with_columns([replace(ln, limit=right) for ln in free_lines])

    for ti, t in enumerate(tables):
        tchars = in_table.get(ti, [])
        bands: dict[int, list[Char]] = {}
        merged = len(t.grid_xs) > 2  # a multi-column table may merge cells across rows
        for c in tchars:
            cx, cy = (c["x0"] + c["x1"]) / 2, (c["top"] + c["bottom"]) / 2
            band = t.band_of(cx, cy) if merged else _slot(t.ys, cy)
            bands.setdefault(band, []).append(c)
        if len(t.grid_xs) == 2:
            out += _box_lines(t, ti, bands, page_no)
        else:
            out += _row_lines(t, ti, bands, page_no)
    out.sort(key=lambda ln: (ln.top, ln.x0))
    return out


def _box_lines(t: _Table, ti: int, bands: Mapping[int, list[Char]], page_no: int) -> list[PhysicalLine]:
    """Physical lines of a single-column ruled box, each band its own region."""
    lines: list[PhysicalLine] = []
    for band, bchars in sorted(bands.items()):
        lines += _lines_of(bchars, page_no, ("box", round(t.x0), round(t.x1), ti, band))
    if not lines:
        return []
    pad = max(0.0, min(ln.x0 - t.x0 for ln in lines))
    limit = max(t.x1 - pad, _observed_right(lines) or 0.0)
    out = []
    for band in sorted(bands):
        band_lines = [replace(ln, limit=limit) for ln in lines if ln.region[4] == band]
        out += _with_columns(band_lines)
    return out


def _row_lines(t: _Table, ti: int, bands: Mapping[int, list[Char]], page_no: int) -> list[PhysicalLine]:
    """One line per row of a multi-column ruled table, its cells joined and spanned cells padded."""
    out: list[PhysicalLine] = []
    for band, bchars in sorted(bands.items()):
        xs = t.row_xs[band]
        by_cell: dict[int, list[Char]] = {}
        for c in bchars:
            cx = (c["x0"] + c["x1"]) / 2
            cell = _slot(xs, cx)
            by_cell.setdefault(cell, []).append(c)
        cells: list[str] = []
        segments: list[Segment] = []
        for cell in range(len(xs) - 1):
            span = sum(1 for x in t.grid_xs if xs[cell] - RULE_TOL_PT < x < xs[cell + 1] - RULE_TOL_PT)
            pieces = _lines_of(by_cell.get(cell, []), page_no, ("cell",))
            if pieces:
                pad = max(0.0, min(ln.x0 for ln in pieces) - xs[cell])
                cells.append(_join_in_cell(pieces, xs[cell + 1] - min(pad, pieces[0].size)))
                segments += [s for ln in pieces for s in ln.segments]
            else:
                cells.append("")
            cells += [""] * (max(span, 1) - 1)
        if not segments:
            continue
        out.append(_physical_line(page_no, bchars, sorted(segments, key=lambda s: s.x0), region=("row", ti, band),
                                  limit=t.x1, cells=tuple(cells)))
    return out


# ---------------------------------------------------------------------------
# page furniture
# ---------------------------------------------------------------------------


def _furniture_key(text: str) -> str:
    """A header/footer line with white space dropped and numbers masked, so `- 3 -` and `- 4 -` compare equal."""
    return _DIGITS.sub("#", "".join(text.split()))


def drop_running_furniture(
    pages: Sequence[Sequence[PhysicalLine]], page_height: float | Sequence[float]
) -> list[list[PhysicalLine]]:
    """Drop bare page numbers and running headers/footers (same text, digits aside, in the top/bottom band of many pages)."""
    heights = [page_height] * len(pages) if isinstance(page_height, (int, float)) else list(page_height)
    candidates: list[list[int]] = []
    counts: Counter[str] = Counter()
    for lines, height in zip(pages, heights):
        idx: list[int] = []
        for i, ln in enumerate(lines):  # leading lines in the top band
            if ln.region[0] != "free" or ln.bottom > FURNITURE_BAND * height:
                break
            idx.append(i)
        for i in range(len(lines) - 1, -1, -1):  # trailing lines in the bottom band
            ln = lines[i]
            if ln.region[0] != "free" or ln.top < (1 - FURNITURE_BAND) * height or i in idx:
                break
            idx.append(i)
        candidates.append(idx)
        counts.update({_furniture_key(lines[i].text) for i in idx})
    threshold = max(REPEAT_MIN_PAGES, math.ceil(REPEAT_SHARE * len(pages)))
    out = []
    for lines, idx in zip(pages, candidates):
        drop = {
            i
            for i in idx
            if _PAGE_NUMBER.match(lines[i].text.strip()) or counts[_furniture_key(lines[i].text)] >= threshold
        }
        out.append([ln for i, ln in enumerate(lines) if i not in drop])
    return out


# ---------------------------------------------------------------------------
# physical lines -> logical lines
# ---------------------------------------------------------------------------


def _separator(before: str, after: str, room: float, space_glyph: bool, size: float) -> str:
    """What goes between two wrapped pieces: a space where one was printed or ASCII words split at a space, else nothing."""
    if space_glyph:
        return " "
    # Japanese wraps anywhere; a number, URL or address broken mid-way at the edge joins as is.
    if before.isascii() and after.isascii() and before.isalpha() and after.isalpha() and room >= size:
        return " "
    return ""


def _reached(x1: float, limit: float | None, lead: float) -> bool:
    """Whether a line ending at x1 left too little room for the next line's first unit (so it wrapped)."""
    return limit is not None and limit - x1 < lead + WRAP_TOL_PT


@dataclass
class _Cell:
    """One cell of a logical line being assembled (the only cell, for a paragraph)."""

    x0: float | None
    limit: float | None
    parts: list[str] = field(default_factory=list)
    last_x1: float = 0.0
    trailing_space: bool = False
    size: float = 10.0

    def add(self, seg: Segment, size: float) -> None:
        """Append a segment, with the separator a wrap between the two calls for."""
        if self.parts:
            room = (self.limit - self.last_x1) if self.limit is not None else 0.0
            space = self.trailing_space or seg.leading_space
            self.parts.append(_separator(self.parts[-1][-1], seg.text[0], room, space, self.size))
        self.parts.append(seg.text)
        self.last_x1, self.trailing_space, self.size = seg.x1, seg.trailing_space, size


class _LogicalLine:
    """A logical line being assembled from physical lines."""

    def __init__(self, first: PhysicalLine):
        self.first = self.last = first
        self.boxes = [_box_of(first)]
        self.row = first.cells
        self.cells: list[_Cell] = []
        if first.cells is None:
            for seg in first.segments:
                while len(self.cells) < seg.col:
                    self.cells.append(_Cell(None, None))
                cell = _Cell(seg.x0, seg.limit if seg.limit is not None else first.limit)
                cell.add(seg, first.size)
                self.cells.append(cell)

    def target(self, nxt: PhysicalLine) -> _Cell | None:
        """The cell the next physical line continues, or None when it starts a new logical line."""
        # Across a page break (furniture already dropped) a line can only continue the last
        # line of the previous page in a region of the same shape (free text, or a box as wide).
        if self.row is not None or nxt.cells is not None or len(nxt.segments) != 1:
            return None
        prev = self.last
        if nxt.page == prev.page:
            if nxt.region != prev.region or nxt.top - prev.bottom > PARA_GAP_EM * nxt.size:
                return None
        elif nxt.page != prev.page + 1 or _region_shape(nxt) != _region_shape(prev):
            return None
        seg = nxt.segments[0]
        if _ITEM_START.match(seg.text) and not seg.text.startswith(RELISTED_MARK):
            return None
        if len(self.cells) == 1:
            cell = self.cells[0]
            return cell if _reached(cell.last_x1, cell.limit, seg.lead) else None
        tol = 0.5 * nxt.size
        k = None
        for i, cell in enumerate(self.cells):
            if cell.x0 is not None and cell.x0 - tol <= seg.x0:
                k = i
        if k is None:
            return None
        cell = self.cells[k]
        if k == len(self.cells) - 1 and k > 0:
            return cell  # wrapped text in the last column of a rule-less table
        return cell if _reached(cell.last_x1, cell.limit, seg.lead) else None

    def add(self, nxt: PhysicalLine, cell: _Cell) -> None:
        """Append a physical line continuing the given cell."""
        cell.add(nxt.segments[0], nxt.size)
        self.last = nxt
        self.boxes.append(_box_of(nxt))

    def text(self) -> str:
        """The logical line's text: cells joined by tabs."""
        if self.row is not None:
            return "\t".join(self.row)
        return "\t".join("".join(c.parts).strip() for c in self.cells)


def _region_shape(ln: PhysicalLine) -> tuple[Any, ...]:
    """What a region looks like irrespective of its page: a box continued on the next page has the same shape."""
    if ln.region[0] == "box":
        return ln.region[:3]
    return (ln.region[0], round(ln.limit or 0.0))


def _box_of(ln: PhysicalLine) -> Box:
    """The box a physical line's text covers."""
    x0 = min(s.x0 for s in ln.segments)
    x1 = max(s.x1 for s in ln.segments)  # a wrapped cell's first segment may reach further right than the last
    return Box(ln.page, round(x0, 2), round(ln.top, 2), round(x1, 2), round(ln.bottom, 2))


def lines_to_logical_lines(lines: Sequence[PhysicalLine]) -> list[Line]:
    """Physical lines (in reading order, furniture removed) to logical lines with pages and boxes."""
    out: list[Line] = []
    cur: _LogicalLine | None = None

    def flush() -> None:
        if cur is None:
            return
        text = cur.text()
        if not text.strip():
            return
        out.append(
            Line(
                text=text,
                lineno=len(out) + 1,
                page=cur.first.page,
                page_end=cur.last.page if cur.last.page != cur.first.page else None,
                boxes=tuple(cur.boxes),
            )
        )

    for ln in lines:
        if cur is not None:
            cell = cur.target(ln)
            if cell is not None:
                cur.add(ln, cell)
                continue
        flush()
        cur = _LogicalLine(ln)
    flush()
    return out


def widen_column_limits(lines: Sequence[PhysicalLine]) -> list[PhysicalLine]:
    """Give each inner column of a rule-less table the right edge that column reaches anywhere in the document."""
    found: dict[tuple[Any, ...], list[tuple[float, float, float]]] = {}
    for ln in lines:
        for s in ln.segments[:-1] if ln.cells is None and len(ln.segments) > 1 else ():
            found.setdefault(_region_shape(ln), []).append((s.x0, s.x1, COLUMN_TOL_EM * ln.size))
    limits: dict[tuple[Any, ...], list[tuple[float, float, float]]] = {}  # shape -> [(x0 from, x0 to, right)]
    for shape, items in found.items():
        items.sort()
        spans: list[tuple[float, float, float]] = []
        for x0, x1, tol in items:
            if spans and x0 - spans[-1][1] <= tol:
                a, _, right = spans[-1]
                spans[-1] = (a, x0, max(right, x1))
            else:
                spans.append((x0, x0, x1))
        limits[shape] = spans

    def widened(ln: PhysicalLine) -> PhysicalLine:
        if ln.cells is not None or len(ln.segments) < 2:
            return ln
        spans = limits.get(_region_shape(ln), [])
        segs = []
        for s in ln.segments[:-1]:
            right = next((r for a, b, r in spans if a <= s.x0 <= b), s.limit)
            segs.append(replace(s, limit=right))
        return replace(ln, segments=(*segs, ln.segments[-1]))

    return [widened(ln) for ln in lines]


def set_free_right(lines: Iterable[PhysicalLine], right: float) -> list[PhysicalLine]:
    """The lines with the right edge of the free-text column set to one document-wide value."""
    return [replace(ln, limit=right) if ln.region[0] == "free" else ln for ln in lines]


def free_text_right(pages: Sequence[Sequence[PhysicalLine]], page_width: float) -> float | None:
    """Right edge of the text column outside tables: page width less the commonest left margin, or the furthest line end."""
    free = [ln for lines in pages for ln in lines if ln.region[0] == "free"]
    if not free:
        return None
    left = Counter(round(ln.x0) for ln in free).most_common(1)[0][0]
    return max(page_width - left, _observed_right(free) or 0.0)


def pages_to_logical_lines(
    pages: Sequence[Sequence[PhysicalLine]], page_height: float | Sequence[float], page_width: float
) -> list[Line]:
    """Every page's physical lines to the document's logical lines: furniture dropped, edges set document-wide, wraps joined."""
    kept = drop_running_furniture(pages, page_height)
    flat = [ln for lines in kept for ln in lines]
    right = free_text_right(kept, page_width)
    if right is not None:
        flat = set_free_right(flat, right)
    return lines_to_logical_lines(widen_column_limits(flat))


# ---------------------------------------------------------------------------
# the reader
# ---------------------------------------------------------------------------


def _problem(exc: BaseException) -> str:
    """A one-line description of why pdfminer/pdfplumber could not read a PDF."""
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        inner = [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
        e = inner[0] if inner else (e.__cause__ or e.__context__)
    names = {type(x).__name__ for x in chain}
    if names & {"PDFPasswordIncorrect", "PDFEncryptionError", "PDFEncryptionWarning"}:
        return "encrypted PDF (password required)"
    root = chain[-1]
    detail = " ".join(str(root).split())[:160] or type(root).__name__
    if names & {"PDFSyntaxError", "PSEOF", "PSSyntaxError", "PDFNoValidXRef"}:
        return f"corrupt or truncated PDF ({type(root).__name__}: {detail})"
    return f"unreadable PDF ({type(root).__name__}: {detail})"


def _check_bytes(path: str, data: bytes) -> None:
    """Reject what is visibly no complete PDF before pdfminer tries to repair it."""
    if not data.strip():
        raise InputError(path, "empty file")
    if b"%PDF-" not in data[:1024]:
        raise InputError(path, "not a PDF (no %PDF- header)")
    if b"%%EOF" not in data[-2048:]:
        raise InputError(path, "truncated PDF (no %%EOF at the end)")


def _page_numbers(pages: Iterable[int] | None, page_count: int) -> list[int]:
    """The 1-based page numbers to read, sorted and unique (ValueError for one out of range)."""
    if pages is None:
        return list(range(1, page_count + 1))
    numbers = sorted(set(int(p) for p in pages))
    bad = [p for p in numbers if not 1 <= p <= page_count]
    if bad:
        raise ValueError(f"page numbers out of range 1..{page_count}: {bad}")
    return numbers


def read_pdf(path: str | Path, pages: Iterable[int] | None = None) -> Document:
    """Read a survey PDF (all pages, or the 1-based ``pages``) into logical lines in the converter text shape."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(name, f"cannot read file ({exc.strerror or exc})") from None
    _check_bytes(name, data)
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except Exception as exc:  # pdfminer raises many types; all mean the same to the operator
        raise InputError(name, _problem(exc)) from None
    with pdf:
        try:
            page_count = len(pdf.pages)
        except Exception as exc:
            raise InputError(name, _problem(exc)) from None
        numbers = _page_numbers(pages, page_count)
        per_page: list[list[PhysicalLine]] = []
        heights: list[float] = []
        width = 0.0
        ink = 0
        for no in numbers:
            try:
                page = pdf.pages[no - 1]
                chars = page.chars
                rules = [*page.lines, *page.rects]
                width, height = float(page.width), float(page.height)
            except Exception as exc:
                raise InputError(name, _problem(exc)) from None
            ink += sum(1 for c in chars if c["text"].strip())
            per_page.append(chars_to_lines(chars, no, width, height, rules))
            heights.append(height)
            page.close()
    if ink == 0:
        raise InputError(name, "no text layer (scanned image?)")
    return Document(
        path=name,
        sha256=hashlib.sha256(data).hexdigest(),
        kind="pdf",
        lines=tuple(pages_to_logical_lines(per_page, heights, width)),
        page_count=page_count,
    )
