"""Japanese tokenisation for the party/country/prefecture rules, and rule-data access.

Two views of the same tokenizer (SudachiPy, dictionary ``sudachidict_core``,
split mode C, nothing downloaded at run time):

* :func:`tokens` — the hot path: spaCy's Japanese tokenizer (SudachiPy split
  mode C) returning light :class:`Tok` tuples (surface, character offsets, POS tag).
  The splitting and country rules call it only for the few strings whose
  reading depends on word boundaries (a ``・`` between two names, a country
  name glued to other katakana), never for every card.
* :func:`japanese` — a cached spaCy pipeline: ``spacy.blank("ja")`` with the
  same SudachiPy tokenizer in split mode C, an ``entity_ruler`` built from
  the rule data (``COUNTRY`` from the country table, ``PREF`` from the 47
  prefectures, ``ADMIN_SUFFIX`` for 市/町/村/郡/県/州/…) and a small
  component aligning COUNTRY with :func:`nlp.countries.countries_in`. No statistical
  model (GiNZA's statistical model is slow and labels 中華人民共和国 as a religion). It yields
  the tokens of :func:`tokens`. Loading it costs ~1.4 s once per process
  (importing spaCy); the benchmark reports that apart from per-card time.

Rule data lives in ``nlp/rules`` (TOML and TSV); :func:`load_toml` and
:func:`load_tsv` read it, :func:`rule` fetches one rule by id.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    import spacy.language

RULES_DIR = Path(__file__).resolve().parent / "rules"


# --------------------------------------------------------------------------- rule data


@functools.cache
def load_toml(name: str) -> dict[str, Any]:
    """One TOML rule file of ``nlp/rules`` (e.g. ``"foreign_parties.toml"``), parsed once."""
    with open(RULES_DIR / name, "rb") as fh:
        return tomllib.load(fh)


@functools.cache
def load_tsv(name: str) -> tuple[dict[str, str], ...]:
    """One TSV rule file of ``nlp/rules`` as rows keyed by the header; ``#`` lines are comments."""
    text = (RULES_DIR / name).read_text(encoding="utf-8")
    body = "\n".join(ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))
    reader = csv.DictReader(io.StringIO(body), delimiter="\t", quoting=csv.QUOTE_NONE)
    rows = []
    for row in reader:
        if None in row:
            raise ValueError(f"nlp/rules/{name}: more cells than columns: {row[None]!r}")
        rows.append({k: (v or "").strip() for k, v in row.items()})
    return tuple(rows)


def rule(file: str, rule_id: str) -> dict[str, Any]:
    """The ``[[rule]]`` with ``id == rule_id`` in a TOML rule file."""
    for r in load_toml(file).get("rule", []):
        if r.get("id") == rule_id:
            return r
    raise KeyError(f"{file}: no rule {rule_id!r}")


@functools.cache
def rule_regex(file: str, rule_id: str) -> re.Pattern[str]:
    """The compiled ``regex`` of one rule."""
    return re.compile(rule(file, rule_id)["regex"])


@functools.cache
def admin_suffixes() -> tuple[str, ...]:
    """Administrative-unit suffixes (市, 町, 郡, 県, 州, 広域市, …), longest first."""
    values = rule("foreign_parties.toml", "admin_suffixes")["values"]
    return tuple(sorted(values, key=len, reverse=True))


# --------------------------------------------------------------------------- SudachiPy


class Tok(NamedTuple):
    """One Sudachi token: surface, [start, end) character offsets, POS tag (``名詞-固有名詞-地名-国``)."""

    text: str
    start: int
    end: int
    tag: str


@functools.cache
def _sudachi():
    """SudachiPy itself (split mode C), used only to cross-check the spaCy tokenizer in tests."""
    from sudachipy import dictionary, tokenizer

    return dictionary.Dictionary(dict="core").create(mode=tokenizer.Tokenizer.SplitMode.C)


@functools.lru_cache(maxsize=4096)
def tokens(text: str) -> tuple[Tok, ...]:
    """Split-mode-C tokens of ``text`` from spaCy's Japanese tokenizer (whitespace dropped), cached."""
    out = []
    for t in japanese().make_doc(text):
        if not t.text or t.text.isspace():
            continue
        out.append(Tok(t.text, t.idx, t.idx + len(t.text), t.tag_))
    return tuple(out)


def sudachi_tokens(text: str) -> tuple[Tok, ...]:
    """The same tokens straight from SudachiPy (for tests that check the two agree)."""
    out = []
    for m in _sudachi().tokenize(text):
        surface = m.surface()
        if not surface or surface.isspace():
            continue
        tag = "-".join(p for p in m.part_of_speech()[:4] if p != "*")
        out.append(Tok(surface, m.begin(), m.end(), tag))
    return tuple(out)


