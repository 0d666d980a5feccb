"""Reading scenario files: TOML, ``extends`` inheritance and deep-merged overrides.

A file may name a parent (``extends = "baseline-fixed.toml"``, relative to its own folder);
the child's tables are merged key by key into the parent's (nested tables merged, lists and
values replaced), so a variant is a few lines over a baseline. Each merged value remembers the
file that set it, so validation blames the right file.

A file may also hold a ``[sweep]`` table: dotted key paths of the document mapped to lists of
values (``"policy.threshold" = [0.6, 0.7, 0.8]``); ``load_sweep`` expands their Cartesian
product into one validated scenario per grid point, and ``load_scenario`` reads such a file as
its base scenario (the sweep table checked, then set aside).

Not responsible for the rules themselves (``scenarios.schema``) nor for running.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.errors import ScenarioError
from scenarios.schema import Scenario, validate

__all__ = [
    "MAX_SWEEP_POINTS",
    "SHIPPED",
    "Sweep",
    "SweepPoint",
    "load_scenario",
    "load_sweep",
    "read_merged",
    "shipped_scenarios",
]

SHIPPED = Path(__file__).resolve().parent / "files"
"""The folder of the scenarios shipped with the project."""

Origins = dict[tuple[str, ...], str]

MAX_SWEEP_POINTS = 1000
"""The most grid points a ``[sweep]`` may expand to (each point runs every replication)."""
_SWEEP = "sweep"
_UNSWEEPABLE = ("extends", _SWEEP)  # inheritance is resolved before the grid is expanded


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep's grid: its name, the values it sets, its validated scenario."""

    name: str
    """``p01``, ``p02``… in grid order (the last key path varies fastest)."""
    values: tuple[tuple[str, Any], ...]
    """(key path, value) for each swept key path, in the ``[sweep]`` table's order."""
    scenario: Scenario

    def label(self) -> str:
        """The values in words: ``policy.threshold = 0.6, run.horizon_days = 14``."""
        return ", ".join(f"{path} = {_shown(value)}" for path, value in self.values)


@dataclass(frozen=True)
class Sweep:
    """A scenario file's ``[sweep]``: the swept key paths and every point of their grid."""

    source: str
    """The file that was loaded."""
    title: str
    question: str
    parameters: tuple[str, ...]
    """The swept key paths, in the ``[sweep]`` table's order."""
    points: tuple[SweepPoint, ...]


def load_scenario(path: str | Path) -> Scenario:
    """Read, inherit and validate one scenario file; raise ``ScenarioError`` on any fault.

    A file with a ``[sweep]`` is read as its base scenario: the sweep table is checked, then
    set aside (``load_sweep`` expands it).
    """
    file = Path(path).resolve()
    data, origins, chain = read_merged(file)
    if _SWEEP in data:
        _sweep_axes(data.pop(_SWEEP), data, origins, str(file))
    return validate(data, str(file), origins, tuple(chain[1:]))


def load_sweep(path: str | Path) -> Sweep:
    """Read a file with a ``[sweep]`` and validate every point of its grid; raise ``ScenarioError``.

    Each point is the merged document with the point's values set at their key paths, validated
    like any scenario: a bad value is blamed on the file that holds the ``[sweep]``, with its key
    path. The base document alone need not be valid (a sweep may supply a required key).
    """
    file = Path(path).resolve()
    data, origins, chain = read_merged(file)
    if _SWEEP not in data:
        raise ScenarioError(
            file,
            None,
            None,
            "a [sweep] table of key paths to lists of values "
            '("policy.threshold" = [0.7, 0.8]); this file has none',
        )
    axes = _sweep_axes(data.pop(_SWEEP), data, origins, str(file))
    for stale in [p for p in origins if p[0] == _SWEEP]:
        del origins[stale]
    grid = list(itertools.product(*(values for _, values, _ in axes)))
    width = max(2, len(str(len(grid))))
    points = []
    for number, combination in enumerate(grid, start=1):
        doc, owners = data, dict(origins)
        for (keys, _, blamed), value in zip(axes, combination, strict=True):
            doc = _merge(doc, _nested(keys, value), owners, (), blamed)
        scenario = validate(doc, str(file), owners, tuple(chain[1:]))
        values = tuple(
            (".".join(keys), value) for (keys, _, _), value in zip(axes, combination, strict=True)
        )
        points.append(SweepPoint(f"p{number:0{width}d}", values, scenario))
    first = points[0].scenario
    parameters = tuple(".".join(keys) for keys, _, _ in axes)
    return Sweep(str(file), first.title, first.question, parameters, tuple(points))


def shipped_scenarios() -> list[Path]:
    """The shipped scenario files, sorted by name."""
    return sorted(SHIPPED.glob("*.toml"))


