"""Read converter-made text/Markdown reports: decode, drop markup, keep line numbers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from extractors.document import Document, InputError, Line
from nlp.normalize import fold_lookalikes

# Encodings tried after UTF-8; the one that decodes strictly and reads most like Japanese wins.
# euc_jis_2004 and shift_jis_2004 are supersets of EUC-JP and Shift_JIS (circled digits included).
LEGACY_ENCODINGS = ("cp932", "euc_jis_2004", "shift_jis_2004")

_BLOCK_TAG = re.compile(r"</?(?:p|li|br|div|tr|h[1-6])\b[^>]*>", re.IGNORECASE)
_INLINE_TAG = re.compile(r"</?(?:ul|ol|span|strong|em|b|i|u|table|tbody|td|th|font|a)\b[^>]*>", re.IGNORECASE)
_ENTITY = re.compile(r"&(amp|lt|gt|quot|nbsp|#\d+);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "nbsp": " "}
# A converter's rule or empty-cell marker: `--`, `--\t----`.
_SEPARATOR = re.compile(r"^-{2,}(?:\t-{2,})*$")
# A list bullet printed inside a line (a converter flattened an HTML list; a PDF paragraph ran items on):
# a `・` with white space before or after it (` ・ item`, ` ・item`, `。・ item`). A `・` between two
# words (ロシア・韓国) is no bullet. Also splits free-text fields (extractors.fields.split_inline_bullets).
INLINE_BULLET = re.compile(r"\s+(?=・)|(?<=\S)(?=・\s)")
# A Markdown list marker in front of an item: `- ・…`, `- (1) …`.
_MD_BULLET = re.compile(r"^\s*[-*]\s+(?=\S)")
# A bare page number, possibly dashed: `14`, `- 14 -`.
_PAGE_NUMBER = re.compile(r"^\s*[-－]?\s*[0-9０-９]{1,4}\s*[-－]?\s*$")


def decode(data: bytes, path: str) -> tuple[str, str]:
    """Decode a report's bytes: UTF-8 (with or without BOM), CP932/Shift_JIS or EUC-JP."""
    if not data.strip():
        raise InputError(path, "empty file")
    if b"\x00" in data:
        raise InputError(path, "not a text file (binary content)")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = []
    for enc in LEGACY_ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        candidates.append((_japanese_score(text), enc, text))
    if not candidates:
        raise InputError(path, "unknown text encoding (not UTF-8, CP932/Shift_JIS or EUC-JP)")
    _, enc, text = max(candidates, key=lambda c: c[0])
    return text, enc


def _japanese_score(text: str) -> float:
    """Share of characters that are common Japanese (kana, CJK ideographs, ASCII)."""
    good = sum(
        1
        for ch in text
        if ch.isascii() or "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" or "\uff01" <= ch <= "\uff5e"
        or ch in "、。「」『』【】・〜①②③④⑤⑥⑦⑧⑨"
    )
    return good / max(1, len(text))


def clean_markup(raw: str) -> list[str]:
    """One raw converter line to its logical lines: tags removed, one paragraph or list item each."""
    text = _ENTITY.sub(lambda m: _ENTITIES.get(m.group(1)) or chr(int(m.group(1)[1:])), raw) if "&" in raw else raw
    had_markup = "<" in text and bool(_INLINE_TAG.search(text) or _BLOCK_TAG.search(text))
    if had_markup:
        text = _INLINE_TAG.sub("\n", text)
        text = _BLOCK_TAG.sub("\n", text)
    out = []
    for piece in text.split("\n"):
        if piece.lstrip()[:1] in ("-", "*"):
            piece = _MD_BULLET.sub("", piece)
        items = INLINE_BULLET.split(piece) if had_markup and "・" in piece else [piece]
        for item in items:
            item = item.rstrip("\n\r") if "\t" in item else item.strip()
            if item and not _SEPARATOR.match(item.strip()):
                out.append(item)
    return out


def text_to_lines(text: str) -> list[Line]:
    """Converter text to logical lines (markup removed; page furniture dropped)."""
    lines: list[Line] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        for piece in clean_markup(fold_lookalikes(raw)):
            lines.append(Line(text=piece, lineno=lineno))
    return drop_page_furniture(lines)


def drop_page_furniture(lines: list[Line]) -> list[Line]:
    """Drop bare page numbers and running headers a converter left between paragraphs."""
    counts: dict[str, int] = {}
    for ln in lines:
        counts[ln.text] = counts.get(ln.text, 0) + 1
    title = lines[0].text if lines else None
    kept = []
    for i, ln in enumerate(lines):
        if _PAGE_NUMBER.match(ln.text) and "\t" not in ln.text:
            continue
        if i > 0 and ln.text == title and "\t" not in ln.text and counts[ln.text] >= 2:
            continue
        kept.append(ln)
    return kept


def read_text(path: str | Path) -> Document:
    """Read a converter-made text or Markdown report."""
    path = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror or exc})") from None
    text, encoding = decode(data, path)
    return Document(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        kind="text",
        lines=tuple(text_to_lines(text)),
        encoding=encoding,
    )
