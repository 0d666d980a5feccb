"""The scenario model: frozen dataclasses, and the declarative rules that validate a file.

A scenario is a TOML document (see ``scenarios/files/``). Each table's keys are described once
in a field table (type, default, bound, which policy kinds they apply to; the lighting,
footfall and childcare tables in ``scenarios._subject_schema``); ``validate`` walks the tables, so an error always names the file the value came from, its key path, the value and what
was expected. Unknown keys come with the closest known one (``difflib``).

Not responsible for reading files or inheritance (``scenarios.loader``) nor for running
(``scenarios.runner``).
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, replace
from datetime import date, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scenarios import _subject_schema as subjects
from scenarios._fields import REQUIRED, TYPE_NAMES, Field, non_negative, positive
from scenarios._subject_schema import (
    DEFAULT_FOCUS_BY_SUBJECT,
    KPIS_BY_SUBJECT,
    SUBJECT_TABLES,
    ChildcareSettings,
    FootfallSettings,
    LightingSettings,
)
from scenarios.economics import RolloutCosts
from scenarios.errors import ScenarioError
from simulation import WasteKpis
from simulation.parameters.waste import STREAMS
from simulation.waste import DEFAULT_ROUNDS, KPIS
from simulation.waste.inflow import CATCHMENT_CV
from simulation.waste.policies import (
    CALENDAR_FREQUENCIES,
    DEFAULT_CALENDAR_FREQUENCIES,
    calendar_gap_days,
)
from twin import load_geography
from twin.inventory import ACTIVITY_ZONE, REMARKABLE_SITES, creche_places

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_FOCUS",
    "KPI_NAMES",
    "POLICY_KINDS",
    "HistorySettings",
    "InventorySettings",
    "PolicySettings",
    "RolloutSettings",
    "RoundSettings",
    "RunSettings",
    "Scenario",
    "known_communes",
    "known_creches",
    "known_sites",
    "validate",
]

POLICY_KINDS = ("fixed", "calendar", "threshold", "predictive", "integrated")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names of ``round_days`` and ``[policy.rounds.<stream>] weekdays`` (Monday first)."""
KPI_NAMES: tuple[str, ...] = tuple(
    WasteKpis((), np.zeros((len(KPIS), len(STREAMS), 0)), []).totals()
)
"""Every total a waste run reports (what ``[kpis] focus`` may name)."""
DEFAULT_FOCUS = ("truck_km", "overflow_events", "co2_kg", "cost_eur")
MIN_PREDICTIVE_HORIZON = 4
"""The predictive policy forecasts to the next round day: up to 3 days ahead (Friday → Monday)."""
MAX_POLICY_HORIZON = 60
SIZINGS = ("to_rounds", "as_installed")
"""``[inventory] sizing``: containers sized to the usual rounds (``simulation.waste.sizing``), or
the inventory's own sizes."""
"""Days of forecast a policy may ask for (beyond that a forecast says little)."""


@dataclass(frozen=True)
class RunSettings:
    """How long, from when, with which seed and how many replications."""

    seed: int
    horizon_days: int
    start: date
    replications: int = 3
    equal_service: float | None = None
    """Overflow events per 1,000 container-weeks to tune the policy's knob to (None: as set)."""


@dataclass(frozen=True)
class InventorySettings:
    """Where the bins come from: the twin's seeded inventory, optionally a subset of it.

    ``communes`` and ``streams`` (None: all) also select bins when they come from a history.
    ``inflow_cv`` is the day-to-day spread of a container's inflow (an assumption: the
    inventory has no history to fit it on); ``warm_start`` starts each bin at the level today's
    rounds would have left it, rather than empty.
    """

    seed: int | None = None
    communes: tuple[str, ...] | None = None
    streams: tuple[str, ...] | None = None
    inflow_cv: float = 0.3
    warm_start: bool = True
    catchment_cv: float = CATCHMENT_CV
    """Spread of the households each container serves (``simulation.waste.inflow``; 0: equal)."""
    sizing: str = "to_rounds"
    """``"to_rounds"``: each container sized to its inflow between its stream's usual rounds
    (``simulation.waste.sizing.SIZING_MARGIN``); ``"as_installed"``: the inventory's sizes."""


@dataclass(frozen=True)
class HistorySettings:
    """A twin's store to take bins, starting levels and fitted inflow from."""

    store: str
    fit_days: int = 28


