"""Running an adapter as a service: configuration, input source, transport, outbox, loop.

Configuration (TOML)::

    source = "gw-lorawan-1"               # this adapter instance; its CURVE key's name on ingest
    endpoint = "tcp://127.0.0.1:5555"
    # endpoints = ["tcp://10.0.0.1:5555", "tcp://10.0.0.2:5555"]  # instead: one ingest worker
    #                                      # per shard, shard 0 first (adapters.wire.shard_of)
    client_key = "keys/gw-lorawan-1.key_secret"
    server_key = "keys/ingest.key"         # ingest's public key (or a list: one per endpoint)
    plaintext = false                      # true only for local development, with ingest --plaintext
    outbox = "state/gw-lorawan-1.outbox"   # one running adapter per outbox (a lock beside it)
    rate_per_s = 500
    max_in_flight = 1000                   # sent and unanswered at most, per endpoint…
    windows_in_flight = 4                  # …in this many windows
    stats_every_s = 60                     # the counters in the log this often (0: only at exit)
    unreadable_kept = 1000                 # unreadable payloads kept in the outbox for review…
    unreadable_max_bytes = 8192            # …each cut to this size

    [input]                                # mqtt: a broker; jsonl or lines: a file, a payload a line ("-" = stdin)
    type = "mqtt"
    host = "127.0.0.1"
    port = 1883
    topics = ["application/+/device/+/event/up", "v3/+/devices/+/up"]
    # client_id = "valley-twin-gw-lorawan-1"  # default: valley-twin-SOURCE-<the outbox's own id>

    [adapter]                              # the adapter's own settings
    ...

MQTT deliveries (QoS 1, persistent session) are acknowledged to the broker only once their
readings are in the outbox, so a crash loses nothing that reached the outbox or the broker.
Intervals (the BLE footfall counts) close on the payloads' own times, never on the wall clock,
so a backlog the broker delivers after a restart is counted rather than refused; the sightings
of the interval still open live in memory only (nothing identifying is written to disk), so a
crash loses that one interval's count. The MQTT client id is the source and the outbox's own
id: the same across restarts (the broker keeps the session) and distinct for two instances of
one source (the broker would drop the first when the second connects with the same id); two
instances on one outbox are refused. The counters go to the log every ``stats_every_s`` and on
``SIGUSR1``. Not responsible for decoding.
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from adapters.registry import adapter_named
from adapters.sdk import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_WINDOWS_IN_FLIGHT,
    AdapterRunner,
    Outbox,
)
from adapters.wire import CurveKeyPair, TransportError, ZmqTransport, load_keypair

log = logging.getLogger(__name__)
# At the end of a finite input every interval still open is closed and counted.
_END_OF_INPUT = timedelta(days=3650)
_CHUNK_LINES = 500  # payloads read and queued per durable write
_IDLE_WAIT_S = 0.05


_STATS_EVERY_S = 60.0


@dataclass(frozen=True)
class AdapterService:
    """An adapter instance wired to its outbox and to ingest."""

    runner: AdapterRunner
    input: Mapping[str, Any]
    stats_every_s: float = _STATS_EVERY_S  # 0: the counters are logged only when asked and at exit
    stats_wanted: threading.Event = field(default_factory=threading.Event)  # set: log them now


# A file read line by line, one payload a line: JSON documents ("jsonl") or any text ("lines",
# e.g. a truck's lift log, header line first).
_FILE_INPUTS = ("jsonl", "lines")


def load_config(path: Path) -> dict[str, Any]:
    """Read an adapter configuration file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: {error}") from None


def _required(config: Mapping[str, Any], name: str) -> Any:
    if name not in config:
        raise ValueError(f"config: '{name}' is required")
    return config[name]


