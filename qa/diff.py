"""Compare two runs card by card and field by field (``cardex diff``).

Cards are paired by *agreement identity*, never by position or card number,
so renumbering and reordering are not changes:

1. **Same agreement key.** Cards with the same ``agreement_key`` on both
   sides are paired. A key shared by several cards (re-listings) is paired
   within the key by (category, title), then by category, then in order.
2. **Fuzzy second pass** over the cards still unpaired, so that an edit to a
   field the key is made of (parties, date, title) shows as a *changed*
   field rather than as one card removed and another added:
   * ``title``: same category and same title (white space ignored), and the
     same Japanese parties, or the same foreign parties, or the same date;
   * ``parties``: same category, same Japanese and foreign parties, and a
     similar title or text (similarity >= ``FUZZY_SIMILARITY``).
   Within a pass, the most similar candidates are paired first.
3. Whatever is still unpaired is a card *removed* (old only) or *added*
   (new only): one row with field ``*``.

Every record column is compared except the bookkeeping ones in
:data:`BOOKKEEPING_FIELDS` (where the card came from and what it is numbered,
not what it says). Values are compared whole: lists as lists (order matters,
one ``phones`` row for any change to any phone), dates as dates. A column
present in only one of the two runs is not compared and is listed as such.

The kind of a field change is ``added`` (old value empty: null, ``""`` or
``[]``), ``removed`` (new value empty) or ``changed``. Each change also says
whether only white space differs (``whitespace_only``): the text made by a
PDF converter and the PDF itself break the same paragraph or list into lines
differently. By default such changes are reported (line breaks are part of
the contract: one list item per line); ``ignore_whitespace=True``
(``--ignore-whitespace``) leaves them out and only counts them.

``diff.parquet`` has one row per change; its schema is derived from
:class:`DiffRow` like the records' schema from their dataclass. Values are
JSON text (``null`` for a missing value), so one column holds strings, lists
and dates alike and ``""``/``[]``/null stay distinct.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from extractors.records import Int8, arrow_schema, doc
from extractors.write import RECORDS_FILE, REJECTS_FILE, RUN_FILE, atomic_write_bytes, parquet_bytes, verify_run

DIFF_FILE = "diff.parquet"
RECONCILIATION_FILE = "reconciliation.json"

#: Record columns that say where a card came from or how it is numbered, not what it says: never compared.
BOOKKEEPING_FIELDS = (
    "survey_id",
    "source_path",
    "source_sha256",
    "extractor_version",
    "card_id",
    "card_no",
    "page_start",
    "page_end",
    "provenance",
    "agreement_key",
)

#: The pseudo-field of a row for a whole card added or removed.
CARD = "*"

#: Free-text fields: where text and PDF of one report break lines differently.
FREE_TEXT_FIELDS = ("background", "activities", "outcomes")

#: Minimum title or text similarity for the ``parties`` fuzzy pass.
FUZZY_SIMILARITY = 0.6

KINDS = ("added", "removed", "changed")

_WS = re.compile(r"[\s\u3000]+")


class RunDirError(Exception):
    """A folder that is not a readable run directory."""

    def __init__(self, path: str | Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = str(path), problem


# ---------------------------------------------------------------- runs


@dataclass
class Run:
    """A published run directory, read back."""

    path: Path
    records: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    columns: list[str]
    info: dict[str, Any] | None = None  # run.json
    reconciliation: Any = None  # reconciliation.json, when the run has one
    problems: list[str] = field(default_factory=list)  # run.json vs files (extractors.write.verify_run)

    @property
    def has_provenance(self) -> bool:
        return "provenance" in self.columns

    @property
    def survey_ids(self) -> list[str]:
        return sorted({r.get("survey_id") or "" for r in self.records})

    @property
    def warning_count(self) -> int:
        return sum(len(r.get("warnings") or ()) for r in self.records)


def load_run(path: str | Path) -> Run:
    """Read ``records.parquet`` (required), ``rejects.parquet``, ``run.json`` and ``reconciliation.json``."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise RunDirError(run_dir, "not a folder" if run_dir.exists() else "no such folder")
    rec_path = run_dir / RECORDS_FILE
    if not rec_path.is_file():
        raise RunDirError(run_dir, f"no {RECORDS_FILE} (not a run directory: make one with `cardex extract`)")
    try:
        table = pq.read_table(rec_path)
    except (OSError, pa.ArrowException) as exc:
        raise RunDirError(rec_path, f"unreadable Parquet: {exc}") from exc
    rejects: list[dict[str, Any]] = []
    problems: list[str] = []
    if (run_dir / REJECTS_FILE).is_file():
        try:
            rejects = pq.read_table(run_dir / REJECTS_FILE).to_pylist()
        except (OSError, pa.ArrowException) as exc:
            problems.append(f"{REJECTS_FILE}: unreadable ({exc})")
    else:
        problems.append(f"no {REJECTS_FILE}")
    info = _read_json(run_dir / RUN_FILE, problems)
    if info is not None:
        problems.extend(verify_run(run_dir))
    else:
        problems.append(f"no {RUN_FILE}")
    reconciliation = _read_json(run_dir / RECONCILIATION_FILE, problems)
    records = sorted(table.to_pylist(), key=card_order)
    return Run(run_dir, records, rejects, list(table.column_names), info, reconciliation, problems)