@dataclass(frozen=True)
class RoundSettings:
    """One stream's fixed round (``[policy.rounds.<stream>]``): weekdays (0 = Monday), every n weeks."""

    weekdays: tuple[int, ...]
    every_weeks: int = 1


@dataclass(frozen=True)
class PolicySettings:
    """The collection policy and its parameters (each used only by its kind).

    ``round_days`` (weekdays, 0 = Monday; None: Monday to Friday) are the days trucks may go
    out for the sensor-driven kinds; ``rounds`` replace the fixed kind's default round of the
    streams they name.
    """

    kind: str
    threshold: float = 0.8
    risk: float = 0.05
    horizon_days: int = 8
    min_fill: float = 0.3
    detour_m: float = 1000.0
    prize_scale: float = 1.0
    round_days: tuple[int, ...] | None = None
    rounds: tuple[tuple[str, RoundSettings], ...] = ()
    service_level: float = 0.95
    frequencies: tuple[str, ...] = DEFAULT_CALENDAR_FREQUENCIES
    look_ahead: bool = True
    """Integrated: level the coming round days' must-go work within the fleet's shift hours."""


@dataclass(frozen=True)
class RolloutSettings:
    """A sensor rollout: the scenario it is compared with, how many sensors, what they cost.

    ``baseline`` is the resolved path of the baseline scenario file (relative to the file that
    named it); ``sensors`` None means one per container the scenario selects.
    """

    baseline: str
    sensors: int | None = None
    costs: RolloutCosts = RolloutCosts()


@dataclass(frozen=True)
class Scenario:
    """One validated what-if: everything a run needs, nothing read from the environment."""

    source: str
    title: str
    question: str
    run: RunSettings
    inventory: InventorySettings
    policy: PolicySettings | None
    """The collection policy (waste scenarios only)."""
    history: HistorySettings | None = None
    fleet: tuple[tuple[str, int], ...] = ()
    """Trucks per stream overriding ``simulation.default_fleets``."""
    focus: tuple[str, ...] = DEFAULT_FOCUS
    extends: tuple[str, ...] = ()
    """The files this one inherits from, nearest first."""
    rollout: RolloutSettings | None = None
    """A sensor rollout to weigh against its baseline (``[rollout]``), if any."""
    subject: str = "waste"
    """Which simulation answers it: waste, lighting, footfall or childcare."""
    lighting: LightingSettings | None = None
    footfall: FootfallSettings | None = None
    childcare: ChildcareSettings | None = None

    def reseeded(self, seed: int) -> Scenario:
        """The same scenario with another run seed."""
        return replace(self, run=replace(self.run, seed=seed))


# --- the rules -------------------------------------------------------------------------------

