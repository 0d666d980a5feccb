"""The adapter written out in docs/adapters.md works as the page says."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapters.md"


def test_the_documented_adapter_runs_through_the_sdk() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 2
    namespace: dict[str, object] = {"__name__": "docs_adapters_example"}
    for block in blocks:  # the module, then its test
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    runner = namespace["runner"]
    assert runner.stats.queued == 1 and runner.outbox.pending() == 1  # type: ignore[attr-defined]
    runner.outbox.close()  # type: ignore[attr-defined]
