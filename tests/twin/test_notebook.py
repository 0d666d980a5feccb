"""The analysts' example notebook stays valid and runs, cell by cell, against a small store.

No Jupyter needed: the notebook's JSON is read and its code cells are executed in order in one
namespace, as a kernel would, with ``TWIN_STORE`` naming a temporary store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.twin import valley_sample as sample

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "analyst.ipynb"


def load() -> dict[str, Any]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def test_the_notebook_is_nbformat_4_without_outputs() -> None:
    notebook = load()
    assert notebook["nbformat"] == 4 and notebook["nbformat_minor"] >= 5
    assert notebook["metadata"]["kernelspec"]["language"] == "python"
    ids = [cell["id"] for cell in notebook["cells"]]
    assert len(set(ids)) == len(ids)
    for cell in notebook["cells"]:
        assert cell["cell_type"] in ("markdown", "code")
        assert isinstance(cell["source"], list) and all(
            isinstance(line, str) for line in cell["source"]
        )
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None  # committed clean


@pytest.mark.slow
def test_the_notebook_runs_against_a_small_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'valley.sqlite'}"
    sample.build_sample(url)
    monkeypatch.setenv("TWIN_STORE", url)
    monkeypatch.chdir(tmp_path)
    import matplotlib  # loaded here: the fast tier, which leaves this test out, never pays for it

    matplotlib.use("Agg", force=True)  # no display: the plot cell draws off screen
    import matplotlib.pyplot as plt

    namespace: dict[str, Any] = {"__name__": "__notebook__"}
    code_cells = [cell for cell in load()["cells"] if cell["cell_type"] == "code"]
    try:
        for number, cell in enumerate(code_cells):
            exec(
                compile("".join(cell["source"]), f"{NOTEBOOK.name} code cell {number}", "exec"),
                namespace,
            )
    finally:
        plt.close("all")
    assert namespace["code"] == sample.GLASS  # the bin measured most recently
    assert not namespace["daily"].empty
    assert not namespace["footfall"].empty
    assert (tmp_path / "exports" / "valley.geojson").is_file()
    assert namespace["summary"].records == len(namespace["then"][~namespace["then"]["retired"]])