def _read_json(path: Path, problems: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: unreadable ({exc})")
        return None


def card_order(r: dict[str, Any]) -> tuple:
    """Reading order of cards: category, then number."""
    return (r.get("category_code") or 0, r.get("card_no") or 0, r.get("card_id") or "")


def compared_fields(old_columns: Sequence[str], new_columns: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """(compared fields in column order, columns only in old, columns only in new), bookkeeping left out."""
    skip = set(BOOKKEEPING_FIELDS)
    new_set, old_set = set(new_columns), set(old_columns)
    both = [c for c in new_columns if c in old_set and c not in skip]
    only_old = [c for c in old_columns if c not in new_set and c not in skip]
    only_new = [c for c in new_columns if c not in old_set and c not in skip]
    return both, only_old, only_new


# ---------------------------------------------------------------- pairing


@dataclass(frozen=True)
class Pair:
    """Two cards that describe the same agreement, or one card with no counterpart."""

    old: dict[str, Any] | None
    new: dict[str, Any] | None
    match: str | None  # how the two were paired; None for an added or removed card

    @property
    def card(self) -> dict[str, Any]:
        """The card the pair is known by: the new one, else the old one."""
        return self.new if self.new is not None else self.old  # type: ignore[return-value]

    @property
    def status(self) -> str:
        return "added" if self.old is None else "removed" if self.new is None else "paired"


def squash(text: str | None) -> str:
    """A string with all white space removed (ASCII and ideographic)."""
    return _WS.sub("", text or "")


def _similarity(a: str, b: str) -> float:
    """difflib's ratio; an upper bound of it (quick_ratio) when that is already below FUZZY_SIMILARITY."""
    if a == b:
        return 1.0
    m = difflib.SequenceMatcher(None, a, b, autojunk=False)
    quick = m.quick_ratio()
    return quick if quick < FUZZY_SIMILARITY else m.ratio()


def _body(r: dict[str, Any]) -> str:
    return squash("".join(r.get(f) or "" for f in FREE_TEXT_FIELDS))


def _parties(r: dict[str, Any]) -> tuple:
    return tuple(sorted(r.get("jp_entities") or ())), tuple(squash(x) for x in r.get("foreign_entities") or ())


def _pair_in_order(
    olds: list[dict], news: list[dict], key: Callable[[dict], Any], match: str, pairs: list[Pair]
) -> tuple[list[dict], list[dict]]:
    """Pair cards with equal ``key`` in reading order; return the unpaired (old, new)."""
    waiting: dict[Any, list[int]] = defaultdict(list)
    for j, r in enumerate(news):
        waiting[key(r)].append(j)
    used: set[int] = set()
    rest_old = []
    for r in olds:
        slot = waiting.get(key(r))
        if slot:
            j = slot.pop(0)
            used.add(j)
            pairs.append(Pair(r, news[j], match))
        else:
            rest_old.append(r)
    return rest_old, [r for j, r in enumerate(news) if j not in used]


def _pair_fuzzy(
    olds: list[dict],
    news: list[dict],
    score: Callable[[dict, dict], float | None],
    match: str,
    pairs: list[Pair],
) -> tuple[list[dict], list[dict]]:
    """Pair the candidates ``score`` accepts (not None), most similar first."""
    candidates = []
    for i, a in enumerate(olds):
        for j, b in enumerate(news):
            s = score(a, b)
            if s is not None:
                candidates.append((-s, i, j))
    candidates.sort()
    used_old: set[int] = set()
    used_new: set[int] = set()
    for _, i, j in candidates:
        if i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
            pairs.append(Pair(olds[i], news[j], match))
    return [r for i, r in enumerate(olds) if i not in used_old], [r for j, r in enumerate(news) if j not in used_new]


def _score_title(a: dict, b: dict) -> float | None:
    if a.get("category_code") != b.get("category_code") or squash(a.get("title")) != squash(b.get("title")):
        return None
    pa_, pb = _parties(a), _parties(b)
    if pa_[0] != pb[0] and pa_[1] != pb[1] and a.get("agreement_date") != b.get("agreement_date"):
        return None
    return _similarity(_body(a), _body(b))


def _score_parties(a: dict, b: dict) -> float | None:
    if a.get("category_code") != b.get("category_code") or _parties(a) != _parties(b):
        return None
    best = max(_similarity(squash(a.get("title")), squash(b.get("title"))), _similarity(_body(a), _body(b)))
    return best if best >= FUZZY_SIMILARITY else None


def pair_cards(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[Pair]:
    """Pair the cards of two runs by agreement identity (see the module doc); in reading order of the new run."""
    old_cards, new_cards = sorted(old, key=card_order), sorted(new, key=card_order)
    pairs: list[Pair] = []
    by_key_old: dict[str, list[dict]] = defaultdict(list)
    by_key_new: dict[str, list[dict]] = defaultdict(list)
    for r in old_cards:
        by_key_old[r.get("agreement_key") or ""].append(r)
    for r in new_cards:
        by_key_new[r.get("agreement_key") or ""].append(r)
    left_old: list[dict] = []
    left_new: list[dict] = []
    for k, olds in by_key_old.items():
        news = by_key_new.get(k, [])
        if not k or not news:
            left_old.extend(olds)
            continue
        if len(olds) == 1 and len(news) == 1:
            pairs.append(Pair(olds[0], news[0], "agreement_key"))
            continue
        olds, news = _pair_in_order(
            olds, news, lambda r: (r.get("category_code"), squash(r.get("title"))), "agreement_key+title", pairs
        )
        olds, news = _pair_in_order(olds, news, lambda r: r.get("category_code"), "agreement_key+category", pairs)
        olds, news = _pair_in_order(olds, news, lambda r: 0, "agreement_key+order", pairs)
        left_old.extend(olds)
        left_new.extend(news)
    for k, news in by_key_new.items():
        if not k or k not in by_key_old:
            left_new.extend(news)
    left_old.sort(key=card_order)
    left_new.sort(key=card_order)
    left_old, left_new = _pair_fuzzy(left_old, left_new, _score_title, "fuzzy:title", pairs)
    left_old, left_new = _pair_fuzzy(left_old, left_new, _score_parties, "fuzzy:parties", pairs)
    pairs.extend(Pair(r, None, None) for r in left_old)
    pairs.extend(Pair(None, r, None) for r in left_new)
    return sorted(pairs, key=_pair_order)


def _pair_order(p: Pair) -> tuple:
    # New reading order; a removed card goes where it stood in the old run.
    return card_order(p.card) + ((0,) if p.new is not None else (1,))


# ---------------------------------------------------------------- values


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def canonical(value: Any, *, ignore_whitespace: bool = False) -> Any:
    """A hashable, comparable form of a value (lists stay ordered)."""
    if isinstance(value, str):
        return squash(value) if ignore_whitespace else value
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v, ignore_whitespace=ignore_whitespace) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, canonical(v, ignore_whitespace=ignore_whitespace)) for k, v in value.items()))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def to_json(value: Any) -> str | None:
    """JSON text of a value for diff.parquet (None stays None)."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=_json_default, sort_keys=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def display(value: Any) -> str:
    """A value as the text a person compares: list items one per line, phones with their extension."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        if "number" in value:
            ext = value.get("extension")
            return f"{value['number']} 内線{ext}" if ext else str(value["number"])
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    if isinstance(value, (list, tuple)):
        return "\n".join(display(v) for v in value)
    return str(value)