TOP = {
    "subject": Field(
        "str", "waste", lambda v: v in subjects.SUBJECTS, f"one of {list(subjects.SUBJECTS)}"
    ),
    "title": Field("str", check=bool, expected="a non-empty title"),
    "question": Field("str", check=bool, expected="the question the scenario answers"),
    "extends": Field("str", default=None),
}
SECTIONS = (
    "run",
    "inventory",
    "history",
    "policy",
    "fleet",
    "kpis",
    "rollout",
    "lighting",
    "footfall",
    "festival",
    "childcare",
)
# Bounds that keep a typo from asking for centuries or a billion runs: ten years covers the
# longest shipped run (the five-year sensor roll-out) twice; a thousand replications narrow a
# 95 % interval to about 6 % of one run's spread, far past what a planner's decision needs.
MAX_HORIZON_DAYS = 3660
MAX_REPLICATIONS = 1000
RUN = {
    "seed": Field("int", check=non_negative, expected="a seed >= 0"),
    "replications": Field(
        "int",
        3,
        lambda v: 1 <= v <= MAX_REPLICATIONS,
        f"1 to {MAX_REPLICATIONS:,} replications",
    ),
    "horizon_days": Field(
        "int",
        check=lambda v: 1 <= v <= MAX_HORIZON_DAYS,
        expected=f"a number of days from 1 to {MAX_HORIZON_DAYS:,} (ten years)",
    ),
    "start": Field("date"),
    "equal_service": Field(
        "float",
        None,
        lambda v: 0 < v <= 1000,
        "overflow events per 1,000 container-weeks, with 0 < x <= 1000",
    ),
}
INVENTORY = {
    "seed": Field("int", None, non_negative, "a seed >= 0"),
    "communes": Field("list", None, bool, "a non-empty list of INSEE codes"),
    "streams": Field("list", None, bool, "a non-empty list of streams"),
    "inflow_cv": Field("float", 0.3, lambda v: 0 < v <= 3, "a coefficient of variation in (0, 3]"),
    "warm_start": Field("bool", True),
    "catchment_cv": Field(
        "float", CATCHMENT_CV, lambda v: 0 <= v <= 3, "a coefficient of variation in [0, 3]"
    ),
    "sizing": Field(
        "str",
        "to_rounds",
        lambda v: v in SIZINGS,
        f"one of {list(SIZINGS)} (containers sized to the usual rounds, or as the inventory "
        "installs them)",
    ),
}
HISTORY = {
    "store": Field(
        "str",
        check=lambda v: v.startswith(("sqlite:///", "postgresql://", "memory:")),
        expected="a store URL (sqlite:///path, postgresql://…)",
    ),
    "fit_days": Field(
        "int",
        28,
        lambda v: 1 <= v <= MAX_HORIZON_DAYS,
        f"a number of days from 1 to {MAX_HORIZON_DAYS:,}",
    ),
}
POLICY = {
    "kind": Field(
        "str", check=lambda v: v in POLICY_KINDS, expected=f"one of {list(POLICY_KINDS)}"
    ),
    "threshold": Field(
        "float", 0.8, lambda v: 0 < v <= 1, "a fill fraction with 0 < x <= 1", ("threshold",)
    ),
    "risk": Field(
        "float",
        0.05,
        lambda v: 0 < v < 1,
        "a probability with 0 < x < 1",
        ("predictive", "integrated"),
    ),
    "horizon_days": Field(
        "int",
        8,
        lambda v: MIN_PREDICTIVE_HORIZON <= v <= MAX_POLICY_HORIZON,
        f"at least {MIN_PREDICTIVE_HORIZON} days (the forecast must reach the next round day) "
        f"and at most {MAX_POLICY_HORIZON}",
        ("predictive", "integrated"),
    ),
    "min_fill": Field(
        "float",
        0.3,
        lambda v: 0 <= v < 1,
        "a fill fraction with 0 <= x < 1",
        ("predictive", "integrated"),
    ),
    "detour_m": Field("float", 1000.0, non_negative, "a distance in metres >= 0", ("predictive",)),
    "prize_scale": Field(
        "float",
        1.0,
        lambda v: 0 <= v <= 100,
        "a factor on the prize of optional stops with 0 <= x <= 100",
        ("integrated",),
    ),
    "service_level": Field(
        "float",
        0.95,
        lambda v: 0 < v < 1,
        "a probability of no overflow before the next round, with 0 < x < 1",
        ("calendar",),
    ),
    "frequencies": Field(
        "list",
        DEFAULT_CALENDAR_FREQUENCIES,
        lambda v: bool(v) and all(f in CALENDAR_FREQUENCIES for f in v) and len(set(v)) == len(v),
        f"a non-empty list of distinct frequencies among {list(CALENDAR_FREQUENCIES)}",
        ("calendar",),
    ),
    "look_ahead": Field("bool", True, kinds=("integrated",)),
    "round_days": Field(
        "list",
        None,
        lambda v: bool(v) and all(d in WEEKDAYS for d in v) and len(set(v)) == len(v),
        f"a non-empty list of distinct day names among {list(WEEKDAYS)}",
        ("threshold", "predictive", "integrated"),
    ),
}
ROUND = {
    "weekdays": Field(
        "list",
        check=lambda v: bool(v) and all(d in WEEKDAYS for d in v) and len(set(v)) == len(v),
        expected=f"a non-empty list of distinct day names among {list(WEEKDAYS)}",
    ),
    "every_weeks": Field("int", 1, lambda v: 1 <= v <= 52, "a number of weeks from 1 to 52"),
}
FLEET_TRUCKS = Field("int", check=positive, expected="a number of trucks > 0")
ROLLOUT = {
    "baseline": Field(
        "str",
        check=lambda v: v.endswith(".toml"),
        expected="the baseline scenario file (a .toml name)",
    ),
    "sensors": Field("str", None),  # "all" or an integer: checked by _sensors
    "sensor_eur": Field("float", None, non_negative, "a price in € >= 0"),
    "installation_eur_per_sensor": Field("float", None, non_negative, "a price in € >= 0"),
    "gateways": Field("int", None, non_negative, "a number of gateways >= 0"),
    "gateway_eur": Field("float", None, non_negative, "a price in € >= 0"),
    "subscription_eur_per_sensor_year": Field(
        "float", None, non_negative, "a price in € per sensor per year >= 0"
    ),
    "lifetime_years": Field("int", None, positive, "a lifetime in years > 0"),
    "discount_rate": Field(
        "float", None, lambda v: 0 <= v < 1, "a yearly rate with 0 <= x < 1 (0.04 for 4 %)"
    ),
}
KPIS_TABLE = {"focus": Field("list", DEFAULT_FOCUS, bool, "a non-empty list of KPI names")}


