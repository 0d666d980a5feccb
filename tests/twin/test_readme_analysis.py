"""The analysts' example in the README runs as written, on a real store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain import Bin, Position
from twin import open_twin

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_analysis_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
            for n in range(1, 3)
        ]
    )
    for day in range(20):
        for n in range(1, 3):
            twin.measure_fill_level(
                f"B-34114-GLA-{n:04d}", 4.0 * day + n, start + timedelta(days=day, hours=n)
            )
    twin.close()
    monkeypatch.setenv("TWIN_STORE", store)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    (block,) = [b for b in blocks if "from twin.analysis import" in b]
    namespace: dict[str, object] = {"__name__": "readme_analysis"}
    exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    assert len(namespace["events"]) == 21  # installed, then 20 readings  # type: ignore[arg-type]
    daily = namespace["daily"]
    assert list(daily.columns) == ["B-34114-GLA-0001", "B-34114-GLA-0002"]  # type: ignore[attr-defined]
    assert len(daily) == 14  # type: ignore[arg-type]
    assert daily.iloc[0, 0] == pytest.approx(1.0)  # type: ignore[attr-defined]
    valley = namespace["valley"]
    row = valley.set_index("code").loc["B-34114-GLA-0002"]  # type: ignore[attr-defined]
    assert row["fill_percent"] == pytest.approx(4.0 * 5 + 2)  # as of 6 May 12:00: its 02:00 reading