# ---------------------------------------------------------------- changes


@dataclass(frozen=True)
class Change:
    """One changed field of a pair (or a whole card, field ``*``), with the values as read."""

    pair: Pair
    field: str
    kind: str
    old_value: Any
    new_value: Any
    whitespace_only: bool = False

    @property
    def identity(self) -> str:
        return self.pair.card.get("agreement_key") or ""

    def row(self) -> DiffRow:
        p = self.pair
        return DiffRow(
            identity=self.identity,
            category_code=p.card.get("category_code"),
            title=p.card.get("title") or "",
            old_card_id=p.old.get("card_id") if p.old else None,
            new_card_id=p.new.get("card_id") if p.new else None,
            old_agreement_key=p.old.get("agreement_key") if p.old else None,
            new_agreement_key=p.new.get("agreement_key") if p.new else None,
            field=self.field,
            kind=self.kind,
            old_value=to_json(self.old_value),
            new_value=to_json(self.new_value),
            whitespace_only=self.whitespace_only,
            match=p.match,
        )


@dataclass(frozen=True)
class DiffRow:
    """One change between two runs (one row of diff.parquet)."""

    identity: str = dataclasses.field(metadata=doc("agreement_key of the card (the new run's; the old run's for a removed card)"))
    category_code: Int8 | None = dataclasses.field(metadata=doc("category of the card (new run's, else old run's)"))
    title: str = dataclasses.field(metadata=doc("title of the card (new run's, else old run's)"))
    old_card_id: str | None = dataclasses.field(metadata=doc("card_id in the old run (null: card added)"))
    new_card_id: str | None = dataclasses.field(metadata=doc("card_id in the new run (null: card removed)"))
    old_agreement_key: str | None = dataclasses.field(metadata=doc("agreement_key in the old run"))
    new_agreement_key: str | None = dataclasses.field(metadata=doc("agreement_key in the new run"))
    field: str = dataclasses.field(metadata=doc("record column that changed, or `*` for a whole card added/removed"))
    kind: str = dataclasses.field(metadata=doc("`added` (old value empty), `removed` (new value empty) or `changed`"))
    old_value: str | None = dataclasses.field(metadata=doc("old value as JSON (for `*`: the card's compared fields)"))
    new_value: str | None = dataclasses.field(metadata=doc("new value as JSON (for `*`: the card's compared fields)"))
    whitespace_only: bool = dataclasses.field(metadata=doc("the two values differ only in white space (line breaks, spaces)"))
    match: str | None = dataclasses.field(metadata=doc("how the two cards were paired: `agreement_key`, `fuzzy:title`, …"))


