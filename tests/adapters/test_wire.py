"""The wire codec: round trips, strict refusals that name the field, replies, and the spec.

The last part reads ``docs/wire-protocol.md`` (the hex dumps, the reasons and the body tables
between its markers) and checks it against the code, so the document cannot drift.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sdk import Reading, message_id
from adapters.wire import (
    BODY_SCHEMAS,
    KINDS,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Envelope,
    Reply,
    WireError,
    decode,
    decode_reply,
    encode,
    encode_reply,
    from_epoch_ms,
    peek_identity,
    to_epoch_ms,
)
from adapters.wire.codec import ENVELOPE_FIELDS
from adapters.wire.envelope import (
    EARLIEST_OBSERVATION_MS,
    MAX_CLOCK_SKEW_S,
    MAX_ID_LENGTH,
    MAX_INTERVAL_MS,
    REPLY_STATUSES,
    BodyField,
)
from adapters.wire.transport import SOCKET_MAX_FRAME_BYTES

DOC = Path(__file__).resolve().parents[2] / "docs" / "wire-protocol.md"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
NOW_MS = 1_717_243_200_000
SKEW_MS = MAX_CLOCK_SKEW_S * 1000
IDENTIFIERS = ("id", "source", "device", "asset")
ABSENT = object()  # a field left out of a document

# The worked example of docs/wire-protocol.md, section 12.
EXAMPLE = Envelope(
    message_id="2e894acca8990d39fab4b6aab4516b5e",
    source="gateway-gignac",
    device="A84041000181C9B2",
    asset="B-34114-GLA-0001",
    kind="bin.fill",
    observed_at=NOW,
    body={"fill_percent": 72.5, "distance_mm": 412},
)

# One valid body per kind, every field present.
SAMPLE_BODIES: dict[str, dict[str, Any]] = {
    "bin.fill": {"fill_percent": 72.5, "distance_mm": 412},
    "footfall.count": {"interval_start": NOW_MS - 900_000, "count": 17},
    "site.energy": {"index_kwh": 12_345.6},
    "site.meter_replaced": {"final_index_kwh": 98_765.4, "new_index_kwh": 0},
    "citizen.register": {"commune_insee": "34114"},
    "citizen.report": {
        "report_ref": "R-2024-0001",
        "category": "overflowing_bin",
        "lon": 3.5468,
        "lat": 43.6491,
        "text": "  Bac plein,\nrue des Écoles  ",
        "photo_ref": "photo/2024/06/01/0001.jpg",
    },
    "citizen.idea": {"idea_ref": "I-7", "title": "Plus de bancs", "text": "Sur la place."},
    "device.battery": {"battery_percent": 87},
    "device.fault": {"fault": "tilt"},
    "bin.emptied": {"round_id": "GLA-2024-06-03", "mass_kg": 152.4},
    "citizen.report_status": {"report_ref": "R-1", "status": "acknowledged", "note": "Vu."},
    "citizen.vote": {"author": "c-8f3a", "idea_ref": "I-7"},
    "service.place": {"request_ref": "REQ-12", "action": "requested"},
    "service.session": {"session_ref": "S-3", "starts_at": 1717225200000, "seats": 12},
    "service.attendance": {"session_ref": "S-3", "participant_ref": "P-9", "action": "enrolled"},
    "site.occupancy": {"occupancy": 23},
    "truck.tour": {
        "round_id": "VER-2024-06-01-1",
        "stream": "glass",
        "started_at": NOW_MS - 6 * 3_600_000,
        "km": 131.5,
        "odometer_start_km": 184_210,
        "odometer_end_km": 184_342,
        "tips": "SCH-ASPIRAN@1717230000000=7.94;SCH-ASPIRAN@1717239000000=5.12",
        "depot_insee": "34114",
    },
    "fact.correct": {
        "original_message": "meters/m-41",
        "original_version": 12,
        "field": "index_kwh",
        "value": 16_355.0,
        "by": "agent-technique",
        "reason": "index typed with an extra digit",
    },
    "fact.retract": {
        "original_message": "meters/m-41",
        "original_version": 12,
        "by": "agent-technique",
        "reason": "reading from another meter",
    },
}


def pack(value: Any, **options: Any) -> bytes:
    raw: bytes = msgpack.packb(value, use_bin_type=True, **options)
    return raw


def document(**changes: Any) -> dict[str, Any]:
    """A valid bin.fill envelope as a plain map, with some fields changed or left out."""
    doc: dict[str, Any] = {
        "version": 1,
        "id": "m-1",
        "source": "gateway-gignac",
        "device": "A84041000181C9B2",
        "asset": "B-34114-GLA-0001",
        "kind": "bin.fill",
        "observed_at": NOW_MS - 60_000,
        "body": {"fill_percent": 72.5},
    }
    for name, value in changes.items():
        if value is ABSENT:
            del doc[name]
        else:
            doc[name] = value
    return doc


def of_kind(kind: str, **body: Any) -> bytes:
    """A message of ``kind`` whose sample body has some fields changed or left out."""
    fields = dict(SAMPLE_BODIES[kind])
    for name, value in body.items():
        if value is ABSENT:
            del fields[name]
        else:
            fields[name] = value
    return pack(document(kind=kind, body=fields))


def nested(depth: int) -> bytes:
    """``depth`` maps, each the only value of the one around it: {"a": {"a": … {}}}."""
    return b"\x81\xa1a" * depth + b"\x80"


def with_body(raw_body: bytes) -> bytes:
    """A message whose body is the given msgpack bytes (to build what msgpack won't pack)."""
    head = pack(document(body=ABSENT))
    assert head[0] == 0x87
    return b"\x88" + head[1:] + pack("body") + raw_body


def refused(raw: Any, field: str, fragment: str) -> WireError:
    with pytest.raises(WireError) as caught:
        decode(raw, NOW)
    error = caught.value
    assert error.field == field, str(error)
    assert fragment in error.reason, str(error)
    assert str(error).startswith(f"{field}: {error.reason} (got ")
    return error


def ok(raw: bytes) -> Envelope:
    return decode(raw, NOW)


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_round_trips(kind: str) -> None:
    envelope = Envelope("m-1", "gw-1", "A84041000181C9B2", "A-1", kind, NOW, SAMPLE_BODIES[kind])
    assert decode(encode(envelope), NOW) == envelope


def test_the_samples_cover_every_kind_and_every_field() -> None:
    assert set(SAMPLE_BODIES) == KINDS
    for kind, schema in BODY_SCHEMAS.items():
        assert set(SAMPLE_BODIES[kind]) == {spec.name for spec in schema}


def test_encode_writes_the_eight_fields_in_order_with_milliseconds() -> None:
    written = msgpack.unpackb(encode(EXAMPLE))
    assert list(written) == list(ENVELOPE_FIELDS)
    assert written["observed_at"] == NOW_MS
    assert written["version"] == PROTOCOL_VERSION
    assert written["body"] == {"fill_percent": 72.5, "distance_mm": 412}


def test_an_optional_field_may_be_left_out() -> None:
    envelope = ok(of_kind("bin.fill", distance_mm=ABSENT))
    assert envelope.body == {"fill_percent": 72.5}


def test_observed_at_keeps_millisecond_precision_and_comes_back_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    instant = datetime(2024, 6, 1, 13, 59, 59, 123_000, tzinfo=paris)
    envelope = Envelope("m-1", "gw-1", "dev-1", "B-1", "bin.fill", instant, {"fill_percent": 1})
    decoded = decode(encode(envelope), NOW)
    assert decoded.observed_at == instant
    assert decoded.observed_at.tzinfo == UTC
    assert to_epoch_ms(instant) == NOW_MS - 877
    assert from_epoch_ms(NOW_MS) == NOW


def test_a_naive_instant_cannot_be_encoded() -> None:
    naive = datetime(2024, 6, 1, 12, 0)  # noqa: DTZ001 - the mistake under test
    with pytest.raises(WireError) as caught:
        encode(Envelope("m-1", "gw-1", "dev-1", "B-1", "bin.fill", naive, {"fill_percent": 1}))
    assert caught.value.field == "observed_at"


def test_key_order_and_integer_formats_do_not_matter() -> None:
    raw = encode(EXAMPLE)
    shuffled = pack(dict(reversed(list(msgpack.unpackb(raw).items()))))
    assert ok(shuffled) == EXAMPLE
    # observed_at as int64 (0xd3) instead of the encoder's uint64 (0xcf)
    uint64 = b"\xcf" + NOW_MS.to_bytes(8, "big")
    assert raw.count(uint64) == 1
    assert ok(raw.replace(uint64, b"\xd3" + NOW_MS.to_bytes(8, "big"))) == EXAMPLE


def test_float32_values_are_accepted() -> None:
    envelope = ok(pack(document(body={"fill_percent": 72.5}), use_single_float=True))
    assert envelope.body == {"fill_percent": 72.5}


def test_bytearray_and_memoryview_are_accepted() -> None:
    raw = encode(EXAMPLE)
    assert ok(bytearray(raw)) == ok(memoryview(raw)) == EXAMPLE  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(pack(document(observed_at=EARLIEST_OBSERVATION_MS)), id="observed-2000"),
        pytest.param(pack(document(observed_at=NOW_MS + SKEW_MS)), id="observed-300s-ahead"),
        pytest.param(pack(document(id="x" * MAX_ID_LENGTH)), id="id-64-chars"),
        pytest.param(pack(document(id="é" * MAX_ID_LENGTH)), id="id-64-code-points"),
        pytest.param(pack(document(source="gateway gignac 1")), id="inner-spaces"),
        pytest.param(pack(document(body={"fill_percent": 0})), id="fill-int-0"),
        pytest.param(pack(document(body={"fill_percent": 100})), id="fill-int-100"),
        pytest.param(pack(document(body={"fill_percent": -0.0})), id="fill-minus-zero"),
        pytest.param(of_kind("bin.fill", distance_mm=10_000), id="distance-max"),
        pytest.param(of_kind("citizen.report", lon=-180, lat=90.0), id="lon-lat-bounds"),
        pytest.param(of_kind("citizen.report", text="x" * 2000), id="text-2000"),
        pytest.param(of_kind("citizen.register", commune_insee=" 3411"), id="body-str-spaces"),
        pytest.param(of_kind("site.energy", index_kwh=10**12), id="index-max-int"),
        pytest.param(of_kind("footfall.count", count=1_000_000), id="count-max"),
    ],
)
def test_values_on_the_limits_are_accepted(raw: bytes) -> None:
    ok(raw)