def build_service(name: str, config: Mapping[str, Any], base: Path = Path(".")) -> AdapterService:
    """Build the named adapter from its configuration; relative paths are from ``base``.

    Raises :class:`adapters.sdk.OutboxInUseError` when another instance holds the outbox.
    """
    adapter = adapter_named(name)(config.get("adapter", {}))
    source = str(_required(config, "source"))
    endpoints = _endpoints(config)
    client_keys: CurveKeyPair | None = None
    server_keys: list[bytes | None] = [None] * len(endpoints)
    if not config.get("plaintext", False):
        server_key_files = _per_endpoint(config, "server_key", len(endpoints))
        try:
            client_keys = load_keypair(_path(base, _required(config, "client_key")))
            server_keys = [load_keypair(_path(base, key)).public for key in server_key_files]
        except TransportError as error:  # a key file missing or broken is a configuration mistake
            raise ValueError(f"config: {error}") from error
    max_in_flight = _whole_number(config, "max_in_flight", DEFAULT_MAX_IN_FLIGHT)
    windows_in_flight = _whole_number(config, "windows_in_flight", DEFAULT_WINDOWS_IN_FLIGHT)
    stats_every_s = config.get("stats_every_s", _STATS_EVERY_S)
    if isinstance(stats_every_s, bool) or not isinstance(stats_every_s, int | float):
        raise ValueError(
            f"config: 'stats_every_s' must be a number of seconds, not {stats_every_s!r}"
        )
    if not 0 <= stats_every_s <= 86_400:
        raise ValueError(f"config: 'stats_every_s' must be 0 to 86400, not {stats_every_s!r}")
    source_settings = dict(config.get("input", {"type": "jsonl", "path": "-"}))
    if source_settings.get("type") in _FILE_INPUTS and source_settings.get("path", "-") != "-":
        source_settings["path"] = str(_path(base, source_settings["path"]))
    bounds = {
        setting: config[setting]
        for setting in ("unreadable_kept", "unreadable_max_bytes")
        if setting in config
    }
    # The outbox first: a second instance is refused before it connects to anything.
    try:
        outbox = Outbox(outbox_path(config, base), **bounds)
    except ValueError as error:
        raise ValueError(f"config: {error}") from None
    transports: list[ZmqTransport] = []
    try:
        if source_settings.get("type") == "mqtt":
            source_settings["client_id"] = mqtt_client_id(source_settings, source, outbox)
        for endpoint, server_key in zip(endpoints, server_keys, strict=True):
            transports.append(
                ZmqTransport(endpoint, client_keys=client_keys, server_public_key=server_key)
            )
        runner = AdapterRunner(
            adapter,
            transports[0] if len(transports) == 1 else transports,
            outbox,
            source,
            rate_per_s=config.get("rate_per_s"),
            max_in_flight=max_in_flight,
            windows_in_flight=windows_in_flight,
        )
    except BaseException:
        for transport in transports:
            transport.close()
        outbox.close()
        raise
    return AdapterService(runner, source_settings, float(stats_every_s))


def _endpoints(config: Mapping[str, Any]) -> list[str]:
    """Ingest's endpoint, or its workers' in shard order: 'endpoint' or 'endpoints', not both."""
    if "endpoint" in config and "endpoints" in config:
        raise ValueError(
            "config: give 'endpoint' (one ingest) or 'endpoints' (one per shard), not both"
        )
    if "endpoints" not in config:
        return [str(_required(config, "endpoint"))]
    endpoints = config["endpoints"]
    if (
        not isinstance(endpoints, list)
        or not endpoints
        or not all(isinstance(each, str) and each.strip() for each in endpoints)
    ):
        raise ValueError(
            f"config: 'endpoints' must be a non-empty list of endpoints, shard 0 first, "
            f"not {endpoints!r}"
        )
    if len(set(endpoints)) != len(endpoints):
        raise ValueError(f"config: 'endpoints' names one endpoint twice: {endpoints!r}")
    return list(endpoints)


def _per_endpoint(config: Mapping[str, Any], name: str, count: int) -> list[Any]:
    """A setting given once for every endpoint, or as a list with one per endpoint."""
    value = _required(config, name)
    if not isinstance(value, list):
        return [value] * count
    if len(value) != count:
        raise ValueError(
            f"config: '{name}' lists {len(value)} value(s) for {count} endpoint(s): give one, "
            "or one per endpoint in the same order"
        )
    return value


def _whole_number(config: Mapping[str, Any], name: str, default: int) -> int:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"config: '{name}' must be a whole number, 1 or more, not {value!r}")
    return value


def outbox_path(config: Mapping[str, Any], base: Path = Path(".")) -> Path:
    """Where an adapter configuration keeps its outbox (relative paths are from ``base``)."""
    return _path(base, config.get("outbox", f"{_required(config, 'source')}.outbox"))


def _path(base: Path, value: object) -> Path:
    return base / Path(str(value)).expanduser()


class _StatsLog:
    """Logs the runner's counters every so often and when asked, so they are seen while it runs."""

    def __init__(self, service: AdapterService) -> None:
        self._service = service
        self._last = time.monotonic()

    def maybe(self) -> None:
        every = self._service.stats_every_s
        due = every > 0 and time.monotonic() - self._last >= every
        if due or self._service.stats_wanted.is_set():
            self._service.stats_wanted.clear()
            self._last = time.monotonic()
            log_stats(self._service.runner)