DIFF_SCHEMA = arrow_schema(DiffRow)


def compare_pair(pair: Pair, fields: Sequence[str], *, ignore_whitespace: bool = False) -> tuple[list[Change], int]:
    """The field changes of one pair, and how many white-space-only differences were left out."""
    if pair.old is None or pair.new is None:
        card = pair.card
        whole = {f: card.get(f) for f in fields}
        return [Change(pair, CARD, pair.status, whole if pair.new is None else None,
                       whole if pair.old is None else None)], 0
    out: list[Change] = []
    ignored = 0
    for f in fields:
        a, b = pair.old.get(f), pair.new.get(f)
        if canonical(a) == canonical(b):
            continue
        ws_only = canonical(a, ignore_whitespace=True) == canonical(b, ignore_whitespace=True)
        if ws_only and ignore_whitespace:
            ignored += 1
            continue
        kind = "added" if is_empty(a) else "removed" if is_empty(b) else "changed"
        out.append(Change(pair, f, kind, a, b, ws_only))
    return out, ignored


@dataclass
class Diff:
    """The comparison of two runs."""

    old: Run
    new: Run
    pairs: list[Pair]
    changes: list[Change]
    fields: list[str]
    only_old: list[str]
    only_new: list[str]
    ignore_whitespace: bool
    whitespace_ignored: int

    @property
    def field_changes(self) -> list[Change]:
        return [c for c in self.changes if c.field != CARD]

    @property
    def added(self) -> list[Pair]:
        return [p for p in self.pairs if p.old is None]

    @property
    def removed(self) -> list[Pair]:
        return [p for p in self.pairs if p.new is None]

    @property
    def paired(self) -> list[Pair]:
        return [p for p in self.pairs if p.old is not None and p.new is not None]

    def changed_pairs(self) -> list[tuple[Pair, list[Change]]]:
        """Paired cards with at least one field change, with their changes, in reading order."""
        by_pair: dict[int, list[Change]] = defaultdict(list)
        for c in self.field_changes:
            by_pair[id(c.pair)].append(c)
        return [(p, by_pair[id(p)]) for p in self.pairs if id(p) in by_pair]

    def field_counts(self) -> dict[str, dict[str, int]]:
        """Per compared field: number of changes of each kind, and white-space-only ones."""
        counts = {f: {"added": 0, "removed": 0, "changed": 0, "total": 0, "whitespace_only": 0} for f in self.fields}
        for c in self.field_changes:
            entry = counts[c.field]
            entry[c.kind] += 1
            entry["total"] += 1
            entry["whitespace_only"] += int(c.whitespace_only)
        return counts

    def changed_fields(self) -> dict[str, int]:
        """Fields with changes and their counts; ``*`` counts cards added or removed."""
        out: dict[str, int] = defaultdict(int)
        for c in self.changes:
            out[c.field] += 1
        return dict(out)

    @property
    def totals(self) -> dict[str, int]:
        return {
            "cards_old": len(self.old.records),
            "cards_new": len(self.new.records),
            "paired": len(self.paired),
            "added": len(self.added),
            "removed": len(self.removed),
            "changed_cards": len(self.changed_pairs()),
            "changed_fields": len(self.field_changes),
            "whitespace_only": sum(1 for c in self.field_changes if c.whitespace_only),
            "whitespace_ignored": self.whitespace_ignored,
            "fuzzy_pairs": sum(1 for p in self.paired if (p.match or "").startswith("fuzzy")),
            "rejects_old": len(self.old.rejects),
            "rejects_new": len(self.new.rejects),
        }

    def rows(self) -> list[DiffRow]:
        return [c.row() for c in self.changes]

    def table(self) -> pa.Table:
        return pa.Table.from_pylist([dataclasses.asdict(r) for r in self.rows()], schema=DIFF_SCHEMA)

    def summary_line(self) -> str:
        t = self.totals
        per_field = ", ".join(f"{f} {n}" for f, n in sorted(self.changed_fields().items()) if f != CARD)
        return (
            f"{t['cards_old']} -> {t['cards_new']} cards: {t['paired']} paired, {t['added']} added, "
            f"{t['removed']} removed, {t['changed_cards']} changed cards, {t['changed_fields']} changed fields"
            + (f" ({per_field})" if per_field else "")
        )


