"""Two instances of one source on one broker: distinct client ids, both stay connected."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.sdk import OutboxInUseError
from adapters.service import AdapterService, build_service, run_service
from tests.adapters.test_sdk_runner import payload


def mqtt_config(outbox: str, source: str = "gw-1", **input_settings: Any) -> dict[str, Any]:
    return {
        "source": source,
        "plaintext": True,
        "endpoint": "tcp://127.0.0.1:9",  # nobody answers: these tests never reach ingest
        "outbox": outbox,
        "input": {"type": "mqtt", "topics": ["valley-twin-tests/#"], **input_settings},
    }


def client_id(service: AdapterService) -> str:
    service.runner.transport.close()
    service.runner.outbox.close()
    return str(service.input["client_id"])


@pytest.mark.slow
def test_the_client_id_is_the_outbox_s_across_restarts_and_differs_between_outboxes(
    tmp_path: Path,
) -> None:
    first = client_id(build_service("energy-meter", mqtt_config("a.outbox"), tmp_path))
    again = client_id(build_service("energy-meter", mqtt_config("a.outbox"), tmp_path))
    other = client_id(build_service("energy-meter", mqtt_config("b.outbox"), tmp_path))
    assert first == again  # the broker keeps the persistent session across restarts
    assert first != other and first.startswith("valley-twin-gw-1-")
    chosen = mqtt_config("c.outbox", client_id="legacy-id")
    assert client_id(build_service("energy-meter", chosen, tmp_path)) == "legacy-id"


@pytest.mark.slow
def test_a_blank_client_id_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="input.client_id"):
        build_service("energy-meter", mqtt_config("a.outbox", client_id=" "), tmp_path)
    client_id(build_service("energy-meter", mqtt_config("a.outbox"), tmp_path))  # not locked


@pytest.mark.slow
def test_a_second_service_on_one_outbox_is_refused(tmp_path: Path) -> None:
    first = build_service("energy-meter", mqtt_config("a.outbox"), tmp_path)
    try:
        with pytest.raises(OutboxInUseError):
            build_service("energy-meter", mqtt_config("a.outbox", source="gw-2"), tmp_path)
    finally:
        client_id(first)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.mqtt
@pytest.mark.slow
def test_two_instances_of_one_source_both_stay_on_the_broker(
    mqtt_broker: tuple[str, int], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # With one client id for both, the broker dropped the first as the second connected, then
    # the other way round, for ever, and each message reached only the one connected then.
    source = f"gw-{uuid.uuid4().hex[:8]}"
    topic = f"valley-twin-tests/{source}"
    settings = {"host": mqtt_broker[0], "port": mqtt_broker[1], "topics": [topic]}
    services = [
        build_service("energy-meter", mqtt_config(f"{name}.outbox", source, **settings), tmp_path)
        for name in ("first", "second")
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=run_service, args=(s, stop)) for s in services]
    import paho.mqtt.client as mqtt  # loaded here: only the MQTT tests need it

    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{source}")
    try:
        with caplog.at_level("INFO", logger="adapters.service"):
            for thread in threads:
                thread.start()
            wait_for(
                lambda: caplog.text.count(f"subscribed to {topic}") >= 2, 10, "two subscriptions"
            )
            time.sleep(1.5)  # long enough for a kicked-off client to have been kicked off
            publisher.connect(*mqtt_broker)
            publisher.loop_start()
            publisher.publish(topic, payload("s1"), qos=1).wait_for_publish(5)
            wait_for(
                lambda: all(s.runner.stats.payloads == 1 for s in services),
                10,
                "the message at both instances",
            )
        assert "MQTT broker closed the connection" not in caplog.text
        assert caplog.text.count(f"subscribed to {topic}") == 2  # no reconnection
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        stop.set()
        for thread in threads:
            thread.join(10)
