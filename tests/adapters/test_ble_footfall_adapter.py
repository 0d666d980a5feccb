"""BLE footfall: distinct devices counted per scanner and interval, and nothing else leaves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.ble_footfall import BleFootfallAdapter
from adapters.payloads import PayloadError
from adapters.sdk import AdapterRunner, Outbox, Reading
from adapters.wire import InMemoryTransport, decode

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
SALT = "a-secret-of-the-valley-0123456789"
PHONE_1 = "5C:AA:01:02:03:04"
PHONE_2 = "5c:aa:99:98:97:96"
FLAGS = "020106"
# iBeacon frames as in tests/adapters/payloads/test_ble.py (mbed example UUID).
IBEACON_UUID = "e20a39f4-73f5-4bc4-a12f-17d1ad07a961"
IBEACON = FLAGS + "1AFF4C000215E20A39F473F54BC4A12F17D1AD07A96111223344C8"
IBEACON_ID = f"{IBEACON_UUID}/4386/13124"  # major 0x1122, minor 0x3344
OTHER_APPLE = FLAGS + "07FF4C0010020B00"  # an Apple advertisement that is no beacon
CONFIG: dict[str, Any] = {
    "scanners": {"gw-zae-1": "BLE-34114-ZAE-1", "gw-centre": "BLE-34114-CTR-1"},
    "salt": SALT,
    "interval_s": 900,
    "grace_s": 60,
}


def sighting(scanner: str, at: datetime, address: str | None = None, adv: str | None = None) -> str:
    document: dict[str, Any] = {
        "scanner": scanner,
        "seen_at": at.isoformat().replace("+00:00", "Z"),
    }
    if address is not None:
        document["address"] = address
    if adv is not None:
        document["adv"] = adv
    return json.dumps(document)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def adapter() -> BleFootfallAdapter:
    return BleFootfallAdapter(CONFIG)


def counts(readings: list[Reading]) -> dict[tuple[str, datetime], int]:
    return {(r.device, r.observed_at): r.body["count"] for r in readings}


def test_distinct_devices_per_interval_and_scanner(adapter: BleFootfallAdapter) -> None:
    for payload in [
        sighting("gw-zae-1", at(1), PHONE_1),
        sighting("gw-zae-1", at(2), PHONE_2),
        sighting("gw-zae-1", at(9), PHONE_1),  # the same phone again: counted once
        sighting("gw-centre", at(5), PHONE_1),  # another scanner counts it on its own
        sighting("gw-zae-1", at(15.5), PHONE_1),  # next interval
    ]:
        assert adapter.readings(payload, at(20)) == []
    readings = adapter.flush(at(40))
    assert counts(readings) == {
        ("gw-zae-1", at(15)): 2,
        ("gw-centre", at(15)): 1,
        ("gw-zae-1", at(30)): 1,
    }
    first = next(r for r in readings if r.device == "gw-zae-1" and r.observed_at == at(15))
    assert first.kind == "footfall.count"
    assert first.asset == "BLE-34114-ZAE-1"
    assert first.body == {"interval_start": int(T0.timestamp() * 1000), "count": 2}
    assert adapter.flush(at(60)) == []  # counted once


def test_counts_leave_only_after_interval_end_and_grace(adapter: BleFootfallAdapter) -> None:
    adapter.readings(sighting("gw-zae-1", at(3), PHONE_1), at(3))
    assert adapter.flush(at(15)) == []  # the interval just ended
    assert adapter.flush(at(15.9)) == []  # within the grace period
    assert counts(adapter.flush(at(16))) == {("gw-zae-1", at(15)): 1}


def test_a_later_sighting_closes_earlier_intervals(adapter: BleFootfallAdapter) -> None:
    adapter.readings(sighting("gw-zae-1", at(3), PHONE_1), at(3))
    assert adapter.readings(sighting("gw-centre", at(15.5), PHONE_2), at(15.5)) == []
    closed = adapter.readings(sighting("gw-centre", at(16.5), PHONE_2), at(16.5))
    assert counts(closed) == {("gw-zae-1", at(15)): 1}


def test_late_sighting_within_grace_is_counted(adapter: BleFootfallAdapter) -> None:
    adapter.readings(sighting("gw-zae-1", at(15.5), PHONE_1), at(15.5))
    adapter.readings(
        sighting("gw-zae-1", at(14.9), PHONE_2), at(15.5)
    )  # out of order, within grace
    assert counts(adapter.flush(at(16))) == {("gw-zae-1", at(15)): 1}
    # PHONE_1 belongs to the next interval, still open.
    assert counts(adapter.flush(at(31))) == {("gw-zae-1", at(30)): 1}


def test_sighting_after_its_interval_was_counted_is_refused(adapter: BleFootfallAdapter) -> None:
    adapter.readings(sighting("gw-zae-1", at(3), PHONE_1), at(3))
    assert len(adapter.flush(at(17))) == 1
    with pytest.raises(PayloadError) as caught:
        adapter.readings(sighting("gw-zae-1", at(14), PHONE_2), at(17))
    assert caught.value.field == "seen_at"
    assert adapter.flush(at(60)) == []  # and it did not reopen the interval


def test_beacon_identifier_is_preferred_to_the_rotating_address(
    adapter: BleFootfallAdapter,
) -> None:
    adapter.readings(sighting("gw-zae-1", at(1), PHONE_1, IBEACON), at(1))
    adapter.readings(sighting("gw-zae-1", at(2), PHONE_2, IBEACON), at(2))
    assert counts(adapter.flush(at(20))) == {("gw-zae-1", at(15)): 1}


def test_address_case_does_not_make_two_devices(adapter: BleFootfallAdapter) -> None:
    adapter.readings(sighting("gw-zae-1", at(1), PHONE_1.upper()), at(1))
    adapter.readings(sighting("gw-zae-1", at(2), PHONE_1.lower()), at(2))
    assert counts(adapter.flush(at(20))) == {("gw-zae-1", at(15)): 1}


def test_non_beacon_advertisement_falls_back_to_the_address(adapter: BleFootfallAdapter) -> None:
    adapter.readings(sighting("gw-zae-1", at(1), PHONE_1, OTHER_APPLE), at(1))
    adapter.readings(sighting("gw-zae-1", at(2), PHONE_2, OTHER_APPLE), at(2))
    adapter.readings(sighting("gw-zae-1", at(3), None, OTHER_APPLE), at(3))  # nothing to count by
    assert counts(adapter.flush(at(20))) == {("gw-zae-1", at(15)): 2}


@pytest.mark.parametrize(
    "excluded", [IBEACON_ID, IBEACON_ID.upper(), f"ibeacon:{IBEACON_ID}", PHONE_1.lower()]
)
def test_excluded_identifiers_are_not_counted(excluded: str) -> None:
    adapter = BleFootfallAdapter({**CONFIG, "exclude_identifiers": [excluded]})
    adapter.readings(sighting("gw-zae-1", at(1), "11:22:33:44:55:66", IBEACON), at(1))
    adapter.readings(sighting("gw-zae-1", at(2), PHONE_1), at(2))
    adapter.readings(sighting("gw-zae-1", at(3), PHONE_2), at(3))
    # One of the three is the valley's own tag (or a known address); the other two count.
    assert counts(adapter.flush(at(20))) == {("gw-zae-1", at(15)): 2}


def test_nothing_identifying_ever_leaves(adapter: BleFootfallAdapter) -> None:
    phones = [f"de:ad:be:ef:00:{n:02x}" for n in range(20)]
    secrets = {p.lower() for p in phones} | {IBEACON_ID, IBEACON_UUID}
    readings = []
    for n, phone in enumerate(phones):
        readings += adapter.readings(
            sighting("gw-zae-1", at(n * 3), phone, IBEACON if n == 7 else None), at(n * 3)
        )
    # The pseudonyms themselves must not leave either.
    secrets |= {adapter._pseudonym(p, T0).hex() for p in phones}  # noqa: SLF001
    readings += adapter.flush(at(24 * 60))
    assert len(readings) == 4
    assert sum(r.body["count"] for r in readings) == 20
    for reading in readings:
        assert set(reading.body) == {"interval_start", "count"}
        assert all(isinstance(v, int) for v in reading.body.values())
        shown = " ".join(
            str(v).lower()
            for v in (reading.device, reading.asset, reading.kind, *reading.body.values())
        )
        assert not any(secret in shown for secret in secrets)
        assert reading.device in CONFIG["scanners"]


def test_pseudonyms_rotate_daily_and_depend_on_the_salt(adapter: BleFootfallAdapter) -> None:
    day_1, day_2 = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)
    same_day = adapter._pseudonym(PHONE_1, day_1)  # noqa: SLF001
    assert same_day == adapter._pseudonym(PHONE_1, day_1 + timedelta(hours=23))  # noqa: SLF001
    assert same_day != adapter._pseudonym(PHONE_1, day_2)  # noqa: SLF001
    assert same_day != adapter._pseudonym(PHONE_2, day_1)  # noqa: SLF001
    other_salt = BleFootfallAdapter({**CONFIG, "salt": "another-secret-salt-9876543210"})
    assert same_day != other_salt._pseudonym(PHONE_1, day_1)  # noqa: SLF001
    assert PHONE_1.encode() not in same_day and len(same_day) == 16


def test_the_same_phone_on_two_days_is_counted_each_day(adapter: BleFootfallAdapter) -> None:
    midnight = datetime(2024, 5, 2, tzinfo=UTC)
    adapter.readings(sighting("gw-zae-1", midnight - timedelta(minutes=5), PHONE_1), midnight)
    adapter.readings(sighting("gw-zae-1", midnight - timedelta(minutes=4), PHONE_2), midnight)
    adapter.readings(sighting("gw-zae-1", midnight + timedelta(seconds=50), PHONE_1), midnight)
    readings = adapter.flush(midnight + timedelta(hours=1))
    assert [(r.observed_at, r.body["count"]) for r in readings] == [
        (midnight, 2),
        (midnight + timedelta(minutes=15), 1),
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (sighting("gw-unknown", T0, PHONE_1), "scanner"),
        (sighting("gw-zae-1", T0), "address"),
        (
            json.dumps(
                {"scanner": "gw-zae-1", "seen_at": "2024-05-01T10:00:00", "address": PHONE_1}
            ),
            "seen_at",
        ),
        (json.dumps({"seen_at": "2024-05-01T10:00:00Z", "address": PHONE_1}), "scanner"),
        (sighting("gw-zae-1", T0, PHONE_1, "zz-not-hex"), "adv"),
        (sighting("gw-zae-1", T0, PHONE_1, FLAGS + "1AFF4C000215E20A"), "adv.ad_structure"),
        (sighting("gw-zae-1", T0, PHONE_1, FLAGS + "06FF4C000214E2"), "adv.ibeacon.length"),
        ("[]", "payload"),
    ],
)
def test_unreadable_sightings_name_the_field(
    adapter: BleFootfallAdapter, payload: str, field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.readings(payload, T0)
    assert caught.value.field == field


def test_errors_do_not_repeat_the_advertisement() -> None:
    adapter = BleFootfallAdapter(CONFIG)
    broken = FLAGS + "1AFF4C000215E20A39F473F54BC4A12F17D1AD07A961"  # truncated iBeacon
    with pytest.raises(PayloadError) as caught:
        adapter.readings(sighting("gw-zae-1", T0, PHONE_1, broken), T0)
    assert (
        "e20a39f4" not in str(caught.value).lower()
        and "e20a39f4" not in str(caught.value.value).lower()
    )


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"scanners": {}}, "scanners"),
        ({"scanners": None}, "scanners"),
        ({"salt": "short"}, "salt"),
        ({"salt": None}, "salt"),
        ({"interval_s": 30}, "interval_s"),
        ({"interval_s": 2 * 86_400}, "interval_s"),
        ({"interval_s": "900"}, "interval_s"),
        ({"grace_s": -1}, "grace_s"),
        ({"exclude_identifiers": "5c:aa:01:02:03:04"}, "exclude_identifiers"),
        ({"exclude_identifiers": [""]}, "exclude_identifiers"),
    ],
)
def test_config_errors_name_the_key(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        BleFootfallAdapter({**CONFIG, **changes})


def test_counts_through_the_runner_are_valid_wire_messages(adapter: BleFootfallAdapter) -> None:
    now = at(120)
    transport = InMemoryTransport()
    with Outbox() as outbox:
        runner = AdapterRunner(adapter, transport, outbox, "gw-ble-1", clock=lambda: now)
        # [10:00, 10:15) and [10:15, 10:30) close as later sightings arrive; flushing closes the last.
        assert (
            runner.submit_many(
                [sighting("gw-zae-1", at(m), f"aa:bb:cc:dd:ee:{m:02x}") for m in range(0, 40, 2)]
            )
            == 2
        )
        assert runner.flush() == 1
        runner.pump()
        envelopes = [decode(frame, now) for frame in transport.sent]
    assert [e.body["count"] for e in envelopes] == [8, 7, 5]
    assert all(e.kind == "footfall.count" and e.asset == "BLE-34114-ZAE-1" for e in envelopes)
    assert not runner.stats.unreadable


def test_quiet_intervals_count_zero_once_the_scanner_is_heard_again(
    adapter: BleFootfallAdapter,
) -> None:
    adapter.readings(sighting("gw-zae-1", at(1), PHONE_1), at(1))
    # Nobody for 45 minutes, and the gateway says nothing: no count is invented for that time.
    assert counts(adapter.flush(at(50))) == {("gw-zae-1", at(15)): 1}
    # Then a phone at 10:50: the scanner was alive, so the quiet intervals were truly empty.
    closed = adapter.readings(sighting("gw-zae-1", at(50), PHONE_2), at(50))
    assert closed == []
    assert counts(adapter.flush(at(62))) == {
        ("gw-zae-1", at(30)): 0,
        ("gw-zae-1", at(45)): 0,
        ("gw-zae-1", at(60)): 1,
    }
    assert counts(adapter.flush(at(200))) == {}  # silent again: nothing more until it is heard


def test_a_sighting_dated_ahead_is_refused_alone(adapter: BleFootfallAdapter) -> None:
    adapter.readings(sighting("gw-zae-1", at(1), PHONE_1), at(1))
    adapter.readings(sighting("gw-centre", at(2), PHONE_1), at(2))
    glitch = sighting("gw-zae-1", at(1) + timedelta(days=1), PHONE_2)  # a gateway clock jump
    with pytest.raises(PayloadError) as caught:
        adapter.readings(glitch, at(3))
    assert caught.value.field == "seen_at"
    assert "clock glitch" in caught.value.reason
    # The true sightings after it, of both scanners, are still counted, and nothing else is.
    closed = adapter.readings(sighting("gw-zae-1", at(4), PHONE_2), at(4))
    closed += adapter.readings(sighting("gw-centre", at(16.5), PHONE_2), at(16.5))
    closed += adapter.readings(sighting("gw-zae-1", at(17), PHONE_2), at(17))
    assert counts(closed) == {("gw-zae-1", at(15)): 2, ("gw-centre", at(15)): 1}
    assert counts(adapter.flush(at(32))) == {("gw-zae-1", at(30)): 1, ("gw-centre", at(30)): 1}


def test_a_sighting_within_the_clock_skew_is_taken(adapter: BleFootfallAdapter) -> None:
    adapter.readings(sighting("gw-zae-1", at(5), PHONE_1), at(0))  # 5 min ahead: allowed
    assert counts(adapter.flush(at(16))) == {("gw-zae-1", at(15)): 1}


@pytest.mark.parametrize("seen_at", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:30Z"])
def test_sightings_at_the_ends_of_the_calendar_are_refused_for_their_date(
    adapter: BleFootfallAdapter, seen_at: str
) -> None:
    document = {"scanner": "gw-zae-1", "seen_at": seen_at, "address": PHONE_1}
    with pytest.raises(PayloadError) as caught:
        adapter.readings(json.dumps(document), at(0))
    assert caught.value.field == "seen_at"
    adapter.readings(sighting("gw-zae-1", at(1), PHONE_1), at(1))
    assert counts(adapter.flush(at(16))) == {("gw-zae-1", at(15)): 1}
