"""``twin deadletters [retry | discard]``: the messages ingest refused, on the command line.

Listing takes filters (``--reason``, ``--source``, ``--since``; ``--all`` shows those already
settled too). ``retry [IDS | --reason R ...]`` judges them again now; ``discard IDS --note``
sets them aside. Errors travel as :mod:`twin` exceptions, which the program turns into exit
codes. Not responsible for what a retry decides (:mod:`twin.dead_letters`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin import (
    InvalidInputError,
    LetterFilter,
    dead_letters,
    discard,
    load_geography,
    load_plausibility,
    open_twin,
    parse_instant,
    parse_receipt_id,
    retry,
)
from valley_twin.arguments import whole_number

if TYPE_CHECKING:
    import argparse


def add_commands(subparsers: Any) -> None:
    """Add ``deadletters`` to the ``twin`` program's sub-commands (an argparse subparsers action)."""
    letters = subparsers.add_parser(
        "deadletters", help="list the messages ingest rejected, with reasons; retry or discard them"
    )
    _add_filters(letters)
    letters.add_argument("--all", action="store_true", help="also those retried or discarded")
    letters.add_argument("--limit", type=whole_number(1), help="at most this many (1 or more)")
    letters.add_argument("--json", action="store_true", help="print JSON (raw bytes in hex)")
    letters.set_defaults(handler=_list)
    actions = letters.add_subparsers(dest="action", metavar="ACTION")
    again = actions.add_parser(
        "retry", help="judge them again now (after the cause was fixed); nothing is stored twice"
    )
    again.add_argument(
        "ids", nargs="*", metavar="ID", help="dead letters' ids (default: the filter's)"
    )
    _add_filters(again)
    again.add_argument(
        "--plausibility", type=Path, metavar="FILE", help="TOML file of plausibility limits"
    )
    again.add_argument("--json", action="store_true", help="print JSON")
    again.set_defaults(handler=_retry)
    aside = actions.add_parser("discard", help="set them aside, saying why")
    aside.add_argument("ids", nargs="+", metavar="ID", help="dead letters' ids")
    aside.add_argument("--note", required=True, help="why they are set aside")
    aside.set_defaults(handler=_discard)


def _add_filters(parser: Any) -> None:
    parser.add_argument("--reason", help="only those whose reason contains this text")
    parser.add_argument("--source", help="only those from this source")
    parser.add_argument(
        "--since", metavar="INSTANT", help="only those received at or after (ISO-8601)"
    )


def _filter(args: argparse.Namespace, settled: bool = False) -> LetterFilter:
    since = None if args.since is None else parse_instant(args.since)
    return LetterFilter(reason=args.reason, source=args.source, since=since, settled=settled)


def _list(args: argparse.Namespace) -> int:
    twin = open_twin(args.store, create=False)
    try:
        which = _filter(args, settled=args.all)
        letters = [letter.as_dict() for letter in dead_letters(twin, args.limit, which)]
    finally:
        twin.close()
    if args.json:
        print(json.dumps(letters, indent=2, ensure_ascii=False))
        return 0
    if not letters:
        print("no dead letters")
    for letter in letters:
        settled = f"  [{letter['settled']}: {letter['note'] or '-'}]" if letter["settled"] else ""
        print(
            f"{letter['id']}  {letter['received_at']}  {letter['source']:<20} "
            f"{letter['message_id'] or '-':<34} {letter['reason']}{settled}"
        )
    return 0


def _retry(args: argparse.Namespace) -> int:
    twin = open_twin(args.store, create=False)
    try:
        if args.ids:
            receipts = [parse_receipt_id(text) for text in args.ids]
        elif args.reason or args.source or args.since:
            receipts = [letter.receipt for letter in dead_letters(twin, None, _filter(args))]
        else:
            raise InvalidInputError("ID", None, "dead letters' ids, or --reason/--source/--since")
        plausibility = load_plausibility(args.plausibility)
        outcomes = retry(twin, load_geography(), receipts, plausibility=plausibility)
    finally:
        twin.close()
    if args.json:
        print(json.dumps([o.__dict__ | {"receipt": str(o.receipt)} for o in outcomes], indent=2))
        return 0
    for outcome in outcomes:
        print(
            f"{outcome.receipt}  {outcome.status}"
            + (f": {outcome.reason}" if outcome.reason else "")
        )
    applied = sum(outcome.status == "applied" for outcome in outcomes)
    print(f"{applied} applied, {len(outcomes) - applied} not", file=sys.stderr)
    return 0


def _discard(args: argparse.Namespace) -> int:
    receipts = [parse_receipt_id(text) for text in args.ids]
    twin = open_twin(args.store, create=False)
    try:
        count = discard(twin, receipts, args.note)
    finally:
        twin.close()
    print(f"{count} dead letter(s) set aside")
    return 0