def read_merged(
    file: Path, _seen: tuple[Path, ...] = ()
) -> tuple[dict[str, Any], Origins, list[str]]:
    """The document of ``file`` merged over its ancestors, who set each key, and the chain.

    The chain lists ``file`` then its parents, nearest first.
    """
    if file in _seen:
        loop = " → ".join(p.name for p in (*_seen, file))
        raise ScenarioError(
            _seen[-1],
            "extends",
            file.name,
            f"a parent that does not extend back to it (cycle: {loop})",
        )
    own = _read_toml(file)
    parent_name = own.get("extends")
    if parent_name is None:
        return own, _origins(own, str(file)), [str(file)]
    if not isinstance(parent_name, str):
        raise ScenarioError(file, "extends", parent_name, "a file name (a string)")
    parent = (file.parent / parent_name).resolve()
    if not parent.is_file():
        raise ScenarioError(
            file, "extends", parent_name, f"an existing scenario file (no file {parent})"
        )
    base, origins, chain = read_merged(parent, (*_seen, file))
    base.pop("extends", None)
    merged = _merge(base, own, origins, (), str(file))
    return merged, origins, [str(file), *chain]


def _sweep_axes(
    raw: Any, doc: dict[str, Any], origins: Origins, file: str
) -> list[tuple[tuple[str, ...], list[Any], str]]:
    """Check a ``[sweep]`` table: (key path, values, the file that set them) per swept path.

    Whether a key path names a real key, and each value its type and bounds, is left to
    ``validate`` on each grid point: the schema's rules stay in one place.
    """
    blame = origins.get((_SWEEP,), file)
    if not isinstance(raw, dict) or not raw:
        raise ScenarioError(
            blame,
            _SWEEP,
            raw,
            "a [sweep] table of key paths to non-empty lists "
            'of values ("policy.threshold" = [0.7, 0.8])',
        )
    axes: list[tuple[tuple[str, ...], list[Any], str]] = []
    # A quoted key ("policy.threshold") and nested tables ([sweep.policy] threshold) mean the same.
    for path, values in _leaves(raw, ()):
        dotted = ".".join(path)
        blamed = _owner(origins, (_SWEEP, *path)) or blame
        where = f"sweep.{dotted}" if len(path) == 1 else f'sweep."{dotted}"'
        if not all(path) or path[0] in _UNSWEEPABLE:
            raise ScenarioError(
                blamed, where, values, "a key path of the scenario to sweep (not extends or sweep)"
            )
        if not isinstance(values, list) or not values:
            raise ScenarioError(blamed, where, values, "a non-empty list of values to try")
        if any(
            values[i] == values[j] and type(values[i]) is type(values[j])
            for i in range(len(values))
            for j in range(i)
        ):
            raise ScenarioError(blamed, where, values, "distinct values, each listed once")
        if any(p[: len(path)] == path or path[: len(p)] == p for p, _, _ in axes):
            raise ScenarioError(
                blamed, where, values, "a key path swept once, not inside another swept one"
            )
        table: Any = doc
        for depth, key in enumerate(path[:-1]):
            table = table.get(key) if isinstance(table, dict) else None
            if table is not None and not isinstance(table, dict):
                inner = ".".join(path[: depth + 1])
                raise ScenarioError(
                    blamed,
                    where,
                    values,
                    f"a key path into tables ({inner} is a value, not a table)",
                )
        axes.append((path, values, blamed))
    points = math.prod(len(values) for _, values, _ in axes)
    if points > MAX_SWEEP_POINTS:
        shape = " × ".join(str(len(values)) for _, values, _ in axes)
        raise ScenarioError(
            blame,
            _SWEEP,
            f"{shape} = {points} points",
            f"at most {MAX_SWEEP_POINTS} grid points (sweep fewer values, or split the sweep)",
        )
    return axes


def _leaves(table: dict[str, Any], prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for key, value in table.items():
        path = (*prefix, *key.split("."))
        out.extend(_leaves(value, path) if isinstance(value, dict) else [(path, value)])
    return out


def _owner(origins: Origins, path: tuple[str, ...]) -> str | None:
    for n in range(len(path), 0, -1):
        if path[:n] in origins:
            return origins[path[:n]]
    return None


def _nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {path[-1]: value}
    for key in reversed(path[:-1]):
        doc = {key: doc}
    return doc


def _shown(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ScenarioError(file, None, None, "an existing scenario file") from None
    except tomllib.TOMLDecodeError as error:  # its message carries the line and column
        raise ScenarioError(file, None, None, f"valid TOML ({error})") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(file, None, None, f"a readable UTF-8 TOML file ({error})") from error


def _origins(doc: dict[str, Any], file: str, prefix: tuple[str, ...] = ()) -> Origins:
    out: Origins = {}
    for key, value in doc.items():
        out[(*prefix, key)] = file
        if isinstance(value, dict):
            out.update(_origins(value, file, (*prefix, key)))
    return out


def _merge(
    base: dict[str, Any], over: dict[str, Any], origins: Origins, prefix: tuple[str, ...], file: str
) -> dict[str, Any]:
    """``over`` deep-merged into a copy of ``base``; ``origins`` updated for what ``over`` sets."""
    out = dict(base)
    for key, value in over.items():
        path = (*prefix, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, origins, path, file)
        else:
            for stale in [p for p in origins if p[: len(path)] == path]:
                del origins[stale]
            out[key] = value
            origins.update(_origins({key: value}, file, prefix))
    return out