def diff_runs(old: Run, new: Run, *, ignore_whitespace: bool = False) -> Diff:
    """Pair the cards of two runs and compare every compared field of every pair."""
    fields, only_old, only_new = compared_fields(old.columns, new.columns)
    pairs = pair_cards(old.records, new.records)
    changes: list[Change] = []
    ignored = 0
    for p in pairs:
        found, n = compare_pair(p, fields, ignore_whitespace=ignore_whitespace)
        changes.extend(found)
        ignored += n
    return Diff(old, new, pairs, changes, fields, only_old, only_new, ignore_whitespace, ignored)


def write_diff_parquet(diff: Diff, out_dir: str | Path) -> Path:
    """``out_dir/diff.parquet``, atomically."""
    return atomic_write_bytes(Path(out_dir) / DIFF_FILE, parquet_bytes(diff.table()))


# ---------------------------------------------------------------- character-level highlighting


@dataclass(frozen=True)
class Segment:
    """A piece of a value: ``equal``, ``del`` (only in old), ``ins`` (only in new) or ``gap`` (unchanged text elided)."""

    op: str
    text: str


#: Unchanged stretches longer than this are shortened to their ends (``CONTEXT`` characters each).
ELIDE_OVER = 160
CONTEXT = 50


def char_diff(old: str, new: str, *, elide: bool = True) -> tuple[list[Segment], list[Segment]]:
    """Character-level diff of two texts: (old side with deletions, new side with insertions)."""
    m = difflib.SequenceMatcher(None, old, new, autojunk=False)
    left: list[Segment] = []
    right: list[Segment] = []
    ops = m.get_opcodes()
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            parts = _elided(old[i1:i2], first=n == 0, last=n == len(ops) - 1) if elide else [Segment("equal", old[i1:i2])]
            left.extend(parts)
            right.extend(parts)
            continue
        if i2 > i1:
            left.append(Segment("del", old[i1:i2]))
        if j2 > j1:
            right.append(Segment("ins", new[j1:j2]))
    return left, right


def _elided(text: str, *, first: bool, last: bool) -> list[Segment]:
    if len(text) <= ELIDE_OVER:
        return [Segment("equal", text)]
    head = "" if first else text[:CONTEXT]
    tail = "" if last else text[-CONTEXT:]
    gap = len(text) - len(head) - len(tail)
    return [s for s in (Segment("equal", head), Segment("gap", f"… {gap} unchanged characters …"),
                        Segment("equal", tail)) if s.text]
