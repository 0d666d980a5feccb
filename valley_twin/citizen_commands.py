"""``twin citizen …``: forgetting a citizen and showing one, personal text unsealed.

``twin citizen forget ID_OR_CODE`` destroys the citizen's key (:mod:`twin.privacy`): their
history stays and still counts, their personal text can no longer be read. ``twin citizen
show ID_OR_CODE`` shows a citizen with their text in clear while the key exists.

``twin show`` and ``twin at`` show a citizen the same way (``twin.citizens.PersonalData``).
Exit codes are the CLI's: 1 for a user mistake (an unknown citizen), 3 when the store cannot be used or
could not be scrubbed.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from eventsourcing.persistence import PersistenceError

from twin import (
    Citizens,
    Forgotten,
    StoreUnavailableError,
    describe_personal_data,
    format_event,
    format_state,
    open_twin,
)


def add_commands(commands: Any) -> None:
    """Add ``twin citizen forget`` and ``twin citizen show`` to the CLI's sub-commands."""
    citizen = commands.add_parser("citizen", help="citizens' personal data: forget one, show one")
    citizen_commands = citizen.add_subparsers(
        dest="citizen_command", required=True, metavar="COMMAND"
    )

    forget = citizen_commands.add_parser(
        "forget",
        help="destroy a citizen's key: their reports still count, their text is unreadable",
    )
    forget.add_argument("reference", metavar="ID_OR_CODE", help="the citizen's pseudonym or id")
    forget.add_argument("--json", action="store_true", help="print JSON")
    forget.set_defaults(handler=_forget)

    show = citizen_commands.add_parser(
        "show", help="a citizen, with their personal text while it can be read"
    )
    show.add_argument("reference", metavar="ID_OR_CODE", help="the citizen's pseudonym or id")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_citizen_show)


def _forget(args: argparse.Namespace) -> int:
    twin = open_twin(args.store, create=False)
    try:
        outcome = Citizens(twin).forget(args.reference)
    except PersistenceError as error:
        raise StoreUnavailableError(f"cannot forget {args.reference!r}: {error}") from error
    finally:
        twin.close()
    if args.json:
        _print_json(_forgotten_dict(outcome))
        return 0
    who = outcome.pseudonym or args.reference
    done = (
        "key destroyed"
        if outcome.key_destroyed
        else "no key left to destroy (forgotten before, or none was made)"
    )
    print(f"citizen {who} ({outcome.citizen_id}) forgotten: {done}.")
    print(
        f"{_count(outcome.reports, 'report')} and {_count(outcome.ideas, 'idea')} keep their "
        "categories, places, statuses and dates; their text can no longer be read. Copies made "
        "before (backups, exports) are not erased."
    )
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _forgotten_dict(outcome: Forgotten) -> dict[str, Any]:
    return {
        "citizen_id": str(outcome.citizen_id),
        "pseudonym": outcome.pseudonym,
        "key_destroyed": outcome.key_destroyed,
        "reports": outcome.reports,
        "ideas": outcome.ideas,
    }


def _citizen_show(args: argparse.Namespace) -> int:
    twin = open_twin(args.store, create=False)
    try:
        service = Citizens(twin)
        citizen_id = service.resolve(args.reference)
        citizen = service.load(citizen_id)
        if citizen is None:  # only a key, for messages refused before any registration
            state: dict[str, Any] = {
                "id": str(citizen_id),
                "personal_data": describe_personal_data(service.keys.state(citizen_id)),
            }
            history: list[dict[str, Any]] = []
        else:
            state = service.view(citizen)
            history = service.history(citizen_id)
    finally:
        twin.close()
    _print_citizen(state, history, args.json)
    return 0


def _print_citizen(state: dict[str, Any], history: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        _print_json({"state": state, "history": history})
        return
    print("\n".join(format_state(state)))
    print(f"\nhistory ({len(history)} events):")
    print("\n".join(format_event(e) for e in history))


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