def is_boundary(text: str, offset: int) -> bool:
    """True when a token boundary falls at ``offset`` (start/end of text count as boundaries)."""
    if offset <= 0 or offset >= len(text):
        return True
    return any(t.start == offset or t.end == offset for t in tokens(text))


def is_admin_unit_end(tok: Tok) -> bool:
    """True for a token that closes an administrative unit's name.

    Either the bare suffix (``市`` in カステリョン/市, ``郡`` in 康津/郡), or a
    place-name token that already includes its suffix (``バイエルン州``,
    ``南ホラント州``: Sudachi keeps known names whole).
    """
    suffixes = admin_suffixes()
    if tok.text in suffixes:
        return True
    return "地名" in tok.tag and any(tok.text.endswith(s) and len(tok.text) > len(s) for s in suffixes)


# --------------------------------------------------------------------------- spaCy pipeline


def _cut_at(doc, offsets: set[int]) -> None:
    """Split tokens so that every character offset in ``offsets`` is a token boundary."""
    with doc.retokenize() as retokenizer:
        for token in doc:
            cuts = sorted(o - token.idx for o in offsets if token.idx < o < token.idx + len(token.text))
            if not cuts:
                continue
            bounds = [0, *cuts, len(token.text)]
            orths = [token.text[i:j] for i, j in zip(bounds, bounds[1:])]
            retokenizer.split(token, orths, heads=[(token, 0)] * len(orths))


def _reconcile_countries(doc):
    """Make the COUNTRY entities exactly the mentions of :func:`nlp.countries.countries_in`.

    Sudachi does not always cut at a country name inside a line
    (中華人民共和国大連市 comes out 中華|人民|共和|国大|連市, and 大韓民国 alone is one
    token but 大韓|民国 in 大韓民国江原道), so the entity_ruler's phrase patterns
    miss some mentions, and a pattern may match where the country guards say
    "place name". This component splits tokens at the mention boundaries the
    character-level matcher found and sets COUNTRY to exactly those mentions;
    the other entities (PREF, ADMIN_SUFFIX) are kept.
    """
    from spacy.util import filter_spans

    from nlp.countries import countries_in

    mentions = countries_in(doc.text)
    others = [(e.start_char, e.end_char, e.label_, e.id_) for e in doc.ents if e.label_ != "COUNTRY"]
    offsets = {o for s, e, _ in mentions for o in (s, e)}
    _cut_at(doc, offsets)
    spans = [doc.char_span(s, e, label="COUNTRY", span_id=code) for s, e, code in mentions]
    spans += [doc.char_span(s, e, label=label, span_id=sid) for s, e, label, sid in others]
    doc.ents = filter_spans([sp for sp in spans if sp is not None])
    return doc


@functools.cache
def japanese() -> "spacy.language.Language":
    """The cached spaCy Japanese pipeline: Sudachi split mode C + rule components, no model.

    * ``entity_ruler`` built from the rule data: ``COUNTRY`` (every name of
      the country table, ent_id_ = ISO alpha-2), ``PREF`` (the 47 prefectures,
      ent_id_ = JIS X 0401 code), ``ADMIN_SUFFIX`` (one token such as 市, 州,
      広域市; ent_id_ = ``admin``);
    * ``cardex_countries``: aligns COUNTRY with :func:`nlp.countries.countries_in`
      (see :func:`_reconcile_countries`).
    """
    import spacy
    from spacy.language import Language

    from nlp.countries import alias_table

    if not Language.has_factory("cardex_countries"):
        Language.component("cardex_countries", func=_reconcile_countries)
    nlp = spacy.blank("ja", config={"nlp": {"tokenizer": {"split_mode": "C"}}})
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "ORTH", "overwrite_ents": True})
    patterns: list[dict[str, Any]] = []
    for name, (code, _kind, _sov) in sorted(alias_table().items(), key=lambda kv: -len(kv[0])):
        patterns.append({"label": "COUNTRY", "pattern": name, "id": code})
    for row in load_tsv("prefectures.tsv"):
        patterns.append({"label": "PREF", "pattern": row["name"], "id": row["code"]})
    patterns.append(
        {"label": "ADMIN_SUFFIX", "pattern": [{"ORTH": {"IN": list(admin_suffixes())}}], "id": "admin"}
    )
    ruler.add_patterns(patterns)
    nlp.add_pipe("cardex_countries")
    return nlp
