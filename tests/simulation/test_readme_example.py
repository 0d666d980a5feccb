"""The simulation example in the README runs as written, on a real store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain import Bin, Position
from twin import open_twin

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.slow
def test_the_readme_simulation_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"sqlite:///{tmp_path / 'twin.sqlite'}"
    twin = open_twin(store)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    twin.add(
        *[
            Bin.install(
                code=f"B-34114-GLA-{n:04d}",
                stream="glass",
                capacity_l=3000,
                position=Position(745_900.0 + 300 * n, 6_284_300.0),
                commune_insee="34114",
                at=start - timedelta(days=30),
                depth_cm=180,
            )
            for n in range(1, 4)
        ]
    )
    for day in range(28):
        for n in range(1, 4):
            level = (5.0 * n * day) % 90
            twin.measure_fill_level(
                f"B-34114-GLA-{n:04d}", level, start + timedelta(days=day, hours=n)
            )
    twin.close()
    monkeypatch.setenv("TWIN_STORE", store)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    (block,) = [b for b in blocks if "from simulation import" in b]
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    recorded, what_if = namespace["recorded"], namespace["what_if"]
    assert recorded["collections"] == 0  # nothing was recorded as emptied
    assert what_if["collections"] > 0 and what_if["truck_km"] > 0  # the threshold policy goes out
