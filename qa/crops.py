"""Show where a value came from: a crop of the PDF page, or the source text lines.

Reads the ``provenance`` column of a record (one entry per field and PDF
page: page and box in pdfplumber points; for text input the source line
span). For a PDF source each entry becomes a PNG written to
``REPORT_DIR/crops/`` and referenced by a relative path: the page is rendered
once with pdfplumber (``page.to_image(resolution=…)``) and the value's box,
padded a little, is cut out of that image. For a text source an entry
becomes the source lines themselves (and, for ``cardex review``, a link into
a line-numbered copy of the source written to ``REPORT_DIR/sources/``).

It degrades with a reason instead of failing: a run without the provenance
column, a field without an entry (empty value), a source file that cannot be
found (``source_path`` is tried as given, then relative to the run directory
and its parents), or one whose sha256 is not the one extracted: each gives a
:class:`SourceView` of kind ``note`` that the page shows as text.
Nothing is fetched from the network; only local files are read.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CROPS_DIR = "crops"
SOURCES_DIR = "sources"
RESOLUTION = 120  # dpi of the rendered pages
PAD_X, PAD_Y = 4.0, 3.0  # points added around a value's box
PAGE_CACHE = 6  # rendered pages kept in memory
EXCERPT_LINES = 12  # source lines shown inline for a text value

#: Record columns whose value is read from another field's printed place.
PROVENANCE_OF = {
    "agreement_date_raw": "agreement_date",
    "agreement_date_precision": "agreement_date",
    "jp_prefectures": "jp_entities",
    "country_codes": "foreign_entities",
    "relisted": "title",
    "*": "title",
}

#: Record columns that are not printed in the card's fields: no source is shown for them.
NOT_PRINTED = ("category_code", "category", "warnings")


@dataclass(frozen=True)
class SourceView:
    """One place a value came from, ready for a template.

    kind ``crop``: ``src`` is the PNG's path relative to the report; ``lines``:
    ``excerpt`` holds (line number, text) pairs and ``href`` may link into the
    source copy; ``note``: ``text`` says why there is nothing to show.
    """

    kind: str
    text: str = ""  # a caption or the reason
    src: str | None = None
    href: str | None = None
    page: int | None = None
    box: tuple[float, float, float, float] | None = None
    line_start: int | None = None
    line_end: int | None = None
    excerpt: tuple[tuple[int, str], ...] = ()
    more_lines: int = 0


@dataclass
class _Source:
    path: Path | None
    problem: str | None
    kind: str  # pdf | text | unknown
    sha256: str


@dataclass
class Sources:
    """Finds the sources of records and renders where their values came from.

    ``out_dir`` is the report folder (crops go to ``out_dir/crops``);
    ``search`` are folders a relative ``source_path`` is also tried against
    (the run directories and their parents); ``render=False`` makes notes
    instead of crops (fast); ``link_lines=True`` writes line-numbered copies
    of text sources and links each line span into them.
    """

    out_dir: Path
    search: Sequence[Path] = ()
    render: bool = True
    link_lines: bool = False
    resolution: int = RESOLUTION
    _sources: dict[tuple[str, str], _Source] = field(default_factory=dict)
    _pdfs: dict[Path, Any] = field(default_factory=dict)
    _pages: OrderedDict = field(default_factory=OrderedDict)
    _texts: dict[Path, list[str]] = field(default_factory=dict)
    source_pages: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {path, lines}
    crops_written: int = 0

    def close(self) -> None:
        for pdf in self._pdfs.values():
            pdf.close()
        self._pdfs.clear()
        self._pages.clear()

    def __enter__(self) -> Sources:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ sources

    def source(self, record: dict[str, Any]) -> _Source:
        """The record's source file, found and checked (cached per path and hash)."""
        source_path = record.get("source_path") or ""
        sha = record.get("source_sha256") or ""
        key = (source_path, sha)
        if key not in self._sources:
            self._sources[key] = self._find(source_path, sha)
        return self._sources[key]

    def _find(self, source_path: str, sha: str) -> _Source:
        kind = "pdf" if source_path.lower().endswith(".pdf") else "text"
        if not source_path:
            return _Source(None, "the record names no source file", kind, sha)
        given = Path(source_path)
        candidates = [given] if given.is_absolute() else [Path.cwd() / given]
        if not given.is_absolute():
            for base in self.search:
                candidates.extend([base / given, *(parent / given for parent in base.resolve().parents)])
        seen: set[Path] = set()
        for cand in candidates:
            cand = cand.resolve()
            if cand in seen:
                continue
            seen.add(cand)
            if cand.is_file():
                try:
                    digest = _sha256(cand)
                except OSError as exc:
                    return _Source(None, f"source file {source_path} is unreadable: {exc.strerror or exc}", kind, sha)
                if sha and digest != sha:
                    return _Source(
                        None,
                        f"source file {cand} is not the file this run extracted (sha256 {digest[:12]}… "
                        f"instead of {sha[:12]}…): no crops",
                        kind,
                        sha,
                    )
                return _Source(cand, None, kind, sha)
        return _Source(None, f"source file {source_path} not found (looked relative to the current folder and the run folders)", kind, sha)

    # ------------------------------------------------------------ views

    def views(self, record: dict[str, Any] | None, field_name: str, *, has_provenance: bool = True) -> list[SourceView]:
        """Where ``record``'s value of ``field_name`` was printed: crops, source lines, or a note saying why not."""
        if record is None or field_name in NOT_PRINTED:
            return []
        src = self.source(record)
        if not has_provenance or "provenance" not in record:
            pages = _pages_text(record)
            return [SourceView("note", "no provenance in this run (extracted before cardex recorded it)" + pages)]
        wanted = PROVENANCE_OF.get(field_name, field_name)
        entries = [p for p in record.get("provenance") or () if p.get("field") == wanted]
        if not entries:
            return [SourceView("note", "no source position recorded for this value")]
        if src.problem:
            return [SourceView("note", src.problem + _pages_text(record))]
        out: list[SourceView] = []
        for p in entries:
            if p.get("page") is not None:
                out.append(self._crop_view(src, p))
            elif p.get("line_start") is not None:
                out.append(self._lines_view(src, p))
        return out or [SourceView("note", "no source position recorded for this value")]

    def _crop_view(self, src: _Source, p: dict[str, Any]) -> SourceView:
        page = int(p["page"])
        box = tuple(p.get(k) for k in ("x0", "top", "x1", "bottom"))
        caption = f"page {page}"
        if any(v is None for v in box):
            return SourceView("note", f"{caption} (no box recorded)", page=page)
        box = tuple(float(v) for v in box)  # type: ignore[assignment]
        if not self.render:
            return SourceView("note", f"{caption}, box {_fmt_box(box)} (crops not rendered)", page=page, box=box)
        if src.kind != "pdf" or src.path is None:
            return SourceView("note", f"{caption}: the source is not a PDF", page=page, box=box)
        try:
            rel = self.crop(src.path, src.sha256, page, box)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a bad page must not sink the report
            return SourceView("note", f"{caption}: could not render ({type(exc).__name__}: {exc})", page=page, box=box)
        return SourceView("crop", caption, src=rel, page=page, box=box)

    def _lines_view(self, src: _Source, p: dict[str, Any]) -> SourceView:
        start = int(p["line_start"])
        end = int(p.get("line_end") or start)
        caption = f"line {start}" if start == end else f"lines {start}–{end}"
        if src.path is None or src.kind == "pdf":
            return SourceView("note", caption, line_start=start, line_end=end)
        try:
            lines = self._text_lines(src.path)
        except Exception as exc:  # noqa: BLE001
            return SourceView("note", f"{caption}: could not read the source ({exc})", line_start=start, line_end=end)
        shown = range(start, min(end, start + EXCERPT_LINES - 1) + 1)
        excerpt = tuple((n, lines[n - 1]) for n in shown if 0 < n <= len(lines))
        href = None
        if self.link_lines:
            href = f"{SOURCES_DIR}/{self._source_page(src, lines)}#L{start}"
        return SourceView(
            "lines", caption, href=href, line_start=start, line_end=end, excerpt=excerpt,
            more_lines=max(0, end - start + 1 - len(shown)),
        )

    # ------------------------------------------------------------ rendering

    def crop(self, pdf_path: Path, sha: str, page_no: int, box: tuple[float, float, float, float]) -> str:
        """Write the PNG of ``box`` on page ``page_no`` (1-based) to ``crops/``; its path relative to the report."""
        name = f"{(sha or _sha256(pdf_path))[:12]}-p{page_no}-" + "-".join(f"{v:.0f}" for v in box) + f"-r{self.resolution}.png"
        rel = f"{CROPS_DIR}/{name}"
        target = self.out_dir / CROPS_DIR / name
        if target.exists():
            return rel
        image, (pw, ph) = self._page_image(pdf_path, page_no)
        scale = self.resolution / 72.0
        x0, top, x1, bottom = box
        x0, top = max(0.0, x0 - PAD_X), max(0.0, top - PAD_Y)
        x1, bottom = min(pw, x1 + PAD_X), min(ph, bottom + PAD_Y)
        if x1 <= x0 or bottom <= top:
            raise ValueError(f"empty box {_fmt_box(box)}")
        region = image.crop((int(x0 * scale), int(top * scale), int(x1 * scale + 0.999), int(bottom * scale + 0.999)))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.tmp")
        region.save(tmp, format="PNG")
        tmp.replace(target)
        self.crops_written += 1
        return rel

    def _page_image(self, pdf_path: Path, page_no: int) -> tuple[Any, tuple[float, float]]:
        key = (pdf_path, page_no)
        if key in self._pages:
            self._pages.move_to_end(key)
            return self._pages[key]
        pdf = self._pdfs.get(pdf_path)
        if pdf is None:
            import pdfplumber

            pdf = self._pdfs[pdf_path] = pdfplumber.open(pdf_path)
        if not 1 <= page_no <= len(pdf.pages):
            raise ValueError(f"page {page_no} is not in the PDF ({len(pdf.pages)} pages)")
        page = pdf.pages[page_no - 1]
        # Boxes are in the page's own coordinates (top-left origin, like page.bbox).
        x0, top, x1, bottom = page.bbox
        image = page.to_image(resolution=self.resolution).original.convert("RGB")
        entry = (image, (float(x1 - x0), float(bottom - top)))
        self._pages[key] = entry
        while len(self._pages) > PAGE_CACHE:
            self._pages.popitem(last=False)
        return entry

    def _text_lines(self, path: Path) -> list[str]:
        if path not in self._texts:
            from extractors.read_text import decode

            text, _ = decode(path.read_bytes(), str(path))
            self._texts[path] = text.splitlines()
        return self._texts[path]

    def _source_page(self, src: _Source, lines: list[str]) -> str:
        name = f"{(src.sha256 or _sha256(src.path))[:12]}.html"  # type: ignore[arg-type]
        if name not in self.source_pages:
            self.source_pages[name] = {"path": str(src.path), "lines": lines, "sha256": src.sha256}
        return name


def _pages_text(record: dict[str, Any]) -> str:
    a, b = record.get("page_start"), record.get("page_end")
    if a is None:
        return ""
    return f"; card on page {a}" if b in (None, a) else f"; card on pages {a}–{b}"


def _fmt_box(box: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.0f}" for v in box) + ")"


_HASHES: dict[tuple[Path, float, int], str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (path, st.st_mtime, st.st_size)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]
