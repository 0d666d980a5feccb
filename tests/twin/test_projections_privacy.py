"""The idea box: titles stay sealed in the read model and open through their author's key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tests.twin.test_projections import rows
from twin import open_twin
from twin.citizens import FORGOTTEN, Citizens, PersonalData
from twin.projections import catch_up

if TYPE_CHECKING:
    from pathlib import Path

AT = datetime(2024, 6, 1, 9, tzinfo=UTC)
TITLE = "Un composteur partagé rue des Tilleuls, MARQUEUR-7f3a"


def test_idea_titles_open_with_their_authors_key_and_close_when_forgotten(tmp_path: Path) -> None:
    twin = open_twin(f"sqlite:///{tmp_path / 'twin.sqlite'}")
    try:
        citizens = Citizens(twin)
        citizens.register("pseudo-idea-1", "34114", AT)
        citizens.register("pseudo-idea-2", "34114", AT)
        citizens.submit_idea(
            "pseudo-idea-1", "IDEA-1", TITLE, "Près de l'école.", AT + timedelta(hours=1)
        )
        citizens.submit_idea(
            "pseudo-idea-2", "IDEA-2", "Plus de bancs", "Au parc.", AT + timedelta(hours=2)
        )
        catch_up(twin)
        ideas = rows(twin, "idea_ranking", "submitted_at")
        assert all(
            "MARQUEUR" not in str(i["title"]) for i in ideas
        )  # tokens, as the events hold them
        ids = [i["idea_id"] for i in ideas]
        assert list(PersonalData(twin).idea_titles(ids).values()) == [TITLE, "Plus de bancs"]
        citizens.forget("pseudo-idea-1")
        assert list(PersonalData(twin).idea_titles(ids).values()) == [FORGOTTEN, "Plus de bancs"]
    finally:
        twin.close()
    assert b"MARQUEUR-7f3a" not in (tmp_path / "twin.sqlite").read_bytes()
