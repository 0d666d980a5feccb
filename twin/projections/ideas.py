"""The ``idea_ranking`` view: the idea box's ideas with their votes (rank by ``votes DESC``).

``title`` is the event's title field stored as it is: the privacy layer seals it into an
opaque token before it reaches the domain, and this view never decrypts it (whoever shows
titles decrypts them, so an erased citizen's titles become unreadable everywhere at once).
A vote can reach the log before the idea it is for (the domain does not require the idea to
be known): it is counted on a row whose title and submission time come with the idea.
Not responsible for who may vote (the domain: once per citizen and idea).
"""

from __future__ import annotations

from typing import Any

from domain import Citizen
from twin.projections.base import CannotApply, Notes, Page, Projection
from twin.projections.rows import Db, KeyedRows
from twin.projections.sql import Column, Table

IDEA_RANKING = Table(
    "idea_ranking",
    (
        Column("idea_id", "text"),
        Column("title", "text"),  # sealed token, as recorded
        Column("submitted_at", "instant"),
        Column("votes", "int"),
        Column("last_vote_at", "instant"),
    ),
    key=("idea_id",),
    indexes=(("votes",),),
)


class _IdeaPage(Page):
    def __init__(self, db: Db, notes: Notes) -> None:
        self.rows = KeyedRows(db, IDEA_RANKING)
        self.rows.load({event.idea_id for event in notes.events()})

    def _row(self, idea_id: str) -> dict[str, Any]:
        row = self.rows.get(idea_id)
        if row is None:
            row = {
                "idea_id": idea_id,
                "title": None,
                "submitted_at": None,
                "votes": 0,
                "last_vote_at": None,
            }
        return row

    def submitted(self, event: Any) -> None:
        row = self._row(event.idea_id)
        if row["submitted_at"] is not None:
            raise CannotApply(f"idea {event.idea_id} is submitted a second time")
        row["title"], row["submitted_at"] = event.title, event.timestamp
        self.rows.put(event.idea_id, row)

    def voted(self, event: Any) -> None:
        row = self._row(event.idea_id)
        row["votes"] += 1
        row["last_vote_at"] = event.timestamp
        self.rows.put(event.idea_id, row)

    def flush(self) -> None:
        self.rows.flush()


class IdeaRanking(Projection):
    """Idea box rankings."""

    name = "idea_ranking"
    description = "ideas with their votes and submission time (titles stay sealed)"
    tables = (IDEA_RANKING,)
    page_class = _IdeaPage
    handlers = {Citizen.IdeaSubmitted: _IdeaPage.submitted, Citizen.IdeaVoted: _IdeaPage.voted}
