"""Field (6) 取組を紹介しているホームページのURL: the URLs.

:func:`parse_urls` finds every URL in the field's text, whatever surrounds
it: ``<…>`` brackets, converter markup (``<p>…</p>``), a label before it
(``（セミナーの開催）http://…``), a note after it (``… (順천시HP)``).
Full-width characters are folded to ASCII (``ｈｔｔｐ：／／`` ->
``http://``); closing punctuation (``。``, ``）``, ``.``, an unbalanced ``)``)
is not part of a URL; ``&amp;`` and the like are unescaped. A URL printed
twice (``<a href="U">U</a>``) is listed once.

Every URL-like string -- anything with ``scheme://``, or starting with
``www.`` -- is checked with :mod:`urllib.parse`: scheme http or https and a
host name with a dot. One that fails (``ttp://…``, ``www.…`` without a
scheme, ``http://localhost``) is dropped with the warning ``invalid_url``;
nothing is completed or repaired by guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from extractors import validate as V
from nlp.normalize import FULLWIDTH_TO_ASCII

# Full-width ASCII variants folded to ASCII -- except brackets, which end a URL.
_FOLD = {c: a for c, a in FULLWIDTH_TO_ASCII.items() if chr(c) not in "（）［］｛｝＜＞｀＂＇"}
# Characters a URL may hold (RFC 3986 plus `%`), and Latin letters of an IDN host such as `café`.
_URL_CHARS = r"A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%\u00C0-\u024F"
_CANDIDATE = re.compile(rf"(?<![A-Za-z0-9.])(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)[{_URL_CHARS}]*")
_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|#\d+|#x[0-9A-Fa-f]+);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_TRAILING = ".,;:!?'*"
_PAIRS = {")": "(", "]": "["}


@dataclass(frozen=True)
class ParsedUrls:
    urls: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def _unescape(m: re.Match[str]) -> str:
    name = m.group(1)
    if name.startswith("#x") or name.startswith("#X"):
        return chr(int(name[2:], 16))
    if name.startswith("#"):
        return chr(int(name[1:]))
    return _ENTITIES[name]


def _trim(url: str) -> str:
    """Drop closing punctuation that ends a sentence or a bracket around the URL."""
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
            url = url[:-1]
        else:
            break
    return url


def _scheme_fix(url: str) -> str:
    """``HPhttp://x`` -> ``http://x``: letters glued before a http(s) scheme are not part of it."""
    m = re.match(r"[A-Za-z0-9+.\-]*?(https?://)", url, re.IGNORECASE)
    return url[m.start(1) :] if m else url


def is_valid_url(url: str) -> bool:
    """An absolute http(s) URL whose host name has a dot."""
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError for a malformed port
    except ValueError:
        return False
    host = parts.hostname or ""
    return parts.scheme.lower() in ("http", "https") and "." in host.strip(".") and not host.startswith(".")


def parse_urls(text: str) -> ParsedUrls:
    """Every valid URL in field (6), in order of appearance, and warnings."""
    folded = _ENTITY.sub(_unescape, (text or "").translate(_FOLD))
    urls: list[str] = []
    warnings: list[str] = []
    for m in _CANDIDATE.finditer(folded):
        url = _trim(_scheme_fix(m.group(0)))
        if is_valid_url(url):
            if url not in urls:
                urls.append(url)
        elif V.INVALID_URL not in warnings:
            warnings.append(V.INVALID_URL)
    return ParsedUrls(tuple(urls), tuple(warnings))


class UrlList(list):
    """The URLs of a field, a plain ``list[str]`` that also carries the field's warnings.

    ``.urls`` (a tuple of the same URLs) and ``.warnings`` make it usable where a
    :class:`ParsedUrls` is expected.
    """

    def __init__(self, parsed: ParsedUrls):
        super().__init__(parsed.urls)
        self.warnings: tuple[str, ...] = parsed.warnings

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(self)


def extract_urls(text: str) -> list[str]:
    """Every valid URL in field (6), in order; the result also has ``.warnings`` (see :func:`parse_urls`)."""
    return UrlList(parse_urls(text))