@pytest.mark.parametrize("length_ms", [1, MAX_INTERVAL_MS])
def test_footfall_interval_of_one_ms_to_one_day_is_accepted(length_ms: int) -> None:
    raw = pack(
        document(
            kind="footfall.count",
            observed_at=NOW_MS,
            body={"interval_start": NOW_MS - length_ms, "count": 3},
        )
    )
    assert ok(raw).body == {"interval_start": NOW_MS - length_ms, "count": 3}


# --- strict refusals, each naming its field ----------------------------------------------


def _deep_under_body(depth: int) -> bytes:
    return with_body(nested(depth))


REFUSALS = [
    # version
    ("version-2", pack(document(version=2)), "version", "unsupported protocol version"),
    ("version-0", pack(document(version=0)), "version", "unsupported protocol version"),
    ("version-bool", pack(document(version=True)), "version", "unsupported protocol version"),
    ("version-float", pack(document(version=1.0)), "version", "unsupported protocol version"),
    ("version-str", pack(document(version="1")), "version", "unsupported protocol version"),
    ("version-nil", pack(document(version=None)), "version", "unsupported protocol version"),
    ("version-missing", pack(document(version=ABSENT)), "version", "unsupported"),
    ("version-map", pack(document(version={"major": 1})), "version", "unsupported"),
    # kind
    ("kind-unknown", pack(document(kind="bin.empty")), "kind", "unknown kind"),
    ("kind-case", pack(document(kind="BIN.FILL")), "kind", "unknown kind"),
    ("kind-missing", pack(document(kind=ABSENT)), "kind", "unknown kind"),
    ("kind-int", pack(document(kind=5)), "kind", "unknown kind"),
    ("kind-map", pack(document(kind={"name": "bin.fill"})), "kind", "unknown kind"),
    ("kind-empty-array", pack(document(kind=[])), "kind", "arrays"),
    # missing and extra envelope fields
    ("id-missing", pack(document(id=ABSENT)), "id", "missing"),
    ("source-missing", pack(document(source=ABSENT)), "source", "missing"),
    ("device-missing", pack(document(device=ABSENT)), "device", "missing"),
    ("asset-missing", pack(document(asset=ABSENT)), "asset", "missing"),
    ("observed-missing", pack(document(observed_at=ABSENT)), "observed_at", "missing"),
    ("body-missing", pack(document(body=ABSENT)), "body", "missing"),
    ("extra-field", pack(document(priority=1)), "priority", "unknown envelope field"),
    ("extra-fields", pack(document(zeta=1, alpha=2)), "alpha", "unknown envelope field"),
    # body shape
    ("body-str", pack(document(body="full")), "body", "must be a map"),
    ("body-nil", pack(document(body=None)), "body", "must be a map"),
    ("body-empty", pack(document(body={})), "body.fill_percent", "missing (required"),
    ("body-extra", of_kind("bin.fill", colour="green"), "body.colour", "unknown field"),
    ("body-other-kind", of_kind("bin.fill", count=3), "body.count", "unknown field"),
    ("body-required", of_kind("citizen.report", lat=ABSENT), "body.lat", "missing (required"),
    # ill-typed
    ("number-str", of_kind("bin.fill", fill_percent="50"), "body.fill_percent", "a number"),
    ("number-bool", of_kind("bin.fill", fill_percent=True), "body.fill_percent", "a number"),
    ("number-nil", of_kind("bin.fill", fill_percent=None), "body.fill_percent", "a number"),
    ("optional-nil", of_kind("bin.fill", distance_mm=None), "body.distance_mm", "an integer"),
    ("str-int", of_kind("citizen.register", commune_insee=34114), "body.commune_insee", "a string"),
    ("str-nil", of_kind("citizen.report", photo_ref=None), "body.photo_ref", "must be a string"),
    ("id-int", pack(document(id=5)), "id", "must be a string"),
    ("asset-nil", pack(document(asset=None)), "asset", "must be a string"),
    ("observed-iso", pack(document(observed_at="2024-06-01T12:00:00Z")), "observed_at", "integer"),
    ("observed-float", pack(document(observed_at=1.7e12)), "observed_at", "integer"),
    ("observed-bool", pack(document(observed_at=True)), "observed_at", "integer"),
    # an integer required, a float given
    ("int-float", of_kind("bin.fill", distance_mm=412.0), "body.distance_mm", "must be an integer"),
    ("count-float", of_kind("footfall.count", count=3.0), "body.count", "must be an integer"),
    ("count-bool", of_kind("footfall.count", count=False), "body.count", "must be an integer"),
    (
        "interval-float",
        of_kind("footfall.count", interval_start=float(NOW_MS - 900_000)),
        "body.interval_start",
        "must be an integer",
    ),
    # not finite
    ("nan", of_kind("bin.fill", fill_percent=math.nan), "body.fill_percent", "must be finite"),
    ("inf", of_kind("bin.fill", fill_percent=math.inf), "body.fill_percent", "must be finite"),
    ("-inf", of_kind("site.energy", index_kwh=-math.inf), "body.index_kwh", "must be finite"),
    ("lon-nan", of_kind("citizen.report", lon=math.nan), "body.lon", "must be finite"),
    (
        "nan-float32",
        pack(document(body={"fill_percent": math.nan}), use_single_float=True),
        "body.fill_percent",
        "must be finite",
    ),
    # out of physical range
    ("fill-high", of_kind("bin.fill", fill_percent=100.5), "body.fill_percent", "maximum 100"),
    ("fill-low", of_kind("bin.fill", fill_percent=-0.1), "body.fill_percent", "minimum 0"),
    ("distance-high", of_kind("bin.fill", distance_mm=10_001), "body.distance_mm", "maximum"),
    ("distance-low", of_kind("bin.fill", distance_mm=-1), "body.distance_mm", "minimum"),
    ("distance-u64", of_kind("bin.fill", distance_mm=2**64 - 1), "body.distance_mm", "maximum"),
    ("distance-i64", of_kind("bin.fill", distance_mm=-(2**63)), "body.distance_mm", "minimum"),
    ("count-low", of_kind("footfall.count", count=-1), "body.count", "minimum 0"),
    ("count-high", of_kind("footfall.count", count=1_000_001), "body.count", "maximum 1e+06"),
    ("lat-high", of_kind("citizen.report", lat=90.5), "body.lat", "maximum 90"),
    ("lon-low", of_kind("citizen.report", lon=-180.1), "body.lon", "minimum -180"),
    ("index-high", of_kind("site.energy", index_kwh=1.5e12), "body.index_kwh", "maximum 1e+12"),
    ("meter-low", of_kind("site.meter_replaced", new_index_kwh=-1), "body.new_index_kwh", "min"),
    ("battery-high", of_kind("device.battery", battery_percent=101), "body.battery_percent", "max"),
    # observed_at
    ("before-2000", pack(document(observed_at=EARLIEST_OBSERVATION_MS - 1)), "observed_at", "2000"),
    ("epoch", pack(document(observed_at=0)), "observed_at", "before 2000-01-01T00:00:00Z"),
    ("negative", pack(document(observed_at=-1)), "observed_at", "before 2000-01-01T00:00:00Z"),
    (
        "future",
        pack(document(observed_at=NOW_MS + SKEW_MS + 1)),
        "observed_at",
        "more than 300 s in the future",
    ),
    # the footfall interval
    (
        "interval-empty",
        pack(document(kind="footfall.count", body={"interval_start": NOW_MS - 60_000, "count": 1})),
        "body.interval_start",
        "must be within the day before observed_at",
    ),
    (
        "interval-after",
        pack(document(kind="footfall.count", body={"interval_start": NOW_MS, "count": 1})),
        "body.interval_start",
        "must be within the day before observed_at",
    ),
    (
        "interval-too-long",
        pack(
            document(
                kind="footfall.count",
                observed_at=NOW_MS,
                body={"interval_start": NOW_MS - MAX_INTERVAL_MS - 1, "count": 1},
            )
        ),
        "body.interval_start",
        "must be within the day before observed_at",
    ),
    (
        "interval-before-2000",
        of_kind("footfall.count", interval_start=EARLIEST_OBSERVATION_MS - 1),
        "body.interval_start",
        "below the physical minimum",
    ),
    # body strings
    ("str-empty", of_kind("citizen.register", commune_insee=""), "body.commune_insee", "1 to 5"),
    ("str-blank", of_kind("citizen.register", commune_insee="   "), "body.commune_insee", "1 to 5"),
    ("str-long", of_kind("citizen.register", commune_insee="341140"), "body.commune_insee", "to 5"),
    ("text-long", of_kind("citizen.idea", text="x" * 2001), "body.text", "1 to 2000 characters"),
    # the message as a whole
    ("oversize", pack(document(pad="x" * MAX_MESSAGE_BYTES)), "message", "larger than 65536 bytes"),
    ("empty", b"", "message", "not valid msgpack"),
    ("truncated", pack(document())[:-1], "message", "not valid msgpack"),
    ("reserved-byte", b"\xc1", "message", "not valid msgpack: FormatError"),
    ("trailing-nil", pack(document()) + b"\xc0", "message", "trailing bytes after the msgpack map"),
    ("two-maps", pack(document()) * 2, "message", "trailing bytes after the msgpack map"),
    ("top-int", pack(1), "message", "must be a msgpack map"),
    ("top-str", pack("m-1"), "message", "must be a msgpack map"),
    ("top-nil", pack(None), "message", "must be a msgpack map"),
    ("top-float", pack(1.5), "message", "must be a msgpack map"),
    ("top-empty-array", pack([]), "message", "must be a msgpack map"),
    ("top-array", pack([document()]), "message", "exceeds max_array_len(0)"),
    ("invalid-utf8", pack(document()).replace(b"\xa3m-1", b"\xa3m\xff1"), "message", "utf-8"),
    # binary where a string is expected, and other msgpack types never used
    ("bin-id", pack(document(id=b"m-1")), "message", "exceeds max_bin_len(0)"),
    ("empty-bin-id", pack(document(id=b"")), "id", "msgpack bin is not allowed"),
    ("empty-bin-kind", pack(document(kind=b"")), "kind", "msgpack bin is not allowed"),
    ("empty-bin-body", of_kind("device.fault", fault=b""), "body.fault", "msgpack bin"),
    ("bin-key", pack({b"id": "m-1"}), "message", "exceeds max_bin_len(0)"),
    ("empty-bin-key", pack({b"": 1, **document()}), "message", "map keys must be msgpack str"),
    ("empty-str-body-key", of_kind("bin.fill", **{"": 1}), "body.", "unknown field"),
    ("empty-bin-body-key", pack(document(body={b"": 1, "fill_percent": 1})), "body", "map keys"),
    ("int-key", pack({1: 2, **document()}), "message", "not allowed for map key"),
    ("ext", pack(document(id=msgpack.ExtType(1, b"m-1"))), "message", "exceeds max_ext_len(0)"),
    ("empty-ext", pack(document(id=msgpack.ExtType(1, b""))), "id", "ext types are not allowed"),
    ("timestamp-ext", pack(document(observed_at=msgpack.Timestamp(1, 0))), "message", "ext_len"),
    ("array-value", pack(document(id=["m", "1"])), "message", "exceeds max_array_len(0)"),
    ("empty-array-body", of_kind("bin.fill", fill_percent=[]), "body.fill_percent", "arrays"),
    # too many map entries, too deep
    ("17-entries", pack(document(**{f"x{n}": n for n in range(9)})), "message", "max_map_len(16)"),
    ("17-in-body", of_kind("bin.fill", **{f"x{n}": n for n in range(15)}), "message", "map_len"),
    ("map-in-body", of_kind("bin.fill", fill_percent={"value": 1}), "body.fill_percent", "nest"),
    ("map-in-extra", pack(document(zz={"a": {"b": 1}})), "zz.a", "may not nest more than 2 deep"),
    ("deep-1000", _deep_under_body(1000), "body.a", "may not nest more than 2 deep"),
    ("deep-5000", _deep_under_body(5000), "message", "not valid msgpack"),
    # not bytes at all
    ("not-bytes-str", "m-1", "message", "must be bytes"),
    ("not-bytes-int", 5, "message", "must be bytes"),
    ("not-bytes-none", None, "message", "must be bytes"),
]


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [pytest.param(raw, field, fragment, id=name) for name, raw, field, fragment in REFUSALS],
)
def test_refused_naming_the_field(raw: Any, field: str, fragment: str) -> None:
    refused(raw, field, fragment)


