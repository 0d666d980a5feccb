"""Payload → adapter → ZeroMQ (CURVE) → `twin ingest` → store → `twin show`, with real processes.

Also what an engineer relies on when things go wrong: ingest killed in the middle of a stream,
a client with a key ingest does not know, garbage on the socket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tomllib
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import tomli_w

from adapters.fill_level import LorawanUltrasonicAdapter
from adapters.sdk import AdapterRunner, Outbox
from adapters.simulators import em310_udl_frame, lorawan_uplink
from adapters.wire import create_keypair, load_keypair
from domain import Bin, Citizen, Service, Site
from tests.conftest import T0
from tests.end_to_end.harness import (
    DEPTH_MM,
    GIGNAC,
    Ingest,
    bin_code,
    client_transport,
    count_events,
    dev_eui,
    free_endpoint,
    install_bins,
    install_residual_bins,
    replay_feed,
    sensor_config,
    twin_command,
    wait_for,
    write_keys,
)
from twin import open_twin

pytestmark = pytest.mark.live
START = T0 + timedelta(days=30)


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'twin.sqlite'}"


def uplinks(bins: int, per_bin: int) -> list[str]:
    """Interleaved uplinks, time advancing: bin 1..n at t, then at t + 1 h, …"""
    return [
        lorawan_uplink(
            dev_eui(n),
            em310_udl_frame(DEPTH_MM - 10 * step - n, 90),
            START + timedelta(hours=step),
            step + 1,
            "chirpstack" if step % 2 else "ttn",
        )
        for step in range(per_bin)
        for n in range(1, bins + 1)
    ]


@pytest.mark.mqtt
def test_uplinks_from_the_broker_reach_the_twin(
    mqtt_broker: tuple[str, int], store: str, tmp_path: Path
) -> None:
    install_bins(store, 2)
    source = f"gw-lorawan-{uuid.uuid4().hex[:8]}"
    keys = write_keys(tmp_path / "keys", source)
    ingest = Ingest(store, keys, free_endpoint(), tmp_path).start()
    application = f"ccvh-{uuid.uuid4().hex[:8]}"  # topics of this test only
    config = {
        "source": source,
        "endpoint": ingest.endpoint,
        "client_key": f"keys/{source}.key_secret",
        "server_key": "keys/ingest.key",
        "outbox": "state/outbox.sqlite",
        "input": {
            "type": "mqtt",
            "host": mqtt_broker[0],
            "port": mqtt_broker[1],
            "topics": [
                f"application/{application}/device/+/event/up",
                f"v3/{application}@ccvh/devices/+/up",
            ],
        },
        "adapter": sensor_config(2),
    }
    (tmp_path / "adapter.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    adapter_log = tmp_path / "adapter.log"
    with adapter_log.open("w", encoding="utf-8") as log:
        adapter = subprocess.Popen(
            twin_command(
                "adapter", "run", "lorawan-ultrasonic", "--config", str(tmp_path / "adapter.toml")
            ),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        wait_for(
            lambda: "subscribed" in adapter_log.read_text(encoding="utf-8"),
            20,
            "the adapter to subscribe",
            adapter_log.read_text,
        )
        import paho.mqtt.client as mqtt  # loaded here: only the MQTT test needs it

        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{application}")
        publisher.connect(*mqtt_broker)
        publisher.loop_start()
        eui = dev_eui(1)
        chirpstack_topic = f"application/{application}/device/{eui.lower()}/event/up"
        tts_topic = f"v3/{application}@ccvh/devices/em310-{eui.lower()}/up"
        messages = [
            (
                chirpstack_topic,
                lorawan_uplink(eui, em310_udl_frame(1_350, 97), START, 1, "chirpstack"),
            ),  # 25 %
            (
                tts_topic,
                lorawan_uplink(eui, em310_udl_frame(900, 96), START + timedelta(hours=6), 2, "ttn"),
            ),  # 50 %
            (
                tts_topic,
                lorawan_uplink(
                    eui, em310_udl_frame(900, 96, tilted=True), START + timedelta(hours=7), 3, "ttn"
                ),
            ),
            (chirpstack_topic, "{not json"),
        ]
        for topic, payload in messages:
            publisher.publish(topic, payload, qos=1).wait_for_publish(5)
        publisher.loop_stop()
        publisher.disconnect()

        def shown() -> dict:
            result = subprocess.run(
                twin_command("--store", store, "show", bin_code(1), "--json"),
                capture_output=True,
                text=True,
                check=True,
            )
            return json.loads(result.stdout)

        wait_for(
            lambda: len(shown()["history"]) >= 7,
            30,
            "the events in the store",
            lambda: ingest.log(),
        )
        view = shown()
        assert [e["event"] for e in view["history"]] == [
            "Bin.Installed",
            "Bin.SensorAttached",
            "Bin.SensorBatteryReported",
            "Bin.FillLevelMeasured",
            "Bin.SensorBatteryReported",
            "Bin.FillLevelMeasured",
            "Bin.SensorBatteryReported",
            "Bin.SensorFaultReported",
        ][: len(view["history"])]
        wait_for(
            lambda: len(shown()["history"]) == 8, 10, "the fault", lambda: str(shown()["history"])
        )
        state = shown()["state"]
        assert state["fill_percent"] == 50.0 and state["sensor_device_id"] == eui
        assert state["sensor_battery_percent"] == 96.0 and "tilt" in state["last_sensor_fault"]
        # Six messages (three batteries, two fills, a fault); the status file is rewritten every second.
        wait_for(
            lambda: ingest.stats()["committed"] == 6,
            10,
            "ingest's counters",
            lambda: str(ingest.stats()),
        )
    finally:
        adapter.send_signal(signal.SIGTERM)
        out, _ = adapter.communicate(timeout=20)
        assert ingest.stop() == 0
    assert adapter.returncode == 0, adapter_log.read_text(encoding="utf-8")
    stats = json.loads(out)
    assert stats["acknowledged"] == 6 and stats["unreadable"] == {"document": 1}


def test_ingest_killed_mid_stream_keeps_every_acknowledged_message_once(
    store: str, tmp_path: Path
) -> None:
    bins, per_bin = 40, 60
    install_bins(store, bins)
    keys = write_keys(tmp_path / "keys", "gw-1")
    ingest = Ingest(store, keys, free_endpoint(), tmp_path).start()
    transport = client_transport(keys, "gw-1", ingest.endpoint)
    runner = AdapterRunner(
        LorawanUltrasonicAdapter(sensor_config(bins)),
        transport,
        Outbox(tmp_path / "outbox"),
        "gw-1",
        resend_after_s=1.0,
        max_in_flight=200,
    )
    queued = runner.submit_many(uplinks(bins, per_bin), received_at=START)
    assert queued == 2 * bins * per_bin  # a battery and a fill reading per uplink
    try:
        while len(transport.acknowledged) < queued // 3:
            runner.pump(timeout_s=0.01)
        runner.pump()  # a new window goes out…
        assert runner.in_flight > 0
        ingest.kill()  # …and ingest dies with it unanswered
        acknowledged_before_kill = set(transport.acknowledged)
        for _ in range(20):  # the adapter goes on while ingest is down
            runner.pump(timeout_s=0.02)
        ingest.start()
        assert runner.drain(timeout_s=120), f"{runner.outbox.pending()} messages never answered"
        assert ingest.stop(signal.SIGTERM) == 0
    finally:
        runner.transport.close()
        runner.outbox.close()
    assert acknowledged_before_kill < transport.acknowledged
    assert set(transport.statuses.values()) <= {"ack", "duplicate"}
    codes = [bin_code(n) for n in range(1, bins + 1)]
    assert count_events(store, codes, "Bin.FillLevelMeasured") == dict.fromkeys(codes, per_bin)
    assert count_events(store, codes, "Bin.SensorBatteryReported") == dict.fromkeys(codes, per_bin)
    assert runner.stats.resent > 0  # what ingest lost when killed came again


@pytest.mark.parametrize("reload_by", ["file change", "SIGHUP"])
def test_an_unknown_key_gets_nothing_in_until_it_is_allowed(
    store: str, tmp_path: Path, reload_by: str
) -> None:
    install_bins(store, 1)
    keys = write_keys(tmp_path / "keys", "gw-known")
    create_keypair(keys, "gw-stranger")
    ingest = Ingest(store, keys, free_endpoint(), tmp_path).start()
    transport = client_transport(keys, "gw-stranger", ingest.endpoint)
    runner = AdapterRunner(
        LorawanUltrasonicAdapter(sensor_config(1)),
        transport,
        Outbox(),
        "gw-stranger",
        resend_after_s=0.5,
    )
    try:
        runner.submit_many(uplinks(1, 3), received_at=START)
        assert not runner.drain(timeout_s=3)
        assert transport.statuses == {} and runner.outbox.pending() == 6
        assert count_events(store, [bin_code(1)], "Bin.FillLevelMeasured") == {bin_code(1): 0}
        assert "refused CURVE key" in ingest.log()

        # Ingest reloads its allow-list when the file changes or on SIGHUP: the client is let in.
        stranger = load_keypair(keys / "gw-stranger.key").public.decode()
        allowed = keys / "allowed"
        unchanged = allowed.stat().st_mtime_ns
        with allowed.open("a", encoding="utf-8") as lines:
            lines.write(f"# added by the operator\n{stranger} gw-stranger\n")
        if reload_by == "SIGHUP":
            os.utime(allowed, ns=(unchanged, unchanged))  # so only the signal can tell ingest
            assert (
                not runner.drain(timeout_s=2) and runner.outbox.pending() == 6
            )  # resent, still refused
            assert ingest.process is not None
            ingest.process.send_signal(signal.SIGHUP)
        assert runner.drain(timeout_s=30)
        assert count_events(store, [bin_code(1)], "Bin.FillLevelMeasured") == {bin_code(1): 3}
    finally:
        runner.transport.close()
        runner.outbox.close()
        ingest.stop()


def test_garbage_on_the_socket_is_dead_lettered_and_ingest_carries_on(
    store: str, tmp_path: Path
) -> None:
    install_bins(store, 1)
    keys = write_keys(tmp_path / "keys", "gw-1")
    ingest = Ingest(store, keys, free_endpoint(), tmp_path).start()
    transport = client_transport(keys, "gw-1", ingest.endpoint)
    try:
        for frame in (b"\xc1", b"\x92\x01", b"\x81\xa7version\x07", b"\xdf\xff\xff\xff\xff"):
            transport.send(frame)
        replies = [transport.receive(5.0) for _ in range(4)]
        assert all(reply is not None for reply in replies)
        runner = AdapterRunner(
            LorawanUltrasonicAdapter(sensor_config(1)), transport, Outbox(), "gw-1"
        )
        runner.submit_many(uplinks(1, 2), received_at=START)
        assert runner.drain(timeout_s=20)
        runner.outbox.close()
    finally:
        transport.close()
        assert ingest.stop() == 0
    letters = subprocess.run(
        twin_command("--store", store, "deadletters", "--json"),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(letters.stdout)
    assert len(rows) == 4 and all(row["reason"] and row["source"] == "gw-1" for row in rows)
    # None of these could be proven not to be a citizen's message (no readable kind): their
    # reasons are kept, their bytes are not (docs/privacy.md, "Refused messages").
    assert {row["raw_hex"] for row in rows} == {""}
    assert all("not kept" in row["reason"] for row in rows)
    assert count_events(store, [bin_code(1)], "Bin.FillLevelMeasured") == {bin_code(1): 2}


def test_a_key_struck_off_the_list_gets_nothing_more_in(store: str, tmp_path: Path) -> None:
    install_bins(store, 1)
    keys = write_keys(tmp_path / "keys", "gw-1", "gw-2")
    ingest = Ingest(store, keys, free_endpoint(), tmp_path).start()
    transport = client_transport(keys, "gw-1", ingest.endpoint)
    runner = AdapterRunner(
        LorawanUltrasonicAdapter(sensor_config(1)), transport, Outbox(), "gw-1", resend_after_s=0.5
    )
    try:
        runner.submit_many(uplinks(1, 1), received_at=START)
        assert runner.drain(timeout_s=20)  # let in while on the list
        # The operator strikes gw-1 off, replacing the file at once (as an atomic rename does).
        allowed = keys / "allowed"
        kept = [
            line
            for line in allowed.read_text(encoding="utf-8").splitlines()
            if line.endswith(" gw-2")
        ]
        (keys / "allowed.new").write_text("\n".join(kept) + "\n", encoding="utf-8")
        (keys / "allowed.new").replace(allowed)
        wait_for(
            lambda: "allow-list" in ingest.log() and ": 1 keys" in ingest.log(),
            10,
            "the reload",
            ingest.log,
        )
        runner.submit_many(uplinks(1, 3)[1:], received_at=START)  # on the connection still open
        assert not runner.drain(timeout_s=3)
        wait_for(
            lambda: ingest.stats()["rejected_by_reason"].get("auth:key-not-allowed", 0) > 0,
            10,
            "the refusal to be counted",
            lambda: str(ingest.stats()),
        )
    finally:
        runner.transport.close()
        runner.outbox.close()
        assert ingest.stop() == 0
    assert count_events(store, [bin_code(1)], "Bin.FillLevelMeasured") == {bin_code(1): 1}
    letters = subprocess.run(
        twin_command("--store", store, "deadletters", "--json"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(letters.stdout) == []


def test_a_trucks_lift_log_reaches_the_twin_as_bins_emptied(store: str, tmp_path: Path) -> None:
    # The documented example export, replayed by the truck adapter in its own process.
    example = Path(__file__).resolve().parents[2] / "docs" / "examples"
    install_residual_bins(store, (f"B-34114-OMR-000{n}" for n in (1, 2, 3)))
    keys = write_keys(tmp_path / "keys", "truck-1")
    ingest = Ingest(store, keys, free_endpoint(), tmp_path).start()
    config = tomllib.loads((example / "truck-lifts.toml").read_text(encoding="utf-8"))
    config.update(
        source="truck-1",
        endpoint=ingest.endpoint,
        client_key=str(keys / "truck-1.key_secret"),
        server_key=str(keys / "ingest.key"),
        outbox=str(tmp_path / "truck.outbox"),
        input={"type": "lines", "path": str(example / "truck-lifts.csv")},
    )
    config_path = tmp_path / "truck.toml"
    config_path.write_text(tomli_w.dumps(config), encoding="utf-8")
    try:
        adapter = subprocess.run(
            twin_command("adapter", "run", "truck-lifts", "--config", str(config_path)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert adapter.returncode == 0, adapter.stderr
    finally:
        assert ingest.stop() == 0
    twin = open_twin(store)
    try:
        emptied = {n: twin.get(Bin, f"B-34114-OMR-000{n}") for n in (1, 2, 3)}
        assert {n: b.emptied_mass_kg for n, b in emptied.items()} == {1: 150.4, 2: 126.4, 3: 110.0}
        assert all(b.emptied_count == 1 and b.fill_percent == 0.0 for b in emptied.values())
    finally:
        twin.close()


def test_the_desk_the_door_counter_and_the_apps_votes_reach_the_twin(
    store: str, tmp_path: Path
) -> None:
    twin = open_twin(store)
    try:
        twin.add(
            Service.open(
                code="CRECHE-1",
                name="Crèche",
                service_kind="childcare",
                capacity=2,
                position=GIGNAC,
                commune_insee="34114",
                at=T0,
            ),
            Site.register(
                code="TL-1",
                name="Tiers-lieu",
                site_kind="public_building",
                geometry_wkt="POINT (752000 6283000)",
                commune_insee="34114",
                at=T0,
            ),
        )
    finally:
        twin.close()
    at = (START + timedelta(hours=9)).isoformat()
    later = (START + timedelta(hours=10)).isoformat()
    feeds = {
        "citizen-app": [
            {"type": "register", "citizen": "c-1", "sent_at": at, "commune_insee": "34114"},
            {"type": "register", "citizen": "c-2", "sent_at": at, "commune_insee": "34114"},
            {
                "type": "idea",
                "citizen": "c-1",
                "sent_at": at,
                "idea_ref": "i-1",
                "title": "Bancs",
                "text": "Place",
            },
            {
                "type": "vote",
                "citizen": "c-2",
                "sent_at": later,
                "author": "c-1",
                "idea_ref": "i-1",
            },
        ],
        "service-desk": [
            {
                "type": "place",
                "service": "CRECHE-1",
                "request_ref": "F-1",
                "action": "requested",
                "at": at,
            },
            {
                "type": "place",
                "service": "CRECHE-1",
                "request_ref": "F-1",
                "action": "granted",
                "at": later,
            },
        ],
        "door-counter": [
            {"counter": "DC-1", "site": "TL-1", "at": at, "entries": 30, "exits": 12},
        ],
    }
    keys = write_keys(tmp_path / "keys", *feeds)
    ingest = Ingest(store, keys, free_endpoint(), tmp_path).start()
    try:
        for name, documents in feeds.items():
            replay_feed(name, name, documents, ingest, keys, tmp_path)
    finally:
        assert ingest.stop() == 0
    twin = open_twin(store)
    try:
        assert len(twin.get(Citizen, "c-2").votes) == 1
        assert twin.get(Service, "CRECHE-1").granted == ["F-1"]
        assert twin.get(Site, "TL-1").occupancy == 18
    finally:
        twin.close()
