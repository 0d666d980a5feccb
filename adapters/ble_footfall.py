"""Adapter: BLE scanners counting footfall, from advertisement frames seen by a gateway.

Privacy by design: a phone's or tag's identifier (iBeacon/Eddystone id, else the advertiser
address) is reduced at once to a keyed hash whose key changes every day, kept in memory only
for the interval being counted, and only the count of distinct hashes per interval and
scanner leaves the adapter. Known infrastructure tags (the valley's own beacons) can be
excluded. Not responsible for deduplicating one phone's rotating addresses: the count is of
distinct devices seen, to be scaled by the detection ratio in the models.

Gateway payload, one JSON object per sighting::

    {"scanner": "gw-zae-1", "seen_at": "2024-05-01T10:02:11Z", "address": "5c:...", "adv": "0201061aff4c00..."}
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.payloads import PayloadError, parse_advertisement
from adapters.sdk import Adapter, AdapterManifest, Reading
from adapters.sdk.json_payload import instant_field, json_object, text_field
from adapters.wire import EARLIEST_OBSERVATION_MS, MAX_CLOCK_SKEW_S, from_epoch_ms, to_epoch_ms

MANIFEST = AdapterManifest(
    name="ble-footfall",
    device="BLE scanner gateway (iBeacon / Eddystone / any advertiser)",
    kinds=("footfall.count",),
    mode="push",
    owner="valley-twin core team",
    description="advertisements seen by scanners to counts of distinct devices per interval",
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST_SIGHTING = from_epoch_ms(EARLIEST_OBSERVATION_MS)  # what the wire takes
# How far ahead of the gateway's receive time a sighting may be dated: the wire's own bound.
MAX_AHEAD = timedelta(seconds=MAX_CLOCK_SKEW_S)


class BleFootfallAdapter(Adapter):
    """Counts distinct devices per scanner and interval; emits counts when an interval closes."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        scanners = config.get("scanners")
        if not isinstance(scanners, Mapping) or not scanners:
            raise ValueError("config: 'scanners' must map scanner ids to beacon asset codes")
        self.scanners = {str(k): str(v) for k, v in scanners.items()}
        salt = config.get("salt")
        if not isinstance(salt, str) or len(salt) < 16:
            raise ValueError("config: 'salt' must be a secret string of at least 16 characters")
        self._salt = salt.encode()
        interval_s = config.get("interval_s", 900)
        if (
            isinstance(interval_s, bool)
            or not isinstance(interval_s, int)
            or not 60 <= interval_s <= 86_400
        ):
            raise ValueError(
                f"config: 'interval_s' must be a whole number of seconds between 60 and 86400, not {interval_s!r}"
            )
        self.interval = timedelta(seconds=interval_s)
        excluded = config.get("exclude_identifiers", [])
        if isinstance(excluded, str | bytes) or not all(
            isinstance(i, str) and i.strip() for i in excluded
        ):
            raise ValueError(
                "config: 'exclude_identifiers' must be a list of beacon identifiers or addresses"
            )
        # Compared without case: addresses come in either case, beacon ids are lower-case hex.
        self.excluded = {i.strip().lower() for i in excluded}
        # Sightings reach the gateway a little out of order; an interval is counted only
        # once this much time has passed after its end.
        grace_s = config.get("grace_s", 60)
        if isinstance(grace_s, bool) or not isinstance(grace_s, int) or not 0 <= grace_s <= 86_400:
            raise ValueError(
                f"config: 'grace_s' must be a whole number of seconds between 0 and 86400, not {grace_s!r}"
            )
        self.grace = timedelta(seconds=grace_s)
        self._open: dict[tuple[str, datetime], set[bytes]] = {}
        self._counted_until: datetime | None = None
        self._uncounted_from: dict[
            str, datetime
        ] = {}  # per scanner: first interval not yet counted
        self._last_heard: dict[str, datetime] = {}  # per scanner: interval of its latest sighting

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        document = json_object(payload)
        scanner = text_field(document, "scanner")
        assert scanner is not None
        if scanner not in self.scanners:
            raise PayloadError("scanner", scanner, "not a configured scanner")
        seen_at = instant_field(document, "seen_at")
        self._check_plausible(document["seen_at"], seen_at, received_at)
        identifier = self._identifier(document)
        start = self._interval_start(seen_at)
        if self._counted_until is not None and start + self.interval <= self._counted_until:
            raise PayloadError(
                "seen_at", document["seen_at"], "arrived after its interval was counted"
            )
        closed = self.flush(seen_at)
        self._uncounted_from[scanner] = min(start, self._uncounted_from.get(scanner, start))
        self._last_heard[scanner] = max(start, self._last_heard.get(scanner, start))
        if identifier is not None and not self.excluded & {identifier[0].lower(), identifier[1]}:
            self._open.setdefault((scanner, start), set()).add(
                self._pseudonym(identifier[0], start)
            )
        return closed

    def flush(self, now: datetime) -> list[Reading]:
        """Counts of every interval that ended at least the grace period before ``now``.

        An interval in which a scanner saw nobody counts 0, but only once the scanner has been
        heard from after it: a gateway that is down must not report an empty site.
        """
        cutoff = now - self.grace
        if self._counted_until is None or cutoff > self._counted_until:
            self._counted_until = cutoff
        closed = []
        for scanner, start in self._uncounted_from.items():
            while start + self.interval <= cutoff and start <= self._last_heard[scanner]:
                seen = self._open.pop((scanner, start), set())
                closed.append(
                    Reading(
                        device=scanner,
                        asset=self.scanners[scanner],
                        kind="footfall.count",
                        observed_at=start + self.interval,
                        body={"interval_start": to_epoch_ms(start), "count": len(seen)},
                    )
                )
                start += self.interval
            self._uncounted_from[scanner] = start
        return sorted(closed, key=lambda reading: (reading.observed_at, reading.device))

    @staticmethod
    def _check_plausible(shown: object, seen_at: datetime, received_at: datetime) -> None:
        """Refuse a sighting a gateway's clock misdated, before it touches any interval.

        One sighting dated ahead would close every interval up to its date, for every scanner:
        the later, true sightings would then all arrive "after their interval was counted",
        and intervals not yet lived would be counted empty. One dated before 2000 (a clock
        reset to its epoch) would open years of intervals to count.
        """
        if seen_at > received_at + MAX_AHEAD:
            raise PayloadError(
                "seen_at",
                shown,
                f"dated more than {MAX_CLOCK_SKEW_S} s after the gateway received it "
                f"({received_at.isoformat()}): a clock glitch, not counted",
            )
        if seen_at < EARLIEST_SIGHTING:
            raise PayloadError(
                "seen_at", shown, "dated before 2000-01-01: the gateway's clock is not set"
            )

    def _identifier(self, document: dict[str, Any]) -> tuple[str, str] | None:
        """(what is hashed, what an exclusion may name), or None for an anonymous sighting.

        Errors never carry the advertisement or the address: they end up in logs.
        """
        advertisement = document.get("adv")
        if advertisement is not None:
            if not isinstance(advertisement, str):
                raise PayloadError(
                    "adv", type(advertisement).__name__, "must be hexadecimal advertisement data"
                )
            try:
                data = bytes.fromhex(advertisement)
            except ValueError:
                shown = f"{len(advertisement)} characters"
                raise PayloadError("adv", shown, "must be hexadecimal advertisement data") from None
            try:
                frame = parse_advertisement(data)
            except PayloadError as error:
                raise PayloadError(
                    f"adv.{error.field}", f"{len(data)} bytes", error.reason
                ) from None
            if frame is not None and frame.identifier:
                return f"{frame.protocol}:{frame.identifier}", frame.identifier.lower()
        address = document.get("address")
        if address is None and advertisement is not None:
            return None
        if not isinstance(address, str) or not address.strip():
            raise PayloadError("address", type(address).__name__, "must be a non-empty string")
        # The same radio reported by two gateways in different case is one device.
        address = address.strip().lower()
        return address, address

    def _interval_start(self, instant: datetime) -> datetime:
        return EPOCH + ((instant - EPOCH) // self.interval) * self.interval

    def _pseudonym(self, identifier: str, interval_start: datetime) -> bytes:
        # The day's key is derived from the secret salt and the date: yesterday's hashes
        # cannot be linked to today's, and without the salt none can be reversed. The date is
        # the interval's (UTC), so one interval never mixes two keys.
        day_key = hmac.new(
            self._salt, interval_start.date().isoformat().encode(), hashlib.sha256
        ).digest()
        return hmac.new(day_key, identifier.encode(), hashlib.sha256).digest()[:16]
