"""Services: the SimPy queue against Erlang's formulas, determinism, the valley's two services."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from domain import Position, Service
from simulation.services import (
    Empirical,
    Exponential,
    Fixed,
    ServiceModel,
    childcare_places,
    drop_off_centre,
    erlang_b,
    erlang_c,
    observed_services,
    replicate_service,
    run_service,
)

# M/M/3 with λ = 2.4/h and μ = 1/h (load a = 2.4, ρ = 0.8), by hand:
#   Σ_{k<3} a^k/k! = 1 + 2.4 + 2.88 = 6.28;  a³/3! · 3/(3 − a) = 2.304 · 5 = 11.52
#   P(wait > 0) = 11.52 / (6.28 + 11.52) = 0.647191
#   mean wait Wq = P(wait > 0) / (cμ − λ) = 0.647191 / 0.6 = 1.078652 h
#   mean number waiting Lq = λ Wq = 2.588764;  utilisation ρ = 0.8
#   P(W > t) = P(wait > 0)·e^{−0.6 t}: 95th percentile ln(0.647191 / 0.05) / 0.6 = 4.267697 h
P_WAIT = 11.52 / 17.8
MEAN_WAIT = P_WAIT / 0.6
P95_WAIT = math.log(P_WAIT / 0.05) / 0.6
# Erlang B for 3 servers and 2.4 erlangs (nobody may wait):
#   (2.4³/3!) / (1 + 2.4 + 2.88 + 2.304) = 2.304 / 8.584 = 0.268406
BLOCKED = 2.304 / 8.584

SEED = 100  # the first seed of the coverage study in docs/validation.md


def test_erlang_formulas_match_the_hand_computation() -> None:
    analytic = erlang_c(3, 2.4, 1.0)
    assert analytic.p_wait == pytest.approx(P_WAIT) and analytic.mean_wait_hours == pytest.approx(
        MEAN_WAIT
    )
    assert analytic.mean_waiting == pytest.approx(
        2.4 * MEAN_WAIT
    ) and analytic.utilisation == pytest.approx(0.8)
    assert erlang_b(3, 2.4) == pytest.approx(BLOCKED)
    with pytest.raises(ValueError, match="no steady state"):
        erlang_c(2, 2.4, 1.0)


@pytest.mark.slow
def test_the_simulated_m_m_3_queue_agrees_with_erlang_c() -> None:
    model = ServiceModel(
        "M/M/3",
        servers=3,
        arrivals_per_hour=2.4,
        service=Exponential(1.0),
        horizon_hours=2_500,
        warmup_hours=100,
    )
    kpis = replicate_service(model, seed=SEED, replications=12)
    for name, analytic in [
        ("mean_wait_hours", MEAN_WAIT),
        ("share_waited", P_WAIT),
        ("mean_waiting_list", 2.4 * MEAN_WAIT),
        ("utilisation", 0.8),
        ("p95_wait_hours", P95_WAIT),
    ]:
        found = kpis[name]
        assert found.low <= analytic <= found.high, f"{name}: {analytic} outside {found}"
        assert (
            found.half_width < 0.15 * analytic
        )  # and the interval is tight enough to mean something
    assert kpis["turned_away_share"].mean == 0.0


@pytest.mark.slow
def test_with_no_waiting_list_the_queue_loses_erlang_b_of_its_arrivals() -> None:
    model = ServiceModel(
        "M/M/3/3",
        3,
        2.4,
        Exponential(1.0),
        horizon_hours=2_500,
        warmup_hours=10,
        waiting_list_limit=0,
    )
    kpis = replicate_service(model, seed=SEED, replications=8)
    assert kpis["turned_away_share"].low <= BLOCKED <= kpis["turned_away_share"].high
    assert kpis["mean_wait_hours"].mean == 0.0 and kpis["max_waiting_list"].mean == 0.0
    # Carried load per desk: a (1 − B) / c
    assert kpis["utilisation"].low <= 2.4 * (1 - BLOCKED) / 3 <= kpis["utilisation"].high


def test_same_seed_same_numbers_different_seed_different() -> None:
    model = drop_off_centre(horizon_hours=50)
    first, again, other = run_service(model, 7), run_service(model, 7), run_service(model, 8)
    assert first == again and first.kpis() == again.kpis()
    assert first.kpis() != other.kpis()


def test_a_capped_waiting_list_never_exceeds_its_cap() -> None:
    model = ServiceModel(
        "busy", 1, 3.0, Fixed(0.5), horizon_hours=200, waiting_list_limit=2, sample_every_hours=0.1
    )
    run = run_service(model, 1)
    assert run.turned_away > 0 and run.arrivals == run.served + run.turned_away
    assert max(length for _, length in run.waiting_list) <= 2 == run.max_waiting_list
    assert run.max_wait_hours <= 1.5  # at most two ahead, plus the one being served


def test_the_drop_off_centre_and_the_creche_run_on_minutes_and_years() -> None:
    centre = run_service(drop_off_centre(horizon_hours=100), seed=1)
    # 30 cars an hour × 12 min on 8 bays: 6 erlangs, 75 % busy, short waits in minutes.
    assert centre.utilisation == pytest.approx(0.75, abs=0.05)
    assert centre.mean_wait_hours * 60 < 15 and centre.waiting_list[1][0] == 0.25
    creche = run_service(childcare_places(horizon_years=30, warmup_years=10), seed=1)
    # 15 requests a year × 2 years: 30 erlangs on 30 places, a waiting list that grows.
    assert creche.utilisation > 0.9 and creche.mean_wait_hours / (24 * 365.25) > 0.5
    assert creche.waiting_list[1][0] == 24.0  # sampled daily


@pytest.mark.slow
def test_empirical_stays_are_resampled() -> None:
    model = ServiceModel("resampled", 50, 1.0, Empirical((2.0, 4.0)), horizon_hours=1_000)
    run = run_service(model, 3)
    assert run.utilisation == pytest.approx(3.0 / 50, rel=0.1) and run.mean_wait_hours == 0.0


def test_what_the_log_says_about_a_creche() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    creche = Service.open(
        code="CRECHE-GIGNAC",
        name="Crèche",
        service_kind="childcare",
        capacity=2,
        position=Position(752_000.0, 6_283_000.0),
        commune_insee="34114",
        at=t0,
    )
    days = [timedelta(days=n) for n in range(400)]
    creche.request_place("R1", t0 + days[1])
    creche.grant_place("R1", t0 + days[3])
    creche.request_place("R2", t0 + days[11])
    creche.request_place("R3", t0 + days[21])
    creche.grant_place("R2", t0 + days[31])
    creche.release_place("R1", t0 + days[303])
    [seen] = observed_services(creche.collect_events()).values()
    assert (seen.code, seen.capacity, seen.waiting_now) == ("CRECHE-GIGNAC", 2, 1)
    assert seen.requests_per_hour == pytest.approx(2 / (20 * 24))
    assert seen.waits_hours == (48.0, 480.0) and seen.stays_hours == (300 * 24.0,)
    model = seen.model(horizon_hours=24 * 365)
    assert (model.servers, model.service.mean_hours) == (2, 7_200.0)