def test_the_refusal_cases_have_distinct_names() -> None:
    names = [case[0] for case in REFUSALS]
    assert len(names) == len(set(names))


BAD_IDENTIFIERS = [
    pytest.param("", id="empty"),
    pytest.param("x" * (MAX_ID_LENGTH + 1), id="65-chars"),
    pytest.param("é" * (MAX_ID_LENGTH + 1), id="65-code-points"),
    pytest.param(" m-1", id="leading-space"),
    pytest.param("m-1 ", id="trailing-space"),
    pytest.param(" ", id="only-space"),
    pytest.param("m\t1", id="tab"),
    pytest.param("m-1\n", id="newline"),
    pytest.param("m\x001", id="nul"),
    pytest.param("m\u00a01", id="no-break-space"),
    pytest.param("m\u200b1", id="zero-width-space"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name", IDENTIFIERS)
@pytest.mark.parametrize("value", BAD_IDENTIFIERS)
def test_identifiers_must_be_1_to_64_printable_characters(name: str, value: str) -> None:
    error = refused(pack(document(**{name: value})), name, "1 to 64 printable characters")
    assert error.value == value


def test_the_first_problem_in_check_order_is_reported() -> None:
    # Unknown version before everything else, extra field before identifiers, …
    refused(pack(document(version=2, id="", priority=1)), "version", "unsupported")
    refused(pack(document(id="", priority=1)), "priority", "unknown envelope field")
    refused(pack(document(id="", kind="nope")), "id", "printable")
    refused(pack(document(kind="nope", observed_at=0)), "kind", "unknown kind")
    refused(pack(document(observed_at=0, body="x")), "observed_at", "before 2000")
    refused(of_kind("bin.fill", fill_percent=500, colour=1), "body.colour", "unknown field")
    too_much = {"fill_percent": 500, "distance_mm": -1}
    refused(pack(document(body=too_much)), "body.fill_percent", "maximum")


def test_the_error_message_shows_a_shortened_value() -> None:
    error = refused(of_kind("citizen.idea", text="y" * 3000), "body.text", "1 to 2000 characters")
    assert error.value == "y" * 3000
    assert str(error).endswith("...)")
    assert len(str(error)) < 150


def test_a_message_of_exactly_the_size_limit_is_read() -> None:
    base = len(pack(document(pad="")))
    # a str of more than 255 bytes takes str16, one byte more than the str8 of the empty pad
    raw = pack(document(pad="x" * (MAX_MESSAGE_BYTES - base - 2)))
    assert len(raw) == MAX_MESSAGE_BYTES
    refused(raw, "pad", "unknown envelope field")
    refused(pack(document(pad="x" * (MAX_MESSAGE_BYTES - base - 1))), "message", "larger than")


# --- replies ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", REPLY_STATUSES)
@pytest.mark.parametrize("message", ["m-1", None])
@pytest.mark.parametrize("reason", ["body.fill_percent: above the physical maximum 100", None])
def test_replies_round_trip(status: str, message: str | None, reason: str | None) -> None:
    reply = Reply(status, message, reason)
    assert decode_reply(encode_reply(reply)) == reply


def test_a_reply_has_four_fields_in_order() -> None:
    written = msgpack.unpackb(encode_reply(Reply("rejected", None, "message: bad")))
    assert written == {"version": 1, "id": None, "status": "rejected", "reason": "message: bad"}
    assert list(written) == ["version", "id", "status", "reason"]


def test_a_reply_without_version_or_id_or_reason_is_read_and_extra_keys_ignored() -> None:
    assert decode_reply(pack({"status": "ack"})) == Reply("ack", None, None, 1)
    assert decode_reply(pack({"status": "ack", "id": "m-1", "later": 1})) == Reply("ack", "m-1")


REPLY_REFUSALS = [
    ("int", pack(1), "reply", "must be a msgpack map"),
    ("nil", pack(None), "reply", "must be a msgpack map"),
    ("status-unknown", pack({"status": "ok", "id": "m-1"}), "status", "must be one of"),
    ("status-missing", pack({"id": "m-1"}), "status", "must be one of ack, duplicate, rejected"),
    ("status-case", pack({"status": "ACK"}), "status", "must be one of"),
    ("id-int", pack({"status": "ack", "id": 5}), "id", "must be a string or nil"),
    ("reason-int", pack({"status": "rejected", "reason": 5}), "reason", "a string or nil"),
    ("version-2", pack({"status": "ack", "version": 2}), "version", "unsupported protocol"),
    ("version-bool", pack({"status": "ack", "version": True}), "version", "unsupported protocol"),
    ("version-str", pack({"status": "ack", "version": "1"}), "version", "unsupported protocol"),
    ("bin-id", pack({"status": "ack", "id": b"m-1"}), "message", "exceeds max_bin_len(0)"),
    ("empty-bin-id", pack({"status": "ack", "id": b""}), "id", "msgpack bin is not allowed"),
    ("map-id", pack({"status": "ack", "id": {"a": 1}}), "id", "may not nest more than 1 deep"),
    ("deep", b"\x82\xa6status\xa3ack\xa2id" + nested(1000), "id", "may not nest"),
    ("empty", b"", "message", "not valid msgpack"),
    ("truncated", encode_reply(Reply("ack", "m-1"))[:-1], "message", "not valid msgpack"),
    ("trailing", encode_reply(Reply("ack", "m-1")) + b"\x00", "message", "trailing bytes"),
    ("not-bytes", "ack", "message", "must be bytes"),
]


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [pytest.param(raw, field, fragment, id=name) for name, raw, field, fragment in REPLY_REFUSALS],
)
def test_broken_replies_are_refused_naming_the_field(raw: Any, field: str, fragment: str) -> None:
    with pytest.raises(WireError) as caught:
        decode_reply(raw)
    assert caught.value.field == field, str(caught.value)
    assert fragment in caught.value.reason, str(caught.value)


# --- peek_identity ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="reserved-byte"),
        pytest.param(b"\x92garbage", id="garbage"),
        pytest.param(encode(EXAMPLE)[:40], id="truncated"),
        pytest.param(encode(EXAMPLE) + b"\x00", id="trailing"),
        pytest.param(pack([1]), id="array"),
        pytest.param(pack("m-1"), id="str"),
        pytest.param(pack(None), id="nil"),
        pytest.param(pack(document(id=b"m-1")), id="bin-id"),
        pytest.param(nested(5000), id="too-deep-for-msgpack"),
        pytest.param("not bytes", id="not-bytes"),
        pytest.param(None, id="none"),
    ],
)
def test_peek_identity_of_unreadable_input_is_nothing(raw: Any) -> None:
    assert peek_identity(raw) == (None, None)


