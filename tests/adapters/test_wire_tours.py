"""``truck.tour`` on the wire: the tips grammar, the tour's interval, and the documented reasons."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import pytest

from adapters.wire import Envelope, WireError, decode, encode, format_tips, parse_tips
from adapters.wire.tours import MAX_TIPS

DOC = Path(__file__).resolve().parents[2] / "docs" / "wire-protocol.md"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
NOW_MS = 1_717_243_200_000
HOUR_MS = 3_600_000
TIPS = "SCH-ASPIRAN@1717230000000=7.94;SCH-ASPIRAN@1717239000000=5.12"


def tour(**body: Any) -> bytes:
    """A ``truck.tour`` message ending now, started six hours ago, with some fields changed."""
    fields: dict[str, Any] = {
        "round_id": "VER-2024-06-01-1",
        "stream": "glass",
        "started_at": NOW_MS - 6 * HOUR_MS,
        "km": 131.5,
        "tips": TIPS,
    }
    fields.update(body)
    document = {
        "version": 1,
        "id": "t-1",
        "source": "truck-tours",
        "device": "OBU-482",
        "asset": "GE-482-KT",
        "kind": "truck.tour",
        "observed_at": NOW_MS,
        "body": fields,
    }
    raw: bytes = msgpack.packb(document, use_bin_type=True)
    return raw


def reason(raw: bytes) -> WireError:
    with pytest.raises(WireError) as refused:
        decode(raw, NOW)
    return refused.value


def test_a_tour_round_trips_with_its_tips_as_written() -> None:
    envelope = decode(tour(), NOW)
    assert envelope.body["tips"] == TIPS and envelope.observed_at == NOW
    assert decode(encode(envelope), NOW) == envelope
    assert parse_tips(envelope.body["tips"]) == [
        ("SCH-ASPIRAN", 1_717_230_000_000, 7.94),
        ("SCH-ASPIRAN", 1_717_239_000_000, 5.12),
    ]


def test_format_and_parse_are_inverse_to_the_kilogram() -> None:
    tickets = [("SCH-ASPIRAN", 1_717_230_000_000, 7.94), ("ISDND LE BOUSQUET", NOW_MS, 12.0)]
    written = format_tips([*tickets, ("SCH", NOW_MS, 0.0049), ("SCH", NOW_MS, 3.14159)])
    assert written.endswith(";SCH@1717243200000=0.005;SCH@1717243200000=3.142")
    assert parse_tips(written)[:2] == tickets
    assert "ISDND LE BOUSQUET@1717243200000=12;" in written  # no trailing zeros, no exponent


def test_a_tour_without_tips_or_km_is_still_a_valid_message() -> None:
    raw = msgpack.unpackb(tour())
    del raw["body"]["tips"], raw["body"]["km"]
    assert decode(msgpack.packb(raw), NOW).body == {
        "round_id": "VER-2024-06-01-1",
        "stream": "glass",
        "started_at": NOW_MS - 6 * HOUR_MS,
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"started_at": NOW_MS}, "within the day before observed_at"),
        ({"started_at": NOW_MS + 1}, "within the day before observed_at"),
        ({"started_at": NOW_MS - 24 * HOUR_MS - 1}, "within the day before observed_at"),
        ({"tips": "SCH-ASPIRAN@1717230000000=7,94"}, "SITE@MS=TONNES"),  # a decimal comma
        ({"tips": "SCH-ASPIRAN@2024-06-01T09:00:00Z=7.94"}, "SITE@MS=TONNES"),
        ({"tips": "SCH-ASPIRAN=7.94"}, "SITE@MS=TONNES"),
        ({"tips": "SCH@1717230000000=7.94;"}, "SITE@MS=TONNES"),
        ({"tips": "SCH@1717230000000=-1"}, "SITE@MS=TONNES"),
        ({"tips": "SCH@1717230000000=1e3"}, "SITE@MS=TONNES"),
        ({"tips": " SCH@1717230000000=1"}, "printable characters without outer spaces"),
        ({"tips": "S\tCH@1717230000000=1"}, "printable characters"),
        ({"tips": f"{'S' * 65}@1717230000000=1"}, "1 to 64 printable"),
        ({"tips": "SCH@900000000000=1"}, "before 2000"),
        ({"tips": "SCH@1717230000000=41.5"}, "above the physical maximum 40 t"),
        ({"tips": ";".join(["SCH@1717230000000=1"] * (MAX_TIPS + 1))}, "at most 8 tickets"),
    ],
)
def test_a_bad_tour_is_refused_on_the_wire_naming_the_field(
    body: dict[str, Any], fragment: str
) -> None:
    error = reason(tour(**body))
    assert error.field == ("body.started_at" if "started_at" in body else "body.tips")
    assert fragment in error.reason, str(error)


def test_the_documented_tour_reasons_are_exactly_the_codec_s() -> None:
    produced = [
        str(reason(tour(started_at=NOW_MS))),
        str(reason(tour(tips="SCH-ASPIRAN@1717230000000=7,94"))),
        str(reason(tour(tips=";".join(["SCH@1717230000000=1"] * 9)))),
        str(reason(tour(tips="SCH@1717230000000=41.5"))),
    ]
    text = DOC.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- BEGIN wire-tour-reasons -->\n```text\n(.*?)\n```\n<!-- END wire-tour-reasons -->",
        text,
        re.S,
    )
    assert block is not None
    assert block.group(1).splitlines() == produced


def test_the_documented_tips_example_reads_as_two_tickets() -> None:
    section = DOC.read_text(encoding="utf-8").split("### `truck.tour`", 1)[1]
    example = re.search(r"```text\n(SCH-ASPIRAN@[^\n]+)\n```", section)
    assert example is not None
    assert [site for site, _, _ in parse_tips(example.group(1))] == ["SCH-ASPIRAN"] * 2


def test_an_envelope_built_in_python_is_checked_the_same_way() -> None:
    envelope = Envelope(
        "t-2",
        "truck-tours",
        "OBU-482",
        "GE-482-KT",
        "truck.tour",
        NOW,
        {"round_id": "R", "stream": "glass", "started_at": NOW_MS - HOUR_MS, "tips": "bad"},
    )
    with pytest.raises(WireError, match="body.tips"):
        decode(encode(envelope), NOW)
