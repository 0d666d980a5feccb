"""A meter index typed wrong, put right by the back office: meter readings → `energy-meter`
adapter process, then a correction and a retraction → `service-desk` adapter process, each over
ZeroMQ (CURVE) → `twin ingest` → the store, with real processes."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain import Site
from tests.conftest import T0, a_town_hall
from tests.end_to_end.harness import (
    Ingest,
    free_endpoint,
    replay_feed,
    twin_command,
    write_keys,
)
from twin import open_twin

pytestmark = pytest.mark.live
DAY = timedelta(days=1)
METERS, DESK = "meters-ccvh", "desk-ccvh"


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'twin.sqlite'}"


def shown(store: str, code: str) -> list[dict[str, Any]]:
    """`twin show CODE --json`'s history, as an agent of the back office reads it."""
    result = subprocess.run(
        twin_command("--store", store, "show", code, "--json"),
        capture_output=True,
        text=True,
        check=True,
    )
    history: list[dict[str, Any]] = json.loads(result.stdout)["history"]
    return history


def test_the_back_office_corrects_a_meter_index_through_the_service_desk_adapter(
    store: str, tmp_path: Path
) -> None:
    twin = open_twin(store)
    try:
        twin.add(a_town_hall())
    finally:
        twin.close()
    keys = write_keys(tmp_path / "keys", METERS, DESK)
    ingest = Ingest(store, keys, free_endpoint(), tmp_path).start()
    try:
        # 16,355 read with two digits swapped, then the neighbouring cabinet's meter booked here.
        indexes = [(1, 16_000), (2, 16_200), (3, 16_535), (4, 17_000)]
        meters = replay_feed(
            "energy-meter",
            METERS,
            [
                {
                    "meter": "M-34114-01",
                    "site": "EP-1",
                    "read_at": (T0 + day * DAY).isoformat(),
                    "index_kwh": index,
                }
                for day, index in indexes
            ],
            ingest,
            keys,
            tmp_path,
        )
        assert (meters["acknowledged"], meters["rejected"]) == (4, 0)
        twin = open_twin(store)
        try:
            assert twin.get(Site, "EP-1").consumption_kwh == pytest.approx(1_000.0)
        finally:
            twin.close()

        # The agent finds the facts in `twin show` and names them as it lists them.
        history = shown(store, "EP-1")
        typo = next(e for e in history if e.get("attributes", {}).get("index_kwh") == 16_535)
        stray = next(e for e in history if e.get("attributes", {}).get("index_kwh") == 17_000)
        assert typo["message"].startswith(f"{METERS}/")
        made_at = (T0 + 10 * DAY).isoformat()
        desk = replay_feed(
            "service-desk",
            DESK,
            [
                {
                    "type": "correct",
                    "asset": "EP-1",
                    "original_message": typo["message"],
                    "field": "index_kwh",
                    "value": 16_355,
                    "by": "agent-technique",
                    "reason": "two digits swapped, read again on the meter",
                    "at": made_at,
                },
                {
                    "type": "retract",
                    "asset": "EP-1",
                    "original_version": stray["version"],
                    "by": "agent-technique",
                    "reason": "the neighbouring cabinet's meter",
                    "at": made_at,
                },
                {  # refused by the adapter: a bare id would name one of the desk's own messages
                    "type": "retract",
                    "asset": "EP-1",
                    "original_message": typo["message"].split("/")[1],
                    "by": "agent-technique",
                    "reason": "again",
                    "at": made_at,
                },
            ],
            ingest,
            keys,
            tmp_path,
            adapter={"desk_id": DESK},
        )
    finally:
        assert ingest.stop() == 0
    assert (desk["acknowledged"], desk["rejected"]) == (2, 0), desk
    assert desk["unreadable"] == {"original_message": 1}

    twin = open_twin(store)
    try:
        site = twin.get(Site, "EP-1")
        assert (site.meter_index_kwh, site.consumption_kwh) == (16_355.0, pytest.approx(355.0))
        history = twin.history(Site.id_for("EP-1"))
        corrected = [e for e in history if isinstance(e, Site.FactCorrected)]
        retracted = [e for e in history if isinstance(e, Site.FactRetracted)]
        assert [(e.original_version, e.changes, e.corrected_by) for e in corrected] == [
            (typo["version"], {"index_kwh": 16_355.0}, "agent-technique")
        ]
        assert corrected[0].reason == "two digits swapped, read again on the meter"
        assert [(e.original_version, e.retracted_by) for e in retracted] == [
            (stray["version"], "agent-technique")
        ]
        # The original stays in history, as it was recorded.
        original = history[typo["version"] - 1]
        assert isinstance(original, Site.EnergyMetered) and original.index_kwh == 16_535.0
        assert [vars(e).get("message", "").split("/")[0] for e in corrected + retracted] == [
            DESK,
            DESK,
        ]
    finally:
        twin.close()
    marks = {e["version"]: e.get("amended") for e in shown(store, "EP-1")}
    assert (marks[typo["version"]], marks[stray["version"]]) == ("corrected", "retracted")
