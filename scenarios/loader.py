"""Reading scenario files: TOML, ``extends`` inheritance and deep-merged overrides.

A file may name a parent (``extends = "baseline-fixed.toml"``, relative to its own folder);
the child's tables are merged key by key into the parent's (nested tables merged, lists and
values replaced), so a variant is a few lines over a baseline. Each merged value remembers the
file that set it, so validation blames the right file.

Not responsible for the rules themselves (``scenarios.schema``) nor for running.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from scenarios.errors import ScenarioError
from scenarios.schema import Scenario, validate

__all__ = ["SHIPPED", "load_scenario", "read_merged", "shipped_scenarios"]

SHIPPED = Path(__file__).resolve().parent / "files"
"""The folder of the scenarios shipped with the project."""

Origins = dict[tuple[str, ...], str]


def load_scenario(path: str | Path) -> Scenario:
    """Read, inherit and validate one scenario file; raise ``ScenarioError`` on any fault."""
    file = Path(path).resolve()
    data, origins, chain = read_merged(file)
    return validate(data, str(file), origins, tuple(chain[1:]))


def shipped_scenarios() -> list[Path]:
    """The shipped scenario files, sorted by name."""
    return sorted(SHIPPED.glob("*.toml"))


def read_merged(file: Path, _seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], Origins, list[str]]:
    """The document of ``file`` merged over its ancestors, who set each key, and the chain.

    The chain lists ``file`` then its parents, nearest first.
    """
    if file in _seen:
        loop = " → ".join(p.name for p in (*_seen, file))
        raise ScenarioError(_seen[-1], "extends", file.name, f"a parent that does not extend back to it (cycle: {loop})")
    own = _read_toml(file)
    parent_name = own.get("extends")
    if parent_name is None:
        return own, _origins(own, str(file)), [str(file)]
    if not isinstance(parent_name, str):
        raise ScenarioError(file, "extends", parent_name, "a file name (a string)")
    parent = (file.parent / parent_name).resolve()
    if not parent.is_file():
        raise ScenarioError(file, "extends", parent_name, f"an existing scenario file (no file {parent})")
    base, origins, chain = read_merged(parent, (*_seen, file))
    base.pop("extends", None)
    merged = _merge(base, own, origins, (), str(file))
    return merged, origins, [str(file), *chain]


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


def _merge(base: dict[str, Any], over: dict[str, Any], origins: Origins, prefix: tuple[str, ...], file: str) -> dict[str, Any]:
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
