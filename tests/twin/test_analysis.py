"""Analysts' DataFrames: one asset's history, time series, the valley as of an instant."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest

from domain import Bin
from tests.twin import valley_sample as sample
from tests.twin.valley_sample import day
from twin import InvalidInputError, NotFoundError, ValleyTwin, load_geography, open_twin
from twin.analysis import asset_history, pivot, time_series, valley_state
from twin.asof import ASSET_KINDS, asset_row, row_fields, valley_as_of

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

UTC_TIME = "datetime64[us, UTC]"


@pytest.fixture(scope="module")
def sample_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('analysis') / 'valley.sqlite'}"
    sample.build_sample(url)
    return url


@pytest.fixture
def twin(sample_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(sample_url)
    yield application
    application.close()


# ---- asset_history -------------------------------------------------------------------------
def test_a_bins_history_has_one_row_per_event_in_utc(twin: ValleyTwin) -> None:
    history = asset_history(twin, sample.GLASS)
    assert len(history) == len(twin.history(Bin.id_for(sample.GLASS)))
    assert str(history["time"].dtype) == UTC_TIME
    assert history["time"].is_monotonic_increasing
    assert history["event"].iloc[0] == "Installed"
    fills = history.loc[history["event"] == "FillLevelMeasured", "fill_percent"].tolist()
    assert fills == [fill for _, fill in sample.FILLS]
    installed = history.iloc[0]
    lon, lat = load_geography().to_wgs84(installed["x_l93"], installed["y_l93"])
    assert (installed["lon"], installed["lat"]) == (round(lon, 6), round(lat, 6))
    assert history.loc[history["event"] == "Emptied", "mass_kg"].tolist() == [240.0]


def test_history_keeps_a_reporters_role_never_a_citizens_pseudonym(twin: ValleyTwin) -> None:
    history = asset_history(twin, sample.GLASS)
    assert history.loc[history["event"] == "OverflowReported", "reported_by"].tolist() == [
        "citizen"
    ]
    assert sample.PSEUDONYM not in history.to_csv()


def test_history_flattens_dict_fields(twin: ValleyTwin) -> None:
    history = asset_history(twin, sample.CABINET)
    schedule = history[history["event"] == "LightingScheduleChanged"].iloc[0]
    assert schedule["schedule.dim_percent"] == 50.0
    assert schedule["schedule.off_from"] == "01:00"


def test_history_of_a_service_drops_references_to_people(twin: ValleyTwin) -> None:
    text = (
        asset_history(twin, sample.CRECHE).to_csv() + asset_history(twin, sample.TRAINING).to_csv()
    )
    assert sample.FAMILY_REF not in text and sample.TRAINEE_REF not in text
    assert "PlaceGranted" in text and "AttendanceRecorded" in text


def test_citizens_are_not_assets(twin: ValleyTwin) -> None:
    with pytest.raises(InvalidInputError, match="citizens are personal data"):
        asset_history(twin, sample.PSEUDONYM)
    with pytest.raises(InvalidInputError, match="citizens are personal data"):
        time_series(twin, [sample.PSEUDONYM], None, None)
    with pytest.raises(InvalidInputError, match="citizens are personal data"):
        valley_state(twin, kinds=["bin", "citizen"])
    with pytest.raises(NotFoundError):
        asset_history(twin, "B-NOWHERE-0001")


# ---- time_series ---------------------------------------------------------------------------
def test_fill_series_of_one_bin_over_a_half_open_period(twin: ValleyTwin) -> None:
    series = time_series(twin, sample.GLASS, day(2), day(6))
    assert list(series.columns) == [
        "time",
        "kind",
        "code",
        "group",
        "commune_insee",
        "field",
        "value",
    ]
    assert str(series["time"].dtype) == UTC_TIME
    # day 2 and 3 readings, the emptying's 0 %, the day 4 reading; day 6 is the excluded end.
    assert series["value"].tolist() == [45.0, 80.0, 0.0, 10.0]
    assert series["time"].tolist() == [pd.Timestamp(t) for t in (day(2), day(3), day(3.5), day(4))]
    assert set(series["group"]) == {"glass"} and series.attrs["how"] == "mean"


def test_daily_mean_of_fill_by_pivot(twin: ValleyTwin) -> None:
    series = time_series(twin, "bin", None, None)
    assert set(series["code"]) == {sample.GLASS}  # the only bin with readings
    daily = pivot(series, freq="1D")
    assert daily.loc[pd.Timestamp(day(3)), sample.GLASS] == pytest.approx((80.0 + 0.0) / 2)
    assert daily.loc[pd.Timestamp(day(4)), sample.GLASS] == 10.0
    assert pd.isna(daily.loc[pd.Timestamp(day(5)), sample.GLASS])  # no reading that day


def test_footfall_per_zone_per_hour_and_per_day(twin: ValleyTwin) -> None:
    # Footfall rows are dated at the start of each counted hour, so a day holds its 24 hours.
    series = time_series(twin, "beacon", day(1), day(3), field="footfall")
    assert len(series) == 48 and series["time"].iloc[0] == pd.Timestamp(day(1))
    assert str(series["interval_end"].dtype) == UTC_TIME
    assert ((series["interval_end"] - series["time"]) == pd.Timedelta(hours=1)).all()
    assert len(pivot(series, by="group", freq="1h")) == 48
    daily = pivot(series, by="group", freq="1D")
    assert daily[sample.ZONE].tolist() == [sum(sample.FOOTFALL[1]), sum(sample.FOOTFALL[2])]


def test_energy_used_between_readings_counts_a_meter_replacement(twin: ValleyTwin) -> None:
    used = time_series(twin, [sample.CABINET], None, None, field="consumption_kwh")
    values = used["value"].tolist()
    assert pd.isna(values[0])  # nothing is known before the first reading
    final = sample.REPLACED[1]
    assert values[1:] == pytest.approx(
        [60.0, 65.0, final - 1125.0, sample.AFTER_REPLACEMENT[1] - sample.REPLACED[2]]
    )
    index = time_series(twin, sample.CABINET, None, None, field="index_kwh")
    assert index["value"].tolist() == [
        1000.0,
        1060.0,
        1125.0,
        sample.REPLACED[2],
        sample.AFTER_REPLACEMENT[1],
    ]
    # Summed by day, a day without readings stays empty instead of showing 0 kWh.
    daily = pivot(used, freq="1D")
    assert pd.isna(daily.iloc[0, 0]) and daily.iloc[1, 0] == pytest.approx(60.0)


def test_series_of_many_assets_reads_the_same_either_way(twin: ValleyTwin) -> None:
    by_kind = time_series(twin, "service", None, None, field="waiting_list")
    by_refs = time_series(twin, [sample.CRECHE, sample.TRAINING], None, None, field="waiting_list")
    pd.testing.assert_frame_equal(by_kind, by_refs)
    assert by_kind["value"].tolist() == [1.0, 2.0, 1.0]


def test_series_refuse_what_makes_no_sense(twin: ValleyTwin) -> None:
    with pytest.raises(InvalidInputError, match="a measure of a bin: fill_percent"):
        time_series(twin, "bin", None, None, field="footfall")
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        time_series(twin, "bin", day(1).replace(tzinfo=None), None)
    with pytest.raises(InvalidInputError, match="after start"):
        time_series(twin, "bin", day(2), day(1))


# ---- valley_state --------------------------------------------------------------------------
def test_valley_now_has_one_row_per_asset_with_both_coordinates(twin: ValleyTwin) -> None:
    state = valley_state(twin)
    assert len(state) == 11  # ten standing and the removed paper column, flagged
    assert set(state["kind"]) == set(ASSET_KINDS)
    assert state.loc[state["code"] == sample.PAPER, "retired"].item()
    assert str(state["installed_at"].dtype) == UTC_TIME
    assert str(state["fill_measured_at"].dtype) == UTC_TIME
    assert str(state["capacity_l"].dtype) == "Int64"
    glass = state.set_index("code").loc[sample.GLASS]
    assert glass["commune"] == "Gignac" and glass["fill_percent"] == 35.0
    lon, lat = load_geography().to_wgs84(glass["x_l93"], glass["y_l93"])
    assert (glass["lon"], glass["lat"]) == (round(lon, 6), round(lat, 6))
    creche = state.set_index("code").loc[sample.CRECHE]
    assert (creche["places_granted"], creche["waiting_list"]) == (1, 1)
    assert not any(secret in state.to_csv() for secret in sample.SECRETS)


def test_valley_as_of_an_instant(twin: ValleyTwin) -> None:
    state = valley_state(twin, at=day(3, hours=12)).set_index("code")
    assert sample.PACKAGING not in state.index  # installed on day 10
    assert not state.loc[sample.PAPER, "retired"]  # removed on day 5
    assert state.loc[sample.GLASS, "fill_percent"] == 0.0  # just emptied
    assert state.loc[sample.GLASS, "emptied_count"] == 1
    assert state.loc[sample.CABINET, "meter_index_kwh"] == 1125.0
    assert state.attrs["at"] == pd.Timestamp(day(3, hours=12))
    assert valley_state(twin, at=day(-1)).empty


def test_only_some_kinds(twin: ValleyTwin) -> None:
    state = valley_state(twin, kinds="site")
    assert set(state["kind"]) == {"site"} and len(state) == 4


@pytest.mark.parametrize(
    "instant", [day(0), day(1, hours=5), day(3, hours=2), day(5), day(6, hours=2), day(30)]
)
def test_the_fold_agrees_with_the_twins_time_travel(twin: ValleyTwin, instant: object) -> None:
    folded = {
        asset.aggregate.id: asset.aggregate.as_dict() for asset in valley_as_of(twin, instant)
    }
    codes = [
        sample.GLASS,
        sample.RESIDUAL,
        sample.PAPER,
        sample.PACKAGING,
        sample.SCANNER,
        sample.CABINET,
        sample.DARK_CABINET,
        sample.HALL,
        sample.ABBEY,
        sample.CRECHE,
        sample.TRAINING,
    ]
    for code in codes:
        aggregate_id = twin.resolve(code)
        travelled = twin.state_at(aggregate_id, instant)  # type: ignore[arg-type]
        if travelled is None:
            assert aggregate_id not in folded
        else:
            assert folded[aggregate_id] == travelled.as_dict()


def test_valley_state_on_each_store(store_url: str, tmp_path: Path) -> None:
    sample.build_sample(store_url)
    application = open_twin(store_url)
    try:
        assert len(valley_state(application, at=day(2))) == 10
        assert len(time_series(application, "beacon", None, None, field="footfall")) == 48
    finally:
        application.close()


def test_each_kinds_row_has_the_declared_columns(twin: ValleyTwin) -> None:
    geography = load_geography()
    for asset in valley_as_of(twin):
        assert list(asset_row(asset, geography)) == row_fields([asset.kind]), asset.kind
    empty = valley_state(twin, at=day(-1), kinds=["bin", "beacon"])
    assert list(empty.columns) == row_fields(["bin", "beacon"]) and empty.empty


def test_instants_may_be_iso_text_or_pandas_timestamps(twin: ValleyTwin) -> None:
    by_text = valley_state(twin, at="2024-01-04T12:00:00+00:00")
    by_timestamp = valley_state(twin, at=pd.Timestamp("2024-01-04 13:00", tz="Europe/Paris"))
    pd.testing.assert_frame_equal(by_text, by_timestamp)  # 13:00 in Paris is 12:00 UTC
    series = time_series(twin, sample.GLASS, "2024-01-04T00:00:00Z", pd.Timestamp(day(5)))
    assert series["value"].tolist() == [80.0, 0.0, 10.0]
    with pytest.raises(InvalidInputError, match="instant"):
        valley_state(twin, at="last tuesday")
