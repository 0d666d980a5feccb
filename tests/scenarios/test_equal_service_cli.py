"""`twin scenario compare FILES --equal-service RATE` hands the files and the rate to
``scenarios.sweep.compare_at_equal_service``."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from scenarios import SHIPPED
from scenarios.schema import Scenario
from valley_twin import scenario_commands


def test_the_rate_reaches_the_equal_service_comparison(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[list[str], float]] = []

    def fake(
        scenarios: Sequence[Scenario], rate: float, *, progress: object = None
    ) -> list[object]:
        calls.append(([s.title for s in scenarios], rate))
        raise ValueError("stopped by the test")

    monkeypatch.setattr(scenario_commands, "compare_at_equal_service", fake)
    files = [str(SHIPPED / "baseline-fixed.toml"), str(SHIPPED / "threshold.toml")]
    code = scenario_commands.main(["compare", *files, "--equal-service", "2.5"])
    assert calls == [(["Fixed rounds (today)", "Collect at 80 % full"], 2.5)]
    assert code == scenario_commands.EXIT_SCENARIO_ERROR
    assert "stopped by the test" in capsys.readouterr().err


@pytest.mark.parametrize("rate", ["0", "-1", "inf", "many"])
def test_a_rate_must_be_a_positive_number(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        scenario_commands.main(
            ["compare", str(SHIPPED / "threshold.toml"), "--equal-service", rate]
        )
    assert stop.value.code == 2 and "--equal-service" in capsys.readouterr().err
