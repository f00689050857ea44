"""The intermediate shapes every reader produces and every later stage consumes.

A reader turns one file into a :class:`Document`: a flat list of logical
:class:`Line` objects, already cleaned of converter markup and PDF layout
noise, in the shape a converter leaves text (a table row is one line whose
cells are separated by ``\\t``; a paragraph wrapped over several physical
lines is one line). Segmentation then turns lines into :class:`Card` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Box:
    """A rectangle on a PDF page, in pdfplumber's coordinates (points, top-left origin)."""

    page: int
    x0: float
    top: float
    x1: float
    bottom: float


@dataclass(frozen=True)
class Line:
    """One logical line of a document.

    ``page`` is the 1-based PDF page the line starts on (None for text input);
    ``lineno`` is the 1-based line number in the source text file (for PDF
    input, the running index of the logical line). ``boxes`` holds, for PDF
    input, one box per physical line that was joined into this one.
    """

    text: str
    lineno: int
    page: int | None = None
    page_end: int | None = None
    lineno_end: int | None = None
    boxes: tuple[Box, ...] = ()

    @property
    def cells(self) -> list[str]:
        """The table cells of the line (a line that is no table row is one cell)."""
        return self.text.split("\t")


@dataclass(frozen=True)
class Document:
    """One source file, read."""

    path: str
    sha256: str
    kind: str  # "pdf" or "text"
    lines: tuple[Line, ...]
    encoding: str | None = None
    page_count: int | None = None


@dataclass(frozen=True)
class Card:
    """One numbered agreement card cut out of a document, before field extraction."""

    category_code: int
    category: str
    card_no: int | None
    heading: str  # the heading line after the card number, 【再掲】 included
    lines: tuple[Line, ...]  # body lines after the heading
    heading_line: Line
    notes: tuple[str, ...] = field(default=())  # segmentation warnings

    @property
    def page_start(self) -> int | None:
        return self.heading_line.page

    @property
    def page_end(self) -> int | None:
        pages = [ln.page_end or ln.page for ln in (self.heading_line, *self.lines) if ln.page]
        return max(pages) if pages else None

    @property
    def raw_text(self) -> str:
        return "\n".join(ln.text for ln in (self.heading_line, *self.lines))


class InputError(Exception):
    """A file that cannot be read as a survey report; the message is one line for the operator."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
