"""The meter-index typo of the field, corrected: every figure the twin gives (state, time
travel, the energy read model, the time series, the NGSI-LD export, the load model fitted on
the store's facts) is the one a log that never held the typo gives."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain import Site
from simulation import recorded_energy
from simulation.energy_fit import fit_loads
from tests.conftest import T0, a_town_hall
from tests.twin.test_projections_runs import dump
from twin import ValleyTwin, open_twin
from twin.analysis import time_series
from twin.export.files import export_valley
from twin.projections import catch_up

DAY = timedelta(days=1)
RIGHT = [16_000.0 + 120.0 * day + 7.0 * (day % 3) for day in range(12)]
TYPO_DAY = 5  # its index typed with two digits swapped: 16,6x0 becomes 16,x60


def registered(twin: ValleyTwin) -> None:
    twin.add(a_town_hall())


@pytest.fixture
def twins(store_url: str) -> Iterator[tuple[ValleyTwin, ValleyTwin]]:
    """(the twin that recorded the typo and corrected it, the twin fed the right values)."""
    corrected, right = open_twin(store_url), open_twin("memory://")
    try:
        for twin in (corrected, right):
            registered(twin)
        for day, index in enumerate(RIGHT):
            right.meter_energy("EP-1", index, T0 + (day + 1) * DAY)
        typed = RIGHT[TYPO_DAY] + 45.0  # plausible, below the next index: recorded
        for day, index in enumerate(RIGHT):
            recorded = corrected.meter_energy(
                "EP-1", typed if day == TYPO_DAY else index, T0 + (day + 1) * DAY
            )
            if day == TYPO_DAY:
                typo_version = recorded.version
            if day == TYPO_DAY + 2:
                catch_up(corrected)  # the read models saw the typo before it was corrected
        corrected.correct_fact(
            "EP-1", {"index_kwh": RIGHT[TYPO_DAY]}, "agent", "digits swapped", version=typo_version
        )
        for twin in (corrected, right):
            catch_up(twin)
        yield corrected, right
    finally:
        corrected.close()
        right.close()


def same(figure: Callable[[ValleyTwin], Any], twins: tuple[ValleyTwin, ValleyTwin]) -> None:
    corrected, right = twins
    assert figure(corrected) == figure(right)


def test_state_and_time_travel(twins: tuple[ValleyTwin, ValleyTwin]) -> None:
    same(lambda t: t.get(Site, "EP-1").consumption_kwh, twins)
    for day in range(13):
        instant = T0 + day * DAY + timedelta(hours=12)
        same(
            lambda t, at=instant: vars(t.state_at(Site.id_for("EP-1"), at) or {}).get(
                "consumption_kwh"
            ),
            twins,
        )


def test_the_energy_read_model(twins: tuple[ValleyTwin, ValleyTwin]) -> None:
    # As text: the right twin's store is in memory, whatever store the other one is on.
    same(lambda t: [tuple(map(str, row)) for row in dump(t)["energy_daily"]], twins)


def test_the_time_series_and_the_export(
    twins: tuple[ValleyTwin, ValleyTwin], tmp_path: Path
) -> None:
    same(
        lambda t: (
            time_series(t, "EP-1", T0, T0 + 14 * DAY, "consumption_kwh")
            .fillna(-1.0)
            .to_dict("records")
        ),
        twins,
    )

    def exported(twin: ValleyTwin) -> Any:
        out = tmp_path / f"{id(twin)}.json"
        export_valley(twin, "ngsi-ld", out, kinds="site")
        (entity,) = json.loads(out.read_text(encoding="utf-8"))
        return {k: v for k, v in entity.items() if "onsumption" in k or "energy" in k.lower()}

    same(exported, twins)


def test_the_load_model_fitted_on_the_store(twins: tuple[ValleyTwin, ValleyTwin]) -> None:
    def fitted(twin: ValleyTwin) -> Any:
        recorded = recorded_energy(twin.facts())
        (model,) = fit_loads(recorded).values()
        return recorded.daily_kwh[Site.id_for("EP-1")], round(model.base_kwh, 9)

    same(fitted, twins)