def log_stats(runner: AdapterRunner) -> None:
    """One log line with the runner's counters and its outbox's, as JSON."""
    log.info("stats %s: %s", runner.source, json.dumps(runner.report(), sort_keys=True))


def run_service(service: AdapterService, stop: threading.Event, stdin: TextIO = sys.stdin) -> None:
    """Feed the input to the adapter and keep the outbox moving until ``stop`` is set.

    A file is read in chunks, each queued in one durable write, and is a replay: intervals
    close on the payloads' own times and all at the end of the file. A broker is live:
    intervals close on the wall clock.
    """
    kind = service.input.get("type")
    if kind == "mqtt":
        _run_live(service, stop)
    elif kind in _FILE_INPUTS:
        _run_replay(service, stop, stdin)
    else:
        raise ValueError(f"config: input.type must be 'mqtt', 'jsonl' or 'lines', not {kind!r}")


def _run_live(service: AdapterService, stop: threading.Event) -> None:
    runner = service.runner
    lock = threading.Lock()  # paho's thread writes the outbox; this one sends and settles
    client = _mqtt_client(service.input, runner, lock, stop)
    stats = _StatsLog(service)
    try:
        client.connect_async(
            service.input.get("host", "127.0.0.1"), int(service.input.get("port", 1883))
        )
        client.loop_start()
        while not stop.is_set():
            with lock:
                runner.pump()
                stats.maybe()
            stop.wait(_IDLE_WAIT_S)
    finally:
        client.disconnect()
        client.loop_stop()
        _close(runner)


def _run_replay(service: AdapterService, stop: threading.Event, stdin: TextIO) -> None:
    runner = service.runner
    path = service.input.get("path", "-")
    handle = stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    stats = _StatsLog(service)
    try:
        lines = iter(handle)
        reading = True
        while not stop.is_set():
            stats.maybe()
            if reading and runner.has_room():
                chunk = [line for line in itertools.islice(lines, _CHUNK_LINES) if line.strip()]
                if chunk:
                    runner.submit_many(chunk)
                else:
                    reading = False
                    runner.flush(runner.clock() + _END_OF_INPUT)
            window_open = reading and runner.has_room()
            runner.pump(timeout_s=0.0 if window_open else _IDLE_WAIT_S)
            if not reading and runner.outbox.pending() == 0:
                break
    finally:
        if handle is not stdin:
            handle.close()
        _close(runner)


def _close(runner: AdapterRunner) -> None:
    runner.pump(timeout_s=0.2)
    for transport in runner.transports:
        transport.close()
    runner.outbox.close()


def _mqtt_client(
    settings: Mapping[str, Any], runner: AdapterRunner, lock: threading.Lock, stop: threading.Event
) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    # A persistent session and QoS 1: what arrives while the adapter is down waits at the broker.
    # Each delivery is acknowledged by hand, once its readings are in the outbox.
    client_id = mqtt_client_id(settings, runner.source, runner.outbox)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=False,
        manual_ack=True,
    )
    topics = settings.get("topics", ["#"])

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker refused the connection: %s", reason)
            return
        client.subscribe([(topic, 1) for topic in topics])

    def on_subscribe(client: Any, userdata: Any, mid: Any, reasons: Any, properties: Any) -> None:
        refused = [topic for topic, code in zip(topics, reasons, strict=False) if code.is_failure]
        if refused:
            log.error("MQTT broker refused the subscriptions %s", refused)
        else:
            log.info("subscribed to %s", ", ".join(topics))

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        try:
            with lock:
                runner.submit(message.payload)
        except Exception:
            # The outbox cannot take it: stop without acknowledging, so the broker keeps it.
            log.exception(
                "cannot queue an MQTT message; stopping, the broker will deliver it again"
            )
            stop.set()
            return
        client.ack(message.mid, message.qos)

    def on_disconnect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not stop.is_set():
            log.warning(
                "MQTT broker closed the connection (%s); reconnecting. If this repeats, another "
                "client may be using the id %r",
                reason,
                client_id,
            )

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    return client


def mqtt_client_id(settings: Mapping[str, Any], source: str, outbox: Outbox) -> str:
    """The broker's name for this instance: unique per outbox, the same across its restarts."""
    # Two clients with one id push each other off the broker, over and over, silently; the
    # outbox's id tells instances of one source apart and keeps the persistent session.
    configured = settings.get("client_id")
    if configured is not None:
        if not isinstance(configured, str) or not configured.strip():
            raise ValueError(
                f"config: input.client_id must be a non-empty string, not {configured!r}"
            )
        return configured
    return f"valley-twin-{source}-{outbox.instance_id()}"
