"""The scenario model: frozen dataclasses, and the declarative rules that validate a file.

A scenario is a TOML document (see ``scenarios/files/``). Each table's keys are described once
in a field table (type, default, bound, which policy kinds they apply to); ``validate`` walks the
tables, so an error always names the file the value came from, its key path, the value and what
was expected. Unknown keys come with the closest known one (``difflib``).

Not responsible for reading files or inheritance (``scenarios.loader``) nor for running
(``scenarios.runner``).
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scenarios.economics import RolloutCosts
from scenarios.errors import ScenarioError
from simulation import WasteKpis
from simulation.kpis import KPIS
from simulation.parameters.waste import STREAMS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "DEFAULT_FOCUS",
    "KPI_NAMES",
    "POLICY_KINDS",
    "HistorySettings",
    "InventorySettings",
    "PolicySettings",
    "RolloutSettings",
    "RunSettings",
    "Scenario",
    "known_communes",
    "validate",
]

POLICY_KINDS = ("fixed", "threshold", "predictive")
KPI_NAMES: tuple[str, ...] = tuple(
    WasteKpis((), np.zeros((len(KPIS), len(STREAMS), 0)), []).totals()
)
"""Every total a waste run reports (what ``[kpis] focus`` may name)."""
DEFAULT_FOCUS = ("truck_km", "overflow_events", "co2_kg", "cost_eur")
MIN_PREDICTIVE_HORIZON = 4
"""The predictive policy forecasts to the next round day: up to 3 days ahead (Friday → Monday)."""


@dataclass(frozen=True)
class RunSettings:
    """How long, from when, with which seed and how many replications."""

    seed: int
    horizon_days: int
    start: date
    replications: int = 3


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


@dataclass(frozen=True)
class HistorySettings:
    """A twin's store to take bins, starting levels and fitted inflow from."""

    store: str
    fit_days: int = 28


@dataclass(frozen=True)
class PolicySettings:
    """The collection policy and its parameters (each used only by its kind)."""

    kind: str
    threshold: float = 0.8
    risk: float = 0.05
    horizon_days: int = 8


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
    policy: PolicySettings
    history: HistorySettings | None = None
    fleet: tuple[tuple[str, int], ...] = ()
    """Trucks per stream overriding ``simulation.default_fleets``."""
    focus: tuple[str, ...] = DEFAULT_FOCUS
    extends: tuple[str, ...] = ()
    """The files this one inherits from, nearest first."""
    rollout: RolloutSettings | None = None
    """A sensor rollout to weigh against its baseline (``[rollout]``), if any."""

    def reseeded(self, seed: int) -> Scenario:
        """The same scenario with another run seed."""
        return replace(self, run=replace(self.run, seed=seed))


# --- the rules -------------------------------------------------------------------------------

_REQUIRED = object()


@dataclass(frozen=True)
class _Field:
    kind: str  # "int" | "float" | "str" | "bool" | "date" | "list"
    default: Any = _REQUIRED
    check: Callable[[Any], bool] | None = None
    expected: str = ""
    kinds: tuple[str, ...] = ()  # policy kinds the key applies to (empty: all)


_TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "date": "a date (2024-05-06)",
    "list": "a list of strings",
}


def _positive(v: Any) -> bool:
    return v > 0


def _non_negative(v: Any) -> bool:
    return v >= 0


TOP = {
    "title": _Field("str", check=bool, expected="a non-empty title"),
    "question": _Field("str", check=bool, expected="the question the scenario answers"),
    "extends": _Field("str", default=None),
}
SECTIONS = ("run", "inventory", "history", "policy", "fleet", "kpis", "rollout")
RUN = {
    "seed": _Field("int", check=_non_negative, expected="a seed >= 0"),
    "replications": _Field("int", 3, _positive, "at least 1 replication"),
    "horizon_days": _Field("int", check=_positive, expected="a number of days > 0"),
    "start": _Field("date"),
}
INVENTORY = {
    "seed": _Field("int", None, _non_negative, "a seed >= 0"),
    "communes": _Field("list", None, bool, "a non-empty list of INSEE codes"),
    "streams": _Field("list", None, bool, "a non-empty list of streams"),
    "inflow_cv": _Field("float", 0.3, lambda v: 0 < v <= 3, "a coefficient of variation in (0, 3]"),
    "warm_start": _Field("bool", True),
}
HISTORY = {
    "store": _Field(
        "str",
        check=lambda v: v.startswith(("sqlite:///", "postgresql://", "memory:")),
        expected="a store URL (sqlite:///path, postgresql://…)",
    ),
    "fit_days": _Field("int", 28, _positive, "a number of days > 0"),
}
POLICY = {
    "kind": _Field("str", check=lambda v: v in POLICY_KINDS, expected=f"one of {list(POLICY_KINDS)}"),
    "threshold": _Field("float", 0.8, lambda v: 0 < v <= 1, "a fill fraction with 0 < x <= 1", ("threshold",)),
    "risk": _Field("float", 0.05, lambda v: 0 < v < 1, "a probability with 0 < x < 1", ("predictive",)),
    "horizon_days": _Field(
        "int",
        8,
        lambda v: v >= MIN_PREDICTIVE_HORIZON,
        f"at least {MIN_PREDICTIVE_HORIZON} days (the forecast must reach the next round day)",
        ("predictive",),
    ),
}
FLEET_TRUCKS = _Field("int", check=_positive, expected="a number of trucks > 0")
ROLLOUT = {
    "baseline": _Field("str", check=lambda v: v.endswith(".toml"), expected="the baseline scenario file (a .toml name)"),
    "sensors": _Field("str", None),  # "all" or an integer: checked by _sensors
    "sensor_eur": _Field("float", None, _non_negative, "a price in € >= 0"),
    "installation_eur_per_sensor": _Field("float", None, _non_negative, "a price in € >= 0"),
    "gateways": _Field("int", None, _non_negative, "a number of gateways >= 0"),
    "gateway_eur": _Field("float", None, _non_negative, "a price in € >= 0"),
    "subscription_eur_per_sensor_year": _Field("float", None, _non_negative, "a price in € per sensor per year >= 0"),
    "lifetime_years": _Field("int", None, _positive, "a lifetime in years > 0"),
    "discount_rate": _Field("float", None, lambda v: 0 <= v < 1, "a yearly rate with 0 <= x < 1 (0.04 for 4 %)"),
}
KPIS_TABLE = {"focus": _Field("list", DEFAULT_FOCUS, bool, "a non-empty list of KPI names")}


