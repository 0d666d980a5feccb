"""Running an adapter as a service: configuration, input source, transport, outbox, loop.

Configuration (TOML)::

    source = "gw-lorawan-1"               # this adapter instance; its CURVE key's name on ingest
    endpoint = "tcp://127.0.0.1:5555"
    client_key = "keys/gw-lorawan-1.key_secret"
    server_key = "keys/ingest.key"         # ingest's public key
    plaintext = false                      # true only for local development, with ingest --plaintext
    outbox = "state/gw-lorawan-1.outbox"
    rate_per_s = 500

    [input]                                # mqtt: a broker; jsonl or lines: a file, a payload a line ("-" = stdin)
    type = "mqtt"
    host = "127.0.0.1"
    port = 1883
    topics = ["application/+/device/+/event/up", "v3/+/devices/+/up"]

    [adapter]                              # the adapter's own settings
    ...

MQTT deliveries (QoS 1, persistent session) are acknowledged to the broker only once their
readings are in the outbox, so a crash loses nothing that reached the outbox or the broker.
Intervals (the BLE footfall counts) close on the payloads' own times, never on the wall clock,
so a backlog the broker delivers after a restart is counted rather than refused; the sightings
of the interval still open live in memory only (nothing identifying is written to disk), so a
crash loses that one interval's count. Not responsible for decoding.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from adapters.registry import adapter_named
from adapters.sdk import AdapterRunner, Outbox
from adapters.wire import TransportError, ZmqTransport, load_keypair

log = logging.getLogger(__name__)
# At the end of a finite input every interval still open is closed and counted.
_END_OF_INPUT = timedelta(days=3650)
_CHUNK_LINES = 500  # payloads read and queued per durable write
_IDLE_WAIT_S = 0.05


@dataclass(frozen=True)
class AdapterService:
    """An adapter instance wired to its outbox and to ingest."""

    runner: AdapterRunner
    input: Mapping[str, Any]


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
    """Build the named adapter from its configuration; relative paths are from ``base``."""
    adapter = adapter_named(name)(config.get("adapter", {}))
    source = str(_required(config, "source"))
    if config.get("plaintext", False):
        client_keys = server_key = None
    else:
        try:
            client_keys = load_keypair(_path(base, _required(config, "client_key")))
            server_key = load_keypair(_path(base, _required(config, "server_key"))).public
        except TransportError as error:  # a key file missing or broken is a configuration mistake
            raise ValueError(f"config: {error}") from error
    transport = ZmqTransport(
        str(_required(config, "endpoint")), client_keys=client_keys, server_public_key=server_key
    )
    outbox = Outbox(_path(base, config.get("outbox", f"{source}.outbox")))
    runner = AdapterRunner(adapter, transport, outbox, source, rate_per_s=config.get("rate_per_s"))
    source_settings = dict(config.get("input", {"type": "jsonl", "path": "-"}))
    if source_settings.get("type") in _FILE_INPUTS and source_settings.get("path", "-") != "-":
        source_settings["path"] = str(_path(base, source_settings["path"]))
    return AdapterService(runner, source_settings)


def _path(base: Path, value: object) -> Path:
    return base / Path(str(value)).expanduser()


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
    try:
        client.connect_async(
            service.input.get("host", "127.0.0.1"), int(service.input.get("port", 1883))
        )
        client.loop_start()
        while not stop.is_set():
            with lock:
                runner.pump()
            stop.wait(_IDLE_WAIT_S)
    finally:
        client.disconnect()
        client.loop_stop()
        _close(runner)


def _run_replay(service: AdapterService, stop: threading.Event, stdin: TextIO) -> None:
    runner = service.runner
    path = service.input.get("path", "-")
    handle = stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        lines = iter(handle)
        reading = True
        while not stop.is_set():
            if reading and runner.in_flight < runner.max_in_flight:
                chunk = [line for line in itertools.islice(lines, _CHUNK_LINES) if line.strip()]
                if chunk:
                    runner.submit_many(chunk)
                else:
                    reading = False
                    runner.flush(runner.clock() + _END_OF_INPUT)
            window_open = reading and runner.in_flight < runner.max_in_flight
            runner.pump(timeout_s=0.0 if window_open else _IDLE_WAIT_S)
            if not reading and runner.outbox.pending() == 0:
                break
    finally:
        if handle is not stdin:
            handle.close()
        _close(runner)


def _close(runner: AdapterRunner) -> None:
    runner.pump(timeout_s=0.2)
    runner.transport.close()
    runner.outbox.close()


def _mqtt_client(
    settings: Mapping[str, Any], runner: AdapterRunner, lock: threading.Lock, stop: threading.Event
) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    # A persistent session and QoS 1: what arrives while the adapter is down waits at the broker.
    # Each delivery is acknowledged by hand, once its readings are in the outbox.
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"valley-twin-{runner.source}",
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

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    return client
