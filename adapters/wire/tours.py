"""The body rules of ``truck.tour`` that one field's type and range cannot say.

A tour's tip visits travel as one text field, ``tips``: msgpack arrays are not allowed on the
wire (and a body holds at most 16 entries), so each weighbridge ticket is written
``SITE@MS=TONNES`` — the tip site's code, the ticket's instant in milliseconds since
1970-01-01T00:00:00Z (like ``observed_at``), the net tonnes with a decimal point — and tickets
are joined by ``;``. :func:`format_tips` writes it, :func:`parse_tips` reads it back; the
codec calls :func:`check_tour` on every ``truck.tour`` it decodes. Specified in
``docs/wire-protocol.md``. Whether the tips fall within the tour, the tonnage is plausible or
the km agree with the odometer is the twin's business, not the wire's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from adapters.wire.envelope import EARLIEST_OBSERVATION_MS, MAX_ID_LENGTH, MAX_INTERVAL_MS
from adapters.wire.errors import WireError

MAX_TIPS = 8
MAX_TIP_TONNES = 40.0  # the physical bound: no refuse truck carries more in one load
TIP_SEPARATOR = ";"
_TIP = re.compile(r"(?P<site>[^@;=]+)@(?P<ms>\d{1,16})=(?P<tonnes>\d{1,3}(?:\.\d{1,3})?)")
_TIPS_RULE = "must be SITE@MS=TONNES tickets joined by ';' (e.g. 'SCH-ASPIRAN@1717400000000=7.42')"


def format_tips(tips: Iterable[tuple[str, int, float]]) -> str:
    """The ``tips`` field for (site, milliseconds since the epoch, net tonnes) tickets."""
    return TIP_SEPARATOR.join(f"{site}@{ms}={_tonnes_text(tonnes)}" for site, ms, tonnes in tips)


def parse_tips(text: str) -> list[tuple[str, int, float]]:
    """The (site, milliseconds, tonnes) tickets of a ``tips`` field, in the order written;
    :class:`WireError` naming ``body.tips`` if it does not follow the grammar."""
    tickets = text.split(TIP_SEPARATOR)
    if len(tickets) > MAX_TIPS:
        raise WireError("body.tips", text, f"at most {MAX_TIPS} tickets in one tour")
    parsed = []
    for ticket in tickets:
        match = _TIP.fullmatch(ticket)
        if match is None:
            raise WireError("body.tips", text, _TIPS_RULE)
        site, ms, tonnes = match["site"], int(match["ms"]), float(match["tonnes"])
        if len(site) > MAX_ID_LENGTH or not site.isprintable() or site != site.strip():
            raise WireError(
                "body.tips",
                site,
                f"a tip site is 1 to {MAX_ID_LENGTH} printable characters without outer spaces",
            )
        if ms < EARLIEST_OBSERVATION_MS:
            raise WireError("body.tips", ticket, "a ticket dated before 2000-01-01T00:00:00Z")
        if not math.isfinite(tonnes) or tonnes > MAX_TIP_TONNES:
            raise WireError("body.tips", ticket, f"above the physical maximum {MAX_TIP_TONNES:g} t")
        parsed.append((site, ms, tonnes))
    return parsed


def check_tour(body: Mapping[str, Any], observed_ms: int) -> None:
    """The rules of a ``truck.tour`` body beyond its fields' types and ranges: it started at
    most a day before it ended (``observed_at``), and its ``tips`` follow the grammar."""
    if not 0 < observed_ms - body["started_at"] <= MAX_INTERVAL_MS:
        raise WireError(
            "body.started_at", body["started_at"], "must be within the day before observed_at"
        )
    if "tips" in body:
        parse_tips(body["tips"])


def _tonnes_text(tonnes: float) -> str:
    # Three decimals at most (kilograms), no exponent, no trailing zeros: 7.42, 12, 0.005.
    text = f"{round(tonnes, 3):.3f}".rstrip("0").rstrip(".")
    return text or "0"
