"""A truck's tour reports and lift log → their adapters, each in its own process → ZeroMQ
(CURVE) → `twin ingest` → trucks and bins in the store, with real processes."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
import tomli_w

from domain import Bin, Truck
from tests.end_to_end.harness import (
    Ingest,
    free_endpoint,
    install_residual_bins,
    twin_command,
    write_keys,
)
from twin import open_twin

pytestmark = pytest.mark.live
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'twin.sqlite'}"


def run_adapter(name: str, example: str, ingest: Ingest, keys: Path, tmp_path: Path) -> None:
    """The documented example export, replayed by its adapter as the documented config says."""
    config = tomllib.loads((EXAMPLES / f"{example}.toml").read_text(encoding="utf-8"))
    config.update(
        source=name,
        endpoint=ingest.endpoint,
        client_key=str(keys / f"{name}.key_secret"),
        server_key=str(keys / "ingest.key"),
        outbox=str(tmp_path / f"{name}.outbox"),
        input={"type": "lines", "path": str(EXAMPLES / f"{example}.csv")},
    )
    path = tmp_path / f"{name}.toml"
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    adapter = subprocess.run(
        twin_command("adapter", "run", example, "--config", str(path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert adapter.returncode == 0, adapter.stderr


def test_a_fleets_tours_and_lifts_reach_the_twin_as_trucks_and_bins_emptied(
    store: str, tmp_path: Path
) -> None:
    install_residual_bins(store, (f"B-34114-OMR-000{n}" for n in (1, 2, 3)))
    keys = write_keys(tmp_path / "keys", "fleet-lifts", "fleet-tours")
    ingest = Ingest(store, keys, free_endpoint(), tmp_path).start()
    try:
        run_adapter("fleet-lifts", "truck-lifts", ingest, keys, tmp_path)
        run_adapter("fleet-tours", "truck-tours", ingest, keys, tmp_path)
    finally:
        assert ingest.stop() == 0
    twin = open_twin(store)
    try:
        assert twin.count_by_kind()["truck"] == 2  # registered by their first tours, at Gignac
        first, second = twin.get(Truck, "GE-482-KT"), twin.get(Truck, "GF-117-LR")
        assert (first.tours_count, first.commune_insee, second.tours_count) == (2, "34114", 1)
        assert first.km_total == pytest.approx(86.9 + 74.0)  # the second: by its odometer
        assert first.odometer_km == 184_371.0
        assert first.tonnes_tipped == pytest.approx(8.12 + 4.57 + 3.48)
        assert second.km_total == pytest.approx(127.6) and second.tips_count == 2
        # The lifts of the first morning name the round its tour report closed.
        rounds = {
            event.round_id  # type: ignore[attr-defined]
            for n in (1, 2, 3)
            for event in twin.history(twin.get(Bin, f"B-34114-OMR-000{n}").id)
            if isinstance(event, Bin.Emptied)
        }
        assert rounds == {"OMR-34114-2024-06-03"}
        tours = [e for e in twin.history(first.id) if isinstance(e, Truck.TourRecorded)]
        assert tours[0].round_id in rounds
    finally:
        twin.close()