@pytest.mark.parametrize(
    ("raw", "identity"),
    [
        pytest.param(pack(document(version=2)), ("gateway-gignac", "m-1"), id="bad-version"),
        pytest.param(pack(document(kind="nope")), ("gateway-gignac", "m-1"), id="bad-kind"),
        pytest.param(pack(document(id="x" * 65)), ("gateway-gignac", None), id="id-too-long"),
        pytest.param(pack(document(id="")), ("gateway-gignac", None), id="id-empty"),
        pytest.param(pack(document(id=7)), ("gateway-gignac", None), id="id-int"),
        pytest.param(pack(document(source=ABSENT)), (None, "m-1"), id="no-source"),
        pytest.param(pack(document(source={"a": 1})), (None, "m-1"), id="source-map"),
        pytest.param(
            pack(document(pad="x" * MAX_MESSAGE_BYTES)), ("gateway-gignac", "m-1"), id="oversize"
        ),
        pytest.param(_deep_under_body(1000), ("gateway-gignac", "m-1"), id="deep-body"),
        pytest.param(encode(EXAMPLE), ("gateway-gignac", EXAMPLE.message_id), id="valid"),
    ],
)
def test_peek_identity_reads_what_it_can(raw: bytes, identity: tuple[str | None, ...]) -> None:
    assert peek_identity(raw) == identity