@functools.cache
def known_communes() -> dict[str, str]:
    """The valley's communes, INSEE code → name (read once from the twin's geography)."""
    return {c.insee: c.name for c in load_geography().communes}


class _Checker:
    """Validates one merged document, blaming the file each value came from."""

    def __init__(self, source: str, origins: Mapping[tuple[str, ...], str]) -> None:
        self.source, self.origins = source, origins

    def file_of(self, path: tuple[str, ...]) -> str:
        for n in range(len(path), 0, -1):
            if path[:n] in self.origins:
                return self.origins[path[:n]]
        return self.source

    def fail(self, path: tuple[str, ...], value: Any, expected: str) -> ScenarioError:
        return ScenarioError(self.file_of(path), ".".join(path), value, expected)

    def table(self, path: tuple[str, ...], raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(path, raw, f"a table [{'.'.join(path)}]")
        return raw

    def unknown(self, path: tuple[str, ...], raw: Mapping[str, Any], known: Any) -> None:
        for key in raw:
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                where = "a top-level key" if not path else f"a key of [{'.'.join(path)}]"
                raise self.fail((*path, key), raw[key], f"{where}: one of {sorted(known)}{hint}")

    def value(self, path: tuple[str, ...], rule: Field, raw: Any) -> Any:
        kind = rule.kind
        ok = {
            "int": isinstance(raw, int) and not isinstance(raw, bool),
            "float": isinstance(raw, int | float) and not isinstance(raw, bool),
            "str": isinstance(raw, str),
            "bool": isinstance(raw, bool),
            "date": isinstance(raw, date | str),
            "list": isinstance(raw, list) and all(isinstance(x, str) for x in raw),
            "clock": isinstance(raw, str | time),
        }[kind]
        if not ok:
            raise self.fail(path, raw, TYPE_NAMES[kind])
        if kind == "float":
            raw = float(raw)
        elif kind == "date" and isinstance(raw, str):
            try:
                raw = date.fromisoformat(raw)
            except ValueError:
                raise self.fail(path, raw, TYPE_NAMES[kind]) from None
        elif kind == "date" and type(raw) is not date:  # a TOML datetime is not a day
            raise self.fail(path, raw, TYPE_NAMES[kind])
        elif kind == "clock" and isinstance(raw, time):  # TOML's bare 23:00:00 is a local time
            raw = f"{raw:%H:%M}"
        if rule.check is not None and not rule.check(raw):
            raise self.fail(path, raw, rule.expected)
        return tuple(raw) if kind == "list" else raw

    def section(
        self, name: str, raw: Any, rules: Mapping[str, Field], policy_kind: str | None = None
    ) -> dict[str, Any]:
        table = self.table((name,), raw)
        self.unknown((name,), table, rules)
        out: dict[str, Any] = {}
        for key, rule in rules.items():
            path = (name, key)
            if key not in table:
                if rule.default is REQUIRED:
                    raise self.fail(
                        path, None, f"a value ({TYPE_NAMES[rule.kind]}): the key is required"
                    )
                continue
            if rule.kinds and policy_kind not in rule.kinds:
                raise self.fail(
                    path,
                    table[key],
                    f"no {key} for kind {policy_kind!r} (only for {list(rule.kinds)})",
                )
            out[key] = self.value(path, rule, table[key])
        return out

    def members(
        self, path: tuple[str, ...], values: tuple[str, ...] | None, known: Any, what: str
    ) -> None:
        for item in values or ():
            if item not in known:
                close = difflib.get_close_matches(item, list(known), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(path, item, f"{what}: one of {sorted(known)}{hint}")
        if values is not None and len(set(values)) != len(values):
            raise self.fail(path, list(values), f"{what} listed once each")


def _rollout(check: _Checker, raw: Any) -> RolloutSettings:
    table = dict(check.table(("rollout",), raw))
    sensors_raw = table.pop("sensors", "all")
    values = check.section("rollout", table, ROLLOUT)
    if sensors_raw == "all":
        sensors = None
    elif isinstance(sensors_raw, int) and not isinstance(sensors_raw, bool) and sensors_raw > 0:
        sensors = sensors_raw
    else:
        raise check.fail(("rollout", "sensors"), sensors_raw, '"all" or a number of sensors > 0')
    named_in = Path(check.file_of(("rollout", "baseline")))
    baseline = (named_in.parent / values.pop("baseline")).resolve()
    if not baseline.is_file():
        raise check.fail(
            ("rollout", "baseline"),
            str(baseline.name),
            f"an existing scenario file (no file {baseline})",
        )
    if str(baseline) == str(Path(check.source).resolve()):
        raise check.fail(("rollout", "baseline"), baseline.name, "another scenario than this one")
    return RolloutSettings(str(baseline), sensors, RolloutCosts(**values))


def validate(
    data: Mapping[str, Any],
    source: str = "<scenario>",
    origins: Mapping[tuple[str, ...], str] | None = None,
    extends: tuple[str, ...] = (),
) -> Scenario:
    """Check a (merged) scenario document and build the ``Scenario``; raise ``ScenarioError``.

    ``origins`` maps key paths to the file that set them (for inherited values); ``source`` is
    the file itself.
    """
    check = _Checker(source, origins or {})
    doc = dict(data)
    check.unknown((), doc, {**TOP, **dict.fromkeys(SECTIONS)})
    top = {}
    for key, rule in TOP.items():
        if key in doc:
            top[key] = check.value((key,), rule, doc[key])
        elif rule.default is REQUIRED:
            raise check.fail(
                (key,), None, f"a value ({TYPE_NAMES[rule.kind]}): the key is required"
            )
    subject = top.get("subject", "waste")
    _check_tables(check, doc, subject)
    run = RunSettings(**check.section("run", doc["run"], RUN))
    history = (
        HistorySettings(**check.section("history", doc["history"], HISTORY))
        if "history" in doc
        else None
    )
    inv_values = check.section("inventory", doc.get("inventory", {}), INVENTORY)
    if history is None and inv_values.get("seed") is None and subject in ("waste", "lighting"):
        taken = "bins" if subject == "waste" else "cabinets"
        raise check.fail(
            ("inventory", "seed"),
            None,
            f"an inventory seed (or a [history] store to take {taken} from)",
        )
    if subject != "waste" and "sizing" in inv_values:
        raise check.fail(
            ("inventory", "sizing"),
            inv_values["sizing"],
            f"no container sizing in a {subject} scenario",
        )
    if subject != "waste" and "streams" in inv_values:
        raise check.fail(
            ("inventory", "streams"),
            list(inv_values["streams"]),
            f"no waste streams in a {subject} scenario",
        )
    if subject in ("footfall", "childcare") and "communes" in inv_values:
        where = "[footfall] site" if subject == "footfall" else "[childcare] creche"
        raise check.fail(
            ("inventory", "communes"),
            list(inv_values["communes"]),
            f"no communes in a {subject} scenario ({where} says where)",
        )
    if history is not None and inv_values.get("sizing") == "to_rounds":
        raise check.fail(
            ("inventory", "sizing"),
            "to_rounds",
            '"as_installed" (or no sizing key) with a [history] store: its containers are the '
            "ones recorded",
        )
    inventory = InventorySettings(**inv_values)
    check.members(
        ("inventory", "communes"), inventory.communes, known_communes(), "INSEE codes of the valley"
    )
    check.members(("inventory", "streams"), inventory.streams, STREAMS, "waste streams")
    kpis = check.section("kpis", doc.get("kpis", {}), KPIS_TABLE)
    focus = kpis.get("focus", DEFAULT_FOCUS_BY_SUBJECT.get(subject, DEFAULT_FOCUS))
    check.members(
        ("kpis", "focus"),
        focus,
        KPIS_BY_SUBJECT.get(subject, KPI_NAMES),
        f"KPI names of subject {subject!r}",
    )
    common = {
        "source": source,
        "title": top["title"],
        "question": top["question"],
        "run": run,
        "inventory": inventory,
        "history": history,
        "focus": focus,
        "extends": extends,
        "subject": subject,
    }
    if subject != "waste" and run.equal_service is not None:
        raise check.fail(
            ("run", "equal_service"),
            run.equal_service,
            f"no equal-service tuning in a {subject} scenario (it tunes a collection policy)",
        )
    if subject == "lighting" and run.replications != 1:
        raise check.fail(
            ("run", "replications"),
            run.replications,
            "1 for a lighting scenario (it is computed from the sun's course: nothing random to replicate)",
        )
    if subject == "waste":
        return _waste(check, doc, common)
    return Scenario(policy=None, **common, **_subject_settings(check, doc, subject))


def _check_tables(check: _Checker, doc: Mapping[str, Any], subject: str) -> None:
    """``[run]`` and the subject's own table are required; other subjects' tables are refused."""
    for name in ("run", SUBJECT_TABLES[subject]):
        if name not in doc:
            raise check.fail(
                (name,), None, f"a [{name}] table: it is required for subject {subject!r}"
            )
    owner = {table: s for s, table in SUBJECT_TABLES.items()} | {
        "fleet": "waste",
        "rollout": "waste",
        "festival": "footfall",
    }
    for table, belongs in owner.items():
        if table in doc and belongs != subject:
            raise check.fail(
                (table,),
                doc[table],
                f"no [{table}] table in a {subject} scenario (it belongs to subject {belongs!r}; "
                f'set subject = "{belongs}" or remove it)',
            )


def _waste(check: _Checker, doc: Mapping[str, Any], common: dict[str, Any]) -> Scenario:
    table = dict(check.table(("policy",), doc["policy"]))
    kind_raw = table.get("kind")
    kind = kind_raw if kind_raw in POLICY_KINDS else None
    rounds_raw = table.pop("rounds", None)
    values = check.section("policy", table, POLICY, kind)
    if "round_days" in values:
        values["round_days"] = tuple(sorted(WEEKDAYS.index(d) for d in values["round_days"]))
    if rounds_raw is not None:
        values["rounds"] = _rounds(check, rounds_raw, kind)
    policy = PolicySettings(**values)
    _check_horizon(check, common, policy)
    _check_equal_service(check, common, policy)
    fleet_raw = check.table(("fleet",), doc.get("fleet", {}))
    check.unknown(("fleet",), fleet_raw, STREAMS)
    fleet = tuple(
        sorted((s, check.value(("fleet", s), FLEET_TRUCKS, n)) for s, n in fleet_raw.items())
    )
    rollout = _rollout(check, doc["rollout"]) if "rollout" in doc else None
    return Scenario(policy=policy, fleet=fleet, rollout=rollout, **common)


def slowest_round(
    scenario_streams: tuple[str, ...] | None, policy: PolicySettings
) -> tuple[str, int]:
    """The slowest round a fixed or calendar policy may run, in words and days (else ("", 0)).

    Fixed: the longest cycle (``every_weeks`` × 7) among the rounds of the streams the scenario
    selects (its own ``[policy.rounds]`` over ``DEFAULT_ROUNDS``). Calendar: the least
    frequent of its allowed ``frequencies`` (a slow filler may be given it).
    """
    if policy.kind == "calendar":
        name = max(policy.frequencies, key=calendar_gap_days)
        return f"the {name} calendar frequency", calendar_gap_days(name)
    if policy.kind != "fixed":
        return "", 0
    rounds = {s: r.every_weeks for s, r in DEFAULT_ROUNDS.items()} | {
        s: r.every_weeks for s, r in policy.rounds
    }
    chosen = {s: w for s, w in rounds.items() if scenario_streams is None or s in scenario_streams}
    if not chosen:
        return "", 0
    stream = max(chosen, key=lambda s: chosen[s])
    weeks = chosen[stream]
    return f"the {stream} round every {weeks} week{'s' if weeks > 1 else ''}", 7 * weeks


def _check_horizon(check: _Checker, common: Mapping[str, Any], policy: PolicySettings) -> None:
    """A fixed or calendar run covers at least one whole cycle of its slowest round: refused else.

    A shorter run would leave the slow round's containers out of the count (a four-weekly
    glass round may or may not fall in a fortnight), so its km and overflows would depend on
    the start date more than on the policy.
    """
    run: RunSettings = common["run"]
    inventory: InventorySettings = common["inventory"]
    what, days = slowest_round(inventory.streams, policy)
    if days and run.horizon_days < days:
        raise check.fail(
            ("run", "horizon_days"),
            run.horizon_days,
            f"at least {days} days: a {policy.kind} run covers whole cycles of its slowest "
            f"round ({what}); set horizon_days = {days} or more",
        )


def _check_equal_service(
    check: _Checker, common: Mapping[str, Any], policy: PolicySettings
) -> None:
    """``[run] equal_service`` needs a policy with a knob to tune (every kind but fixed)."""
    run: RunSettings = common["run"]
    if run.equal_service is not None and policy.kind == "fixed":
        raise check.fail(
            ("run", "equal_service"),
            run.equal_service,
            'no equal-service tuning for kind "fixed" (it has no knob): use kind = "calendar", '
            "whose service_level is tuned",
        )


def _rounds(check: _Checker, raw: Any, kind: str | None) -> tuple[tuple[str, RoundSettings], ...]:
    """``[policy.rounds.<stream>]`` tables: the fixed kind's rounds, stream by stream."""
    path = ("policy", "rounds")
    if kind != "fixed":
        raise check.fail(path, raw, f"no rounds for kind {kind!r} (only for ['fixed'])")
    streams = check.table(path, raw)
    check.unknown(path, streams, STREAMS)
    out = []
    for stream, table in streams.items():
        where = (*path, stream)
        rules = check.table(where, table)
        check.unknown(where, rules, ROUND)
        if "weekdays" not in rules:
            raise check.fail((*where, "weekdays"), None, "a value (a list of day names): required")
        days = check.value((*where, "weekdays"), ROUND["weekdays"], rules["weekdays"])
        every = (
            check.value((*where, "every_weeks"), ROUND["every_weeks"], rules["every_weeks"])
            if "every_weeks" in rules
            else 1
        )
        out.append((stream, RoundSettings(tuple(sorted(WEEKDAYS.index(d) for d in days)), every)))
    return tuple(sorted(out))


def _subject_settings(check: _Checker, doc: Mapping[str, Any], subject: str) -> dict[str, Any]:
    """The ``lighting``, ``footfall`` or ``childcare`` settings of the scenario, checked."""
    if subject == "lighting":
        values = check.section("lighting", doc["lighting"], subjects.LIGHTING)
        for window in ("dim", "off"):
            ends = [f"{window}_from", f"{window}_to"]
            given = [end for end in ends if end in values]
            if len(given) == 1:
                missing = next(end for end in ends if end not in values)
                raise check.fail(
                    ("lighting", missing),
                    None,
                    f"both ends of the {window} window (only {given[0]} is set)",
                )
        return {"lighting": subjects.LightingSettings(**values)}
    if subject == "footfall":
        values = check.section("footfall", doc["footfall"], subjects.FOOTFALL)
        known = known_sites()
        check.members(("footfall", "site"), (values["site"],), known, "sites with footfall beacons")
        published = values["site"] in subjects.PUBLISHED_VISITORS
        if "visitors_per_year" not in values and not published and "history" not in doc:
            raise check.fail(
                ("footfall", "visitors_per_year"),
                None,
                f"a yearly visitor count: none is published for {values['site']} (and no [history] store to fit one)",
            )
        festival = None
        if "festival" in doc:
            raw = check.section("festival", doc["festival"], subjects.FESTIVAL)
            if raw["last_day"] < raw["first_day"]:
                raise check.fail(
                    ("festival", "last_day"),
                    raw["last_day"].isoformat(),
                    f"a day on or after first_day ({raw['first_day']})",
                )
            festival = subjects.FestivalSettings(**raw)
        return {"footfall": subjects.FootfallSettings(**values, festival=festival)}
    values = check.section("childcare", doc["childcare"], subjects.CHILDCARE)
    check.members(
        ("childcare", "creche"), (values["creche"],), known_creches(), "crèches of the valley"
    )
    return {"childcare": subjects.ChildcareSettings(**values)}


@functools.cache
def known_sites() -> dict[str, str]:
    """Sites counted by footfall beacons, code → name (the twin's named places)."""
    return {place.code: place.name for place in (*REMARKABLE_SITES, ACTIVITY_ZONE)}


@functools.cache
def known_creches() -> dict[str, int]:
    """The valley's crèches, code → places (the twin's inventory: one per town of 2,000+)."""
    places = {f"CRECHE-{c.insee}": creche_places(c) for c in load_geography().communes}
    return {code: n for code, n in places.items() if n is not None}
