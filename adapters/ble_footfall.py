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

MANIFEST = AdapterManifest(
    name="ble-footfall",
    device="BLE scanner gateway (iBeacon / Eddystone / any advertiser)",
    kinds=("footfall.count",),
    mode="push",
    owner="valley-twin core team",
    description="advertisements seen by scanners to counts of distinct devices per interval",
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        self.interval = timedelta(seconds=int(config.get("interval_s", 900)))
        if not timedelta(minutes=1) <= self.interval <= timedelta(days=1):
            raise ValueError("config: 'interval_s' must be between 60 and 86400")
        self.excluded = {str(i) for i in config.get("exclude_identifiers", [])}
        # Sightings reach the gateway a little out of order; an interval is counted only
        # once this much time has passed after its end.
        self.grace = timedelta(seconds=int(config.get("grace_s", 60)))
        self._open: dict[tuple[str, datetime], set[bytes]] = {}
        self._counted_until: datetime | None = None

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        document = json_object(payload)
        scanner = text_field(document, "scanner")
        assert scanner is not None
        if scanner not in self.scanners:
            raise PayloadError("scanner", scanner, "not a configured scanner")
        seen_at = instant_field(document, "seen_at")
        identifier = self._identifier(document)
        start = self._interval_start(seen_at)
        if self._counted_until is not None and start + self.interval <= self._counted_until:
            raise PayloadError("seen_at", document["seen_at"], "arrived after its interval was counted")
        closed = self.flush(seen_at)
        if identifier is not None and identifier not in self.excluded:
            self._open.setdefault((scanner, start), set()).add(self._pseudonym(identifier, seen_at))
        return closed

    def flush(self, now: datetime) -> list[Reading]:
        """Counts of every interval that ended at least the grace period before ``now``."""
        cutoff = now - self.grace
        if self._counted_until is None or cutoff > self._counted_until:
            self._counted_until = cutoff
        closed = []
        for (scanner, start), seen in sorted(self._open.items(), key=lambda item: item[0][1]):
            end = start + self.interval
            if end <= cutoff:
                closed.append(
                    Reading(
                        device=scanner,
                        asset=self.scanners[scanner],
                        kind="footfall.count",
                        observed_at=end,
                        body={"interval_start": int((start - EPOCH) / timedelta(milliseconds=1)), "count": len(seen)},
                    )
                )
                del self._open[(scanner, start)]
        return closed

    def _identifier(self, document: dict[str, Any]) -> str | None:
        advertisement = document.get("adv")
        if advertisement is not None:
            if not isinstance(advertisement, str):
                raise PayloadError("adv", advertisement, "must be hexadecimal advertisement data")
            try:
                data = bytes.fromhex(advertisement)
            except ValueError:
                raise PayloadError("adv", advertisement, "must be hexadecimal advertisement data") from None
            frame = parse_advertisement(data)
            if frame is not None and frame.identifier:
                return f"{frame.protocol}:{frame.identifier}"
        return text_field(document, "address", required=advertisement is None)

    def _interval_start(self, instant: datetime) -> datetime:
        return EPOCH + ((instant - EPOCH) // self.interval) * self.interval

    def _pseudonym(self, identifier: str, seen_at: datetime) -> bytes:
        # The day's key is derived from the secret salt and the date: yesterday's hashes
        # cannot be linked to today's, and without the salt none can be reversed.
        day_key = hmac.new(self._salt, seen_at.date().isoformat().encode(), hashlib.sha256).digest()
        return hmac.new(day_key, identifier.encode(), hashlib.sha256).digest()[:16]
