"""ChirpStack v4 and The Things Stack v3 uplink envelopes, from the servers' documented examples."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.payloads import PayloadError, Uplink, parse_uplink, topic_dev_eui

# chirpstack/chirpstack-docs, src/chirpstack/integrations/events.md, "`up` - Uplink event",
# JSON example, verbatim. Note it has no fCnt: zero-valued fields are left out.
CHIRPSTACK_UP = """
{
	"deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
	"time": "2022-07-18T09:34:15.775023242+00:00",
	"deviceInfo": {
		"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
		"tenantName": "ChirpStack",
		"applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
		"applicationName": "Test application",
		"deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
		"deviceProfileName": "Test device-profile",
		"deviceName": "Test device",
		"devEui": "0101010101010101",
		"tags": {
			"key": "value"
		}
	},
	"devAddr": "00189440",
	"dr": 1,
	"fPort": 1,
	"data": "qg==",
	"rxInfo": [{
		"gatewayId": "0016c001f153a14c",
		"uplinkId": 4217106255,
		"rssi": -36,
		"snr": 10.5,
		"context": "E3OWOQ==",
		"metadata": {
			"region_name": "eu868",
			"region_common_name": "EU868"
		}
	}],
	"txInfo": {
		"frequency": 867100000,
		"modulation": {
			"lora": {
				"bandwidth": 125000,
				"spreadingFactor": 11,
				"codeRate": "CR_4_5"
			}
		}
	}
}
"""

# TheThingsIndustries/lorawan-stack-docs, doc/content/integrations/data-formats/_index.md,
# "Uplink message example", verbatim. The example leaves out uplink_message.f_port (the format
# description just above it shows "f_port": 1).
TTS_UPLINK = """
{
  "end_device_ids" : {
    "device_id" : "dev1",
    "application_ids" : {
      "application_id" : "app1"
    },
    "dev_eui" : "0004A30B001C0530",
    "join_eui" : "800000000000000C",
    "dev_addr" : "00BCB929"
  },
  "correlation_ids" : [
    "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ",
    "gs:conn:01E0WDEC6T5T4XXBAX7S1VMFKE",
    "gs:uplink:01E0WZGSZWT07NE5TS2APTV1Z9",
    "ns:uplink:01E0WZGSZXZXZS8RFAWZX0F2FY",
    "rpc:/ttn.lorawan.v3.GsNs/HandleUplink:01E0WZGSZXGE1KS577PFBWRJEE"
  ],
  "received_at" : "2020-02-12T15:15:46.014773143Z",
  "uplink_message" : {
    "session_key_id" : "AXA50tHUGUucuzS/bCGMNw==",
    "f_cnt" : 1,
    "frm_payload" : "gkHe",
    "decoded_payload" : {
      "temperature": 1.0,
      "luminosity": 0.64
    },
    "rx_metadata" : [ {
      "gateway_ids" : {
        "gateway_id" : "gtw1",
        "eui" : "9C5C8E00001A05C4"
      },
      "time" : "2020-02-12T15:15:45.787Z",
      "timestamp" : 2463457000,
      "rssi" : -35,
      "channel_rssi" : -35,
      "snr" : 5,
      "uplink_token" : "ChIKEAoEZ3R3MRIInFyOAAAaBcQQ6L3Vlgk=",
      "channel_index" : 2
    } ],
    "settings" : {
      "data_rate" : {
        "lora" : {
          "bandwidth" : 125000,
          "spreading_factor" : 7
        }
      },
      "data_rate_index" : 5,
      "coding_rate" : "4/6",
      "frequency" : "868300000",
      "timestamp" : 2463457000,
      "time" : "2020-02-12T15:15:45.787Z"
    },
    "consumed_airtime": "0.056576s",
    "locations": {
      "user": {
        "latitude": 37.97155556731436,
        "longitude": 23.72678801175413,
        "altitude": 10,
        "source": "SOURCE_REGISTRY"
      }
    },
    "received_at" : "2020-02-12T15:15:45.789585559Z"
  }
}
"""


def chirpstack(**changes: Any) -> dict[str, Any]:
    document = json.loads(CHIRPSTACK_UP)
    document.update(changes)
    return document


def tts() -> dict[str, Any]:
    document = json.loads(TTS_UPLINK)
    document["uplink_message"]["f_port"] = 1
    return document


# -- documented examples -----------------------------------------------------------------------


def test_chirpstack_documented_up_event() -> None:
    expected = Uplink(
        dev_eui="0101010101010101",
        f_port=1,
        f_cnt=None,
        payload=b"\xaa",
        received_at=datetime(2022, 7, 18, 9, 34, 15, 775023, tzinfo=UTC),
        network="chirpstack",
    )
    assert parse_uplink(CHIRPSTACK_UP) == expected
    assert parse_uplink(CHIRPSTACK_UP.encode()) == expected
    assert parse_uplink(json.loads(CHIRPSTACK_UP)) == expected


def test_chirpstack_frame_counter_when_present() -> None:
    assert parse_uplink(chirpstack(fCnt=10)).f_cnt == 10


def test_tts_documented_uplink_message_needs_its_port() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_uplink(TTS_UPLINK)
    assert caught.value.field == "uplink_message.f_port"


def test_tts_documented_uplink_message_with_port() -> None:
    uplink = parse_uplink(tts())
    assert uplink == Uplink(
        dev_eui="0004A30B001C0530",
        f_port=1,
        f_cnt=1,
        payload=bytes.fromhex("8241de"),
        received_at=datetime(2020, 2, 12, 15, 15, 46, 14773, tzinfo=UTC),
        network="ttn",
    )
    assert uplink.received_at.utcoffset() is not None


def test_dev_eui_is_upper_cased() -> None:
    document = chirpstack()
    document["deviceInfo"]["devEui"] = "a84041000181c061"
    assert parse_uplink(document).dev_eui == "A84041000181C061"


# -- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # nanoseconds are truncated, never rounded up into the next second
        ("2024-05-01T23:59:59.999999999Z", datetime(2024, 5, 1, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T10:00:00.5z", datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01t12:30:00.123456789+02:30", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-01T00:30:00-01:00", datetime(2024, 1, 1, 1, 30, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps(text: str, expected: datetime) -> None:
    received = parse_uplink(chirpstack(time=text)).received_at
    assert received == expected and received.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2022-07-18T09:34:15.775023242",  # no offset
        "2022-07-18 09:34:15Z",  # space instead of T
        "2022-07-18",
        "2022-02-30T00:00:00Z",  # no such day
        "2022-07-18T24:00:00Z",
        "2022-07-18T09:34:60Z",  # leap second: datetime cannot hold it
        "2022-07-18T09:34:15+24:00",
        "2022-07-18T09:34:15.Z",
        "0000-01-01T00:00:00Z",
        "\u0662\u0660\u0662\u0662-07-18T09:34:15Z",  # non-ASCII digits
    ],
)
def test_bad_timestamps(text: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_uplink(chirpstack(time=text))
    assert caught.value.field == "time"


# -- missing and ill-typed fields ----------------------------------------------------------------


def _drop(document: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    for key in parents:
        document = document[key]
    del document[last]


def _set(document: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split(".")
    for key in parents:
        document = document[key]
    document[last] = value


@pytest.mark.parametrize("path", ["deviceInfo.devEui", "fPort", "data", "time"])
def test_chirpstack_missing_fields(path: str) -> None:
    document = chirpstack()
    _drop(document, path)
    with pytest.raises(PayloadError) as caught:
        parse_uplink(document)
    assert caught.value.field == path


@pytest.mark.parametrize(
    "path",
    ["end_device_ids.dev_eui", "uplink_message.frm_payload", "received_at", "uplink_message"],
)
def test_tts_missing_fields(path: str) -> None:
    document = tts()
    _drop(document, path)
    with pytest.raises(PayloadError) as caught:
        parse_uplink(document)
    assert caught.value.field == path


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("deviceInfo", "0101010101010101"),
        ("deviceInfo.devEui", "01010101"),
        ("deviceInfo.devEui", "01-01-01-01-01-01-01-01"),
        ("deviceInfo.devEui", "AQEBAQEBAQE="),  # ChirpStack v3 style base64
        ("deviceInfo.devEui", 72340172838076673),
        ("fPort", "1"),
        ("fPort", 1.0),
        ("fPort", True),
        ("fPort", 0),
        ("fPort", 256),
        ("fCnt", -1),
        ("fCnt", 2**32),
        ("fCnt", "10"),
        ("data", "qg"),  # missing padding
        ("data", "q g=="),
        ("data", "not base64!"),
        ("data", ["qg=="]),
        ("time", 1658136855),
        ("time", None),
    ],
)
def test_chirpstack_ill_typed_fields(path: str, value: object) -> None:
    document = chirpstack()
    _set(document, path, value)
    with pytest.raises(PayloadError) as caught:
        parse_uplink(document)
    assert caught.value.field == path


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("end_device_ids", []),
        ("end_device_ids.dev_eui", "0004A30B001C053"),
        ("uplink_message", "gkHe"),
        ("uplink_message.f_port", "1"),
        ("uplink_message.f_cnt", 1.5),
        ("uplink_message.frm_payload", "gkH*"),
        ("received_at", "2020-02-12"),
    ],
)
def test_tts_ill_typed_fields(path: str, value: object) -> None:
    document = tts()
    _set(document, path, value)
    with pytest.raises(PayloadError) as caught:
        parse_uplink(document)
    assert caught.value.field == path


@pytest.mark.parametrize(
    "document",
    [
        b"\xff\xfe not utf-8",
        "{not json",
        "[1, 2, 3]",
        "null",
        "{}",
        '{"devEUI": "0101010101010101", "fPort": 1}',  # ChirpStack v3 shape
        "[" * 100_000 + "]" * 100_000,
        '{"fCnt": ' + "9" * 5000 + "}",
        42,
    ],
)
def test_documents_that_are_not_uplinks(document: object) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_uplink(document)  # type: ignore[arg-type]
    assert caught.value.field == "document"


def test_parsing_does_not_modify_a_dict_argument() -> None:
    document = chirpstack()
    before = copy.deepcopy(document)
    parse_uplink(document)
    assert document == before


# -- topics --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        # chirpstack-docs src/chirpstack/integrations/mqtt.md:
        # application/APPLICATION_ID/device/DEV_EUI/event/EVENT
        (
            "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up",
            "0101010101010101",
        ),
        ("application/1/device/a84041000181c061/event/up", "A84041000181C061"),
        # The Things Stack "MQTT Server": v3/{application id}@{tenant id}/devices/{device id}/up
        ("v3/app1@ttn/devices/dev1/up", None),
        ("v3/app1/devices/dev1/up", None),  # open-source deployment, no tenant
    ],
)
def test_topic_dev_eui(topic: str, expected: str | None) -> None:
    assert topic_dev_eui(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        "application/1/device/0101010101010101/event/join",
        "application/1/device/0101/event/up",
        "application/1/device/0101010101010101/command/down",
        "v3/app1@ttn/devices/dev1/join",
        "v3/app1@ttn/devices/dev1/up/extra",
        "",
    ],
)
def test_topics_that_are_not_uplinks(topic: str) -> None:
    with pytest.raises(PayloadError) as caught:
        topic_dev_eui(topic)
    assert caught.value.field == "topic"


# -- properties ----------------------------------------------------------------------------------


def _check(document: object) -> None:
    try:
        uplink = parse_uplink(document)  # type: ignore[arg-type]
    except PayloadError:
        return
    assert len(uplink.dev_eui) == 16 and uplink.dev_eui == uplink.dev_eui.upper()
    assert 1 <= uplink.f_port <= 255
    assert uplink.received_at.tzinfo is UTC
    assert uplink.network in ("chirpstack", "ttn")


@pytest.mark.slow
@given(st.binary(max_size=256))
def test_arbitrary_bytes_only_ever_raise_payload_error(document: bytes) -> None:
    _check(document)


@pytest.mark.slow
@given(st.text(max_size=256))
def test_arbitrary_text_only_ever_raise_payload_error(document: str) -> None:
    _check(document)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=24),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_TOP_KEYS = ["deviceInfo", "end_device_ids", "uplink_message", "fPort"]
_CHIRPSTACK_PATHS = ["deviceInfo", "deviceInfo.devEui", "fPort", "fCnt", "data", "time"]
_TTS_PATHS = [
    "end_device_ids", "end_device_ids.dev_eui", "uplink_message", "uplink_message.f_port",
    "uplink_message.f_cnt", "uplink_message.frm_payload", "received_at",
]  # fmt: skip


@pytest.mark.slow
@given(st.sampled_from(_CHIRPSTACK_PATHS), JSON)
def test_chirpstack_with_any_value_in_a_used_field(path: str, value: object) -> None:
    document = chirpstack()
    _set(document, path, value)
    _check(document)
    _check(json.dumps(document))


@pytest.mark.slow
@given(st.sampled_from(_TTS_PATHS), JSON)
def test_tts_with_any_value_in_a_used_field(path: str, value: object) -> None:
    document = tts()
    _set(document, path, value)
    _check(document)


@pytest.mark.slow
@given(st.dictionaries(st.sampled_from(_TOP_KEYS), JSON))
def test_arbitrary_objects_with_the_recognised_keys(document: dict[str, object]) -> None:
    _check(document)
