"""Compare the golden file with the current extractor; rewrite reviewed cards only on request.

    python tests/golden/regenerate.py                    # field-level diff of every golden card
    python tests/golden/regenerate.py 7-27 8-18          # diff of those cards only
    python tests/golden/regenerate.py --write 7-27 8-18  # rewrite those cards from the extractor

The golden file holds HAND-CHECKED expectations (see tests/test_golden.py). Without ``--write``
nothing is written: the script prints, field by field, how the current extractor differs from
the file and exits 1 when anything differs. ``--write`` needs an explicit list of card ids and
must only follow a review of that diff against the source text and SPEC.md: a failing card
usually means the extractor is wrong, not the file. Cards not named are left untouched; a card
not yet in the file is added only if it is named and listed in ``CARDS`` in tests/test_golden.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def _load_test_module():
    """tests/test_golden.py, which owns the row format, the card table and the file helpers."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    spec = importlib.util.spec_from_file_location("_golden_test", REPO / "tests" / "test_golden.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("card_ids", nargs="*", metavar="CARD_ID", help="cards to diff (default: every golden card)")
    parser.add_argument("--write", action="store_true", help="rewrite the named cards (after a review!)")
    args = parser.parse_args(argv)

    tg = _load_test_module()
    golden = tg.load_golden() if tg.GOLDEN.exists() else {}
    if args.write and not args.card_ids:
        parser.error("--write needs the card ids whose reviewed diff you accept")
    card_ids = args.card_ids or list(golden)
    unknown = [c for c in card_ids if c not in golden and c not in tg.CARDS]
    if unknown:
        parser.error(f"not golden cards and not in CARDS of tests/test_golden.py: {' '.join(unknown)}")

    result = tg.extract_survey()
    actual = {r.card_id: tg.record_to_row(r) for r in result.records}

    changed: list[str] = []
    for card_id in card_ids:
        if card_id not in actual:
            print(f"card {card_id}: not extracted as a record (rejected or missing)")
            changed.append(card_id)
            continue
        expected = golden.get(card_id, {})
        lines = tg.field_diff(card_id, expected, actual[card_id])
        if lines:
            changed.append(card_id)
            print("\n".join(lines) if expected else f"card {card_id}: not in the golden file yet")

    if not changed:
        print(f"{len(card_ids)} card(s): no differences")
        return 0
    if not args.write:
        print(f"\n{len(changed)} of {len(card_ids)} card(s) differ; nothing written (review, then --write CARD_ID ...)")
        return 1

    missing = [c for c in changed if c not in actual]
    if missing:
        print(f"not written: {' '.join(missing)} produced no record", file=sys.stderr)
        return 1
    for card_id in changed:
        golden[card_id] = actual[card_id]
    ordered = {c: golden[c] for c in sorted(golden, key=tg._card_sort_key)}
    tg.dump_golden(ordered)
    print(f"\nrewrote {len(changed)} card(s) in {tg.GOLDEN.relative_to(REPO)}: {' '.join(changed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
