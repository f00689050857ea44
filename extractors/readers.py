"""The reader registry: one function per kind of input, chosen by the file's content and name."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from extractors.document import Document, InputError

Reader = Callable[[str | Path], Document]

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")
PDF_SUFFIXES = (".pdf",)


def reader_for(path: str | Path) -> Reader:
    """The reader for a file: PDF by magic bytes or suffix, otherwise text."""
    from extractors.read_pdf import read_pdf
    from extractors.read_text import read_text

    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        raise InputError(str(path), f"cannot read file ({exc.strerror or exc})") from None
    if b"%PDF-" in head or p.suffix.lower() in PDF_SUFFIXES:
        return read_pdf
    return read_text


def read_document(path: str | Path) -> Document:
    """Read one report into logical lines (raises InputError with a one-line problem)."""
    if Path(path).is_dir():
        raise InputError(str(path), "is a directory")
    if not Path(path).exists():
        raise InputError(str(path), "no such file")
    return reader_for(path)(path)
