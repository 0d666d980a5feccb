"""``twin demo --json``: the JSON summary alone on stdout, the progress on stderr."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from valley_twin import cli
from valley_twin.cli import main
from valley_twin.live_demo import FeedResult, demo_summary, feed_summary, write_demo_summary

FEED = FeedResult(
    payload_lines={"fill.jsonl": 120, "energy.jsonl": 14},
    seconds=12.345,
    stats={
        "received": 134,
        "committed": 130,
        "duplicates": 4,
        "rejected": 0,
        "batches": 9,
        "rejected_by_reason": {},
        "commit_latency_ms": {"p50": 3},
    },
    adapter_stats={"lorawan-ultrasonic": {"payloads": 120, "acknowledged": 120}},
)


def test_demo_accepts_json() -> None:
    args = cli._parser().parse_args(["demo", "--json", "--days", "0", "--no-report"])
    assert args.json is True and args.days == 0 and args.report is None
    assert cli._parser().parse_args(["demo"]).json is False


def test_the_feed_as_plain_values() -> None:
    assert feed_summary(FEED) == {
        "payload_lines": {"fill.jsonl": 120, "energy.jsonl": 14},
        "seconds": 12.3,
        "ingest": {"received": 134, "committed": 130, "duplicates": 4, "rejected": 0, "batches": 9},
        "rejected_by_reason": {},
        "adapters": {"lorawan-ultrasonic": {"payloads": 120, "acknowledged": 120}},
    }


def test_the_summary_carries_the_report_s_own_kpis(tmp_path: Path) -> None:
    (tmp_path / "kpis.json").write_text(json.dumps({"kpis": [{"policy": "threshold"}]}))
    facts = {"assets": {"recorded": 3516}, "feed": feed_summary(FEED)}
    summary = demo_summary(
        store="sqlite:///d.sqlite", seed=42, days=14, facts=facts, report=tmp_path, exit_code=0
    )
    out = io.StringIO()
    write_demo_summary(summary, out)
    written = json.loads(out.getvalue())
    assert written["comparison"] == {
        "report": str(tmp_path),
        "kpis": {"kpis": [{"policy": "threshold"}]},
    }
    assert written["assets"] == {"recorded": 3516} and written["feed"]["ingest"]["committed"] == 130
    assert (written["store"], written["seed"], written["days"], written["exit_code"]) == (
        "sqlite:///d.sqlite",
        42,
        14,
        0,
    )


def test_a_failed_demo_never_passes_off_an_earlier_report(tmp_path: Path) -> None:
    (tmp_path / "kpis.json").write_text(json.dumps({"kpis": ["stale"]}))
    summary = demo_summary(store="s", seed=1, days=0, facts={}, report=tmp_path, exit_code=3)
    assert summary["comparison"] == {"report": str(tmp_path), "kpis": None}
    assert summary["assets"] is None and summary["feed"] is None
    no_report = demo_summary(store="s", seed=1, days=0, facts={}, report=None, exit_code=0)
    assert no_report["comparison"] is None


def test_with_json_stdout_holds_the_summary_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def fake_demo(args: Any, facts: dict[str, Any]) -> int:
        print("Valley Twin — progress the demo prints")
        facts["assets"] = {"recorded": 7}
        return 0

    monkeypatch.setattr(cli, "_demo", fake_demo)
    store = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    code = main(["--store", store, "demo", "--json", "--no-report", "--days", "0"])
    out, err = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["assets"] == {"recorded": 7}  # nothing but the JSON
    assert "progress the demo prints" in err and "twin serve" not in out


@pytest.mark.slow
def test_a_short_demo_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    code = main(["--store", store, "demo", "--json", "--days", "0", "--no-report"])
    out, err = capsys.readouterr()
    assert code == 0
    summary = json.loads(out)
    assert summary["store"] == store and summary["assets"]["recorded"] > 3_000
    assert summary["feed"] is None and summary["comparison"] is None
    assert "28 communes" in err