# --- the specification, docs/wire-protocol.md ---------------------------------------------


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _between_markers(name: str) -> str:
    text = _doc()
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    assert text.count(begin) == 1 and text.count(end) == 1, f"markers {name} missing or repeated"
    block = text[text.index(begin) + len(begin) : text.index(end)].strip()
    assert block.startswith("```text\n") and block.endswith("\n```"), block[:40]
    return block[len("```text\n") : -len("\n```")]


def _xxd(data: bytes) -> str:
    """What ``xxd`` prints: offset, 16 bytes in groups of two, the printable ASCII."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        groups = " ".join(chunk[i : i + 2].hex() for i in range(0, len(chunk), 2))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}: {groups:<39}  {text}")
    return "\n".join(lines)


def _parse_hex_dump(dump: str) -> bytes:
    data = bytearray()
    for line in dump.splitlines():
        match = re.fullmatch(r"([0-9a-f]{8}): ((?:[0-9a-f]{2,4} ?)+?)\s{2,}.*", line)
        assert match, f"not an xxd line: {line!r}"
        assert int(match.group(1), 16) == len(data), f"offset of {line!r}"
        data += bytes.fromhex(match.group(2).replace(" ", ""))
    return bytes(data)


def test_the_documented_message_is_what_encode_produces() -> None:
    dump = _between_markers("wire-example-message")
    raw = _parse_hex_dump(dump)
    assert raw == encode(EXAMPLE)
    assert decode(raw, NOW) == EXAMPLE
    assert dump == _xxd(raw)  # offsets and the ASCII column too
    assert f"The {len(raw)} bytes of the frame" in _doc()


def test_the_byte_by_byte_reading_points_at_the_right_bytes() -> None:
    raw = encode(EXAMPLE)
    section = _doc().split("## 12. Worked example", 1)[1]
    rows = re.findall(r"^\| (0x[0-9a-f]{2}) \| `([0-9a-f]{2}(?: [0-9a-f]{2})*)", section, re.M)
    assert len(rows) >= 20
    for offset, shown in rows:
        start = int(offset, 16)
        expected = bytes.fromhex(shown)
        assert raw[start : start + len(expected)] == expected, (offset, shown)


def test_a_duplicate_reply_differs_from_the_ack_only_in_its_status() -> None:
    ack = encode_reply(Reply("ack", EXAMPLE.message_id))
    duplicate = encode_reply(Reply("duplicate", EXAMPLE.message_id))
    assert duplicate == ack.replace(b"\xa3ack", b"\xa9duplicate")


def test_the_documented_reply_is_what_encode_reply_produces() -> None:
    dump = _between_markers("wire-example-reply")
    raw = _parse_hex_dump(dump)
    assert raw == encode_reply(Reply("ack", EXAMPLE.message_id))
    assert decode_reply(raw) == Reply("ack", EXAMPLE.message_id)
    assert dump == _xxd(raw)
    assert f"this {len(raw)}-byte frame" in _doc()


def test_the_documented_id_is_derived_as_the_document_says() -> None:
    e = EXAMPLE
    reading = Reading(e.device, e.asset, e.kind, e.observed_at, e.body)
    assert message_id(EXAMPLE.source, reading) == EXAMPLE.message_id
    assert f"`{EXAMPLE.message_id}` (derived as in §9.1)" in _doc()


def _reason(raw: bytes) -> str:
    with pytest.raises(WireError) as caught:
        decode(raw, NOW)
    return str(caught.value)


def test_the_documented_reasons_are_exactly_the_codec_s() -> None:
    at_now = {"observed_at": NOW_MS}
    produced = [
        _reason(b"\x00" * 70_000),
        _reason(encode(EXAMPLE) + b"\xc0"),
        _reason(b""),
        _reason(pack(1)),
        _reason(pack(document(version=2))),
        _reason(pack(document(priority=1))),
        _reason(pack(document(id=ABSENT))),
        _reason(pack(document(id=""))),
        _reason(pack(document(source=5))),
        _reason(pack(document(kind="bin.empty"))),
        _reason(pack(document(observed_at=1.5))),
        _reason(pack(document(observed_at=900_000_000_000))),
        _reason(pack(document(observed_at=NOW_MS + SKEW_MS + 1))),
        _reason(pack(document(body="full"))),
        _reason(pack(document(body={}))),
        _reason(of_kind("bin.fill", colour="green")),
        _reason(of_kind("bin.fill", distance_mm=1.0)),
        _reason(of_kind("bin.fill", fill_percent="50")),
        _reason(of_kind("bin.fill", fill_percent=math.nan)),
        _reason(of_kind("bin.fill", fill_percent=130.0)),
        _reason(of_kind("site.energy", index_kwh=2e12)),
        _reason(of_kind("footfall.count", interval_start=1)),
        _reason(of_kind("citizen.register", commune_insee="   ")),
        _reason(
            pack(
                document(
                    kind="footfall.count", body={"interval_start": NOW_MS, "count": 3}, **at_now
                )
            )
        ),
    ]
    assert _between_markers("wire-example-reasons").splitlines() == produced


_TYPES = {"number": "int or float", "int": "int", "str": "str"}


def _body_table(kind: str) -> list[list[str]]:
    text = _doc()
    heading = f"\n### `{kind}`\n"
    assert text.count(heading) == 1, f"no section for {kind}"
    section = text[text.index(heading) + len(heading) :]
    section = re.split(r"\n##", section, maxsplit=1)[0]
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_documented_body_tables_match_the_schemas(kind: str) -> None:
    rows = _body_table(kind)
    schema = BODY_SCHEMAS[kind]
    assert [row[0] for row in rows] == [f"`{spec.name}`" for spec in schema]
    for row, spec in zip(rows, schema, strict=True):
        assert len(row) == 5, row
        assert row[1] == _TYPES[spec.kind], row
        assert row[3] == ("required" if spec.required else "optional"), row
        if spec.kind == "str":
            assert row[4] == f"1 to `{spec.max_length}` characters", row
        else:
            bounds = [float(bound) for bound in re.findall(r"`([^`]+)`", row[4])]
            assert bounds == [spec.minimum, spec.maximum], row


def test_the_documented_limits_are_the_code_s() -> None:
    text = _doc()

    def spaced(number: int) -> str:
        return f"{number:,}".replace(",", " ")

    assert f"| protocol version | `{PROTOCOL_VERSION}` |" in text
    assert f"| largest message | {spaced(MAX_MESSAGE_BYTES)} bytes (64 KiB) |" in text
    assert f"| {spaced(SOCKET_MAX_FRAME_BYTES)} bytes (1 MiB) |" in text
    assert f"| 1 to {MAX_ID_LENGTH} characters |" in text
    assert f"| {spaced(EARLIEST_OBSERVATION_MS)} ms = 2000-01-01T00:00:00Z |" in text
    assert f"| {MAX_CLOCK_SKEW_S} s after ingest's clock |" in text
    assert f"| {spaced(MAX_INTERVAL_MS)} ms = 24 h |" in text


# --- properties ---------------------------------------------------------------------------


def _never_anything_but_wire_error(raw: Any) -> None:
    """decode and decode_reply raise WireError or nothing; peek_identity never raises."""
    try:
        decode(raw, NOW)
    except WireError:
        pass
    try:
        decode_reply(raw)
    except WireError:
        pass
    source, message = peek_identity(raw)
    assert source is None or isinstance(source, str)
    assert message is None or isinstance(message, str)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1024))
def test_arbitrary_bytes_only_ever_raise_wire_error(raw: bytes) -> None:
    _never_anything_but_wire_error(raw)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.floats(width=32)
    | st.text(max_size=80)
    | st.binary(max_size=20)
)
_KEYS = (
    st.text(max_size=12)
    | st.sampled_from(ENVELOPE_FIELDS)
    | st.integers(-5, 5)
    | st.binary(max_size=3)
)
_OBJECTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6),
    max_leaves=25,
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_OBJECTS)
def test_arbitrary_msgpack_objects_only_ever_raise_wire_error(value: Any) -> None:
    _never_anything_but_wire_error(pack(value))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([*ENVELOPE_FIELDS, "extra"]),
    st.sampled_from(sorted(KINDS)),
    st.sampled_from(["fill_percent", "distance_mm", "count", "interval_start", "text", "x"]),
    _OBJECTS,
    st.booleans(),
)
def test_a_valid_message_with_one_arbitrary_value_only_ever_raises_wire_error(
    field: str, kind: str, body_field: str, value: Any, in_body: bool
) -> None:
    doc = document(kind=kind, body=dict(SAMPLE_BODIES[kind]))
    if in_body:
        doc["body"][body_field] = value
    else:
        doc[field] = value
    _never_anything_but_wire_error(pack(doc))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_encodings_only_ever_raise_wire_error(data: st.DataObject) -> None:
    raw = bytearray(encode(EXAMPLE))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        if action == "replace":
            raw[position] = data.draw(st.integers(0, 255))
        elif action == "insert":
            raw[position:position] = data.draw(st.binary(min_size=1, max_size=4))
        elif action == "delete" and len(raw) > 1:
            del raw[position]
        elif action == "cut":
            del raw[position:]
            break
    _never_anything_but_wire_error(bytes(raw))


_IDENTIFIERS = st.text(
    alphabet=st.characters(categories=("L", "M", "N", "P", "S")) | st.just(" "),
    min_size=1,
    max_size=MAX_ID_LENGTH,
).filter(lambda text: text == text.strip() and text.isprintable())


def _field_values(spec: BodyField) -> st.SearchStrategy[Any]:
    assert spec.minimum is not None or spec.kind == "str"
    if spec.kind == "str":
        return st.text(min_size=1, max_size=spec.max_length).filter(lambda text: text.strip() != "")
    assert spec.minimum is not None and spec.maximum is not None
    integers = st.integers(math.ceil(spec.minimum), math.floor(spec.maximum))
    if spec.kind == "int":
        return integers
    return integers | st.floats(spec.minimum, spec.maximum, allow_nan=False)


@st.composite
def _envelopes(draw: st.DrawFn) -> Envelope:
    kind = draw(st.sampled_from(sorted(BODY_SCHEMAS)))
    observed_ms = draw(st.integers(EARLIEST_OBSERVATION_MS + 1, NOW_MS + SKEW_MS))
    body: dict[str, Any] = {}
    for spec in BODY_SCHEMAS[kind]:
        if spec.required or draw(st.booleans()):
            body[spec.name] = draw(_field_values(spec))
    if kind == "footfall.count":
        longest = min(MAX_INTERVAL_MS, observed_ms - EARLIEST_OBSERVATION_MS)
        body["interval_start"] = observed_ms - draw(st.integers(1, longest))
    if kind == "truck.tour":
        longest = min(MAX_INTERVAL_MS, observed_ms - EARLIEST_OBSERVATION_MS)
        body["started_at"] = observed_ms - draw(st.integers(1, longest))
        if "tips" in body:
            body["tips"] = f"SCH-ASPIRAN@{body['started_at']}=7.94"
    return Envelope(
        message_id=draw(_IDENTIFIERS),
        source=draw(_IDENTIFIERS.filter(lambda s: "/" not in s and s != "raw")),
        device=draw(_IDENTIFIERS),
        asset=draw(_IDENTIFIERS),
        kind=kind,
        observed_at=from_epoch_ms(observed_ms),
        body=body,
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_envelopes())
def test_valid_envelopes_round_trip(envelope: Envelope) -> None:
    raw = encode(envelope)
    assert len(raw) <= MAX_MESSAGE_BYTES
    decoded = decode(raw, NOW)
    assert decoded == envelope
    assert encode(decoded) == raw
    assert peek_identity(raw) == (envelope.source, envelope.message_id)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(REPLY_STATUSES),
    st.none() | _IDENTIFIERS,
    st.none() | st.text(max_size=300),
)
def test_valid_replies_round_trip(status: str, message: str | None, reason: str | None) -> None:
    reply = Reply(status, message, reason)
    assert decode_reply(encode_reply(reply)) == reply


@pytest.mark.parametrize("source", ["a/b", "gw/1", "raw"])
def test_a_source_cannot_take_another_sources_receipts(source: str) -> None:
    # Issue 14: receipts are named "receipt/SOURCE/ID", so source "a" sending id "b/x" took the
    # receipt of source "a/b"'s message "x", which was then answered "duplicate", never stored.
    error = refused(pack(document(source=source)), "source", "must not contain '/'")
    assert error.value == source


def test_a_message_id_may_hold_a_slash_once_sources_cannot() -> None:
    assert decode(pack(document(id="b/x")), NOW).message_id == "b/x"