@functools.cache
def known_communes() -> dict[str, str]:
    """The valley's communes, INSEE code → name (read once from the twin's geography)."""
    from twin import load_geography

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
                raise self.fail(
                    (*path, key), raw[key], f"{where}: one of {sorted(known)}{hint}"
                )

    def value(self, path: tuple[str, ...], rule: _Field, raw: Any) -> Any:
        kind = rule.kind
        ok = {
            "int": isinstance(raw, int) and not isinstance(raw, bool),
            "float": isinstance(raw, int | float) and not isinstance(raw, bool),
            "str": isinstance(raw, str),
            "bool": isinstance(raw, bool),
            "date": isinstance(raw, date | str),
            "list": isinstance(raw, list) and all(isinstance(x, str) for x in raw),
        }[kind]
        if not ok:
            raise self.fail(path, raw, _TYPE_NAMES[kind])
        if kind == "float":
            raw = float(raw)
        elif kind == "date" and isinstance(raw, str):
            try:
                raw = date.fromisoformat(raw)
            except ValueError:
                raise self.fail(path, raw, _TYPE_NAMES[kind]) from None
        elif kind == "date" and type(raw) is not date:  # a TOML datetime is not a day
            raise self.fail(path, raw, _TYPE_NAMES[kind])
        if rule.check is not None and not rule.check(raw):
            raise self.fail(path, raw, rule.expected)
        return tuple(raw) if kind == "list" else raw

    def section(
        self, name: str, raw: Any, rules: Mapping[str, _Field], policy_kind: str | None = None
    ) -> dict[str, Any]:
        table = self.table((name,), raw)
        self.unknown((name,), table, rules)
        out: dict[str, Any] = {}
        for key, rule in rules.items():
            path = (name, key)
            if key not in table:
                if rule.default is _REQUIRED:
                    raise self.fail(path, None, f"a value ({_TYPE_NAMES[rule.kind]}): the key is required")
                continue
            if rule.kinds and policy_kind not in rule.kinds:
                raise self.fail(path, table[key], f"no {key} for kind {policy_kind!r} (only for {list(rule.kinds)})")
            out[key] = self.value(path, rule, table[key])
        return out

    def members(self, path: tuple[str, ...], values: tuple[str, ...] | None, known: Any, what: str) -> None:
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
        raise check.fail(("rollout", "baseline"), str(baseline.name), f"an existing scenario file (no file {baseline})")
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
        elif rule.default is _REQUIRED:
            raise check.fail((key,), None, f"a value ({_TYPE_NAMES[rule.kind]}): the key is required")
    for name in ("run", "policy"):
        if name not in doc:
            raise check.fail((name,), None, f"a [{name}] table: it is required")
    run = RunSettings(**check.section("run", doc["run"], RUN))
    kind_raw = check.table(("policy",), doc["policy"]).get("kind")
    kind = kind_raw if kind_raw in POLICY_KINDS else None
    policy_values = check.section("policy", doc["policy"], POLICY, kind)
    policy = PolicySettings(**policy_values)
    history = HistorySettings(**check.section("history", doc["history"], HISTORY)) if "history" in doc else None
    inv_values = check.section("inventory", doc.get("inventory", {}), INVENTORY)
    if history is None and inv_values.get("seed") is None:
        raise check.fail(("inventory", "seed"), None, "an inventory seed (or a [history] store to take bins from)")
    inventory = InventorySettings(**inv_values)
    check.members(("inventory", "communes"), inventory.communes, known_communes(), "INSEE codes of the valley")
    check.members(("inventory", "streams"), inventory.streams, STREAMS, "waste streams")
    fleet_raw = check.table(("fleet",), doc.get("fleet", {}))
    check.unknown(("fleet",), fleet_raw, STREAMS)
    fleet = tuple(sorted((s, check.value(("fleet", s), FLEET_TRUCKS, n)) for s, n in fleet_raw.items()))
    kpis = check.section("kpis", doc.get("kpis", {}), KPIS_TABLE)
    focus = kpis.get("focus", DEFAULT_FOCUS)
    check.members(("kpis", "focus"), focus, KPI_NAMES, "KPI names")
    rollout = _rollout(check, doc["rollout"]) if "rollout" in doc else None
    return Scenario(
        source=source,
        title=top["title"],
        question=top["question"],
        run=run,
        inventory=inventory,
        policy=policy,
        history=history,
        fleet=fleet,
        focus=focus,
        extends=extends,
        rollout=rollout,
    )
