"""The Citizen aggregate: a pseudonymous resident who files reports, submits and votes ideas.

The twin knows a citizen by a pseudonym only. Personal text (a report's text, photo reference
and status notes, an idea's title and text) reaches these commands already sealed by the twin
(an opaque token per value, see ``twin.privacy``): the commands check the length of what they
store, the twin checks the plaintext against the ``MAX_*`` limits with
:func:`check_personal_text` before sealing it. Not responsible for encrypting personal data
or for honouring erasure requests (the twin's privacy layer does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from domain._aggregate import ValleyAggregate
from domain._checks import member, stored_text_limit, text
from domain.errors import DuplicateError, InvalidValueError, UnknownReferenceError
from domain.ids import aggregate_id, normalise_code
from domain.values import Position, ReportCategory

# Limits of personal text as the citizen writes it, in characters (the wire's limits too).
MAX_REPORT_TEXT = 2_000
MAX_IDEA_TITLE = 120
MAX_STATUS_NOTE = 500
MAX_PHOTO_REF = 200

# A report moves forward only: filed → acknowledged → resolved, or rejected before resolution.
_NEXT_STATUS = {
    "filed": {"acknowledged", "rejected"},
    "acknowledged": {"resolved", "rejected"},
    "resolved": set(),
    "rejected": set(),
}


def check_personal_text(
    field: str, value: object, max_length: int, allow_empty: bool = False
) -> str:
    """Return personal ``value`` stripped if it fits ``max_length`` characters, before sealing.

    Raises the errors the commands raise, naming the field but never showing the text.
    """
    return text(field, value, max_length=max_length, allow_empty=allow_empty, personal=True)


def idea_id(author_pseudonym: str, idea_ref: str) -> str:
    """Return the stable id of an idea, derived from its author and reference."""
    author = normalise_code("pseudonym", author_pseudonym)
    ref = normalise_code("idea_ref", idea_ref)
    return str(aggregate_id("idea", f"{author}/{ref}"))


class Citizen(ValleyAggregate):
    """A pseudonymous citizen of the valley."""

    KIND = "citizen"

    class Registered(ValleyAggregate.Created):
        code: str
        commune_insee: str

    def __init__(self, code: str, commune_insee: str) -> None:
        self.code = code
        self.commune_insee = commune_insee
        self.reports: dict[str, dict[str, Any]] = {}
        self.ideas: dict[str, dict[str, Any]] = {}
        self.votes: list[str] = []
        self.trainings: list[dict[str, str]] = []
        self.retired = False

    @classmethod
    def register(cls, *, pseudonym: str, commune_insee: str, at: datetime) -> Self:
        """Register a citizen under a pseudonym."""
        return cls._begin(
            cls.Registered,
            at,
            code=normalise_code("pseudonym", pseudonym),
            commune_insee=text("commune_insee", commune_insee, max_length=5),
        )

    class ReportFiled(ValleyAggregate.Event):
        report_ref: str
        category: str
        x_l93: float
        y_l93: float
        text: str
        photo_ref: str | None

        def apply(self, aggregate: Citizen) -> None:
            aggregate.reports[self.report_ref] = {
                "category": self.category,
                "x_l93": self.x_l93,
                "y_l93": self.y_l93,
                "text": self.text,
                "photo_ref": self.photo_ref,
                "status": "filed",
                "filed_at": self.timestamp,
            }

    def file_report(
        self,
        report_ref: str,
        category: str,
        position: Position,
        text_: str,
        at: datetime,
        photo_ref: str | None = None,
    ) -> None:
        """File a report (an overflowing bin, a broken street light…) at a position."""
        ref = normalise_code("report_ref", report_ref)
        if ref in self.reports:
            raise DuplicateError("a report with this reference exists", "report_ref", ref)
        self._record(
            self.ReportFiled,
            at,
            report_ref=ref,
            category=member("category", category, ReportCategory).value,
            x_l93=position.x,
            y_l93=position.y,
            text=text("text", text_, max_length=stored_text_limit(MAX_REPORT_TEXT)),
            photo_ref=(
                None
                if photo_ref is None
                else text("photo_ref", photo_ref, max_length=stored_text_limit(MAX_PHOTO_REF))
            ),
        )

    class ReportStatusChanged(ValleyAggregate.Event):
        report_ref: str
        status: str
        note: str

        def apply(self, aggregate: Citizen) -> None:
            report = aggregate.reports[self.report_ref]
            report["status"] = self.status
            report[f"{self.status}_at"] = self.timestamp

    def acknowledge_report(self, report_ref: str, at: datetime, note: str = "") -> None:
        """The service acknowledges a report."""
        self._move_report(report_ref, "acknowledged", note, at)

    def resolve_report(self, report_ref: str, at: datetime, note: str = "") -> None:
        """The service resolves an acknowledged report."""
        self._move_report(report_ref, "resolved", note, at)

    def reject_report(self, report_ref: str, at: datetime, note: str = "") -> None:
        """The service rejects a report it will not act on."""
        self._move_report(report_ref, "rejected", note, at)

    def _move_report(self, report_ref: str, status: str, note: str, at: datetime) -> None:
        ref = normalise_code("report_ref", report_ref)
        report = self.reports.get(ref)
        if report is None:
            raise UnknownReferenceError("no report has this reference", "report_ref", ref)
        if status not in _NEXT_STATUS[report["status"]]:
            raise InvalidValueError(
                f"a {report['status']} report cannot become {status}", "status", status
            )
        self._record(
            self.ReportStatusChanged,
            at,
            report_ref=ref,
            status=status,
            note=text(
                "note", note, max_length=stored_text_limit(MAX_STATUS_NOTE), allow_empty=True
            ),
        )

    class IdeaSubmitted(ValleyAggregate.Event):
        idea_id: str
        idea_ref: str
        title: str
        text: str

        def apply(self, aggregate: Citizen) -> None:
            aggregate.ideas[self.idea_ref] = {
                "idea_id": self.idea_id,
                "title": self.title,
                "text": self.text,
                "submitted_at": self.timestamp,
            }

    def submit_idea(self, idea_ref: str, title: str, text_: str, at: datetime) -> str:
        """Submit an idea to the idea box; return its id, which others vote on."""
        ref = normalise_code("idea_ref", idea_ref)
        if ref in self.ideas:
            raise DuplicateError("an idea with this reference exists", "idea_ref", ref)
        new_id = idea_id(self.code, ref)
        self._record(
            self.IdeaSubmitted,
            at,
            idea_id=new_id,
            idea_ref=ref,
            title=text("title", title, max_length=stored_text_limit(MAX_IDEA_TITLE)),
            text=text("text", text_, max_length=stored_text_limit(MAX_REPORT_TEXT)),
        )
        return new_id

    class IdeaVoted(ValleyAggregate.Event):
        # A vote cast offline reaches the twin when the app syncs: "once per idea" does not
        # depend on the order votes arrive in.
        LATE_ALLOWED = True
        idea_id: str

        def apply(self, aggregate: Citizen) -> None:
            aggregate.votes.append(self.idea_id)

    def vote_idea(self, voted_idea_id: str, at: datetime) -> None:
        """Vote for an idea, once per idea."""
        voted = text("idea_id", voted_idea_id, max_length=64)
        if voted in self.votes:
            raise DuplicateError("a citizen votes once per idea", "idea_id", voted)
        self._record(self.IdeaVoted, at, idea_id=voted)

    class TrainingAttended(ValleyAggregate.Event):
        service_code: str
        session_ref: str

        def apply(self, aggregate: Citizen) -> None:
            aggregate.trainings.append(
                {"service_code": self.service_code, "session_ref": self.session_ref}
            )

    def attend_training(self, service_code: str, session_ref: str, at: datetime) -> None:
        """Record that the citizen attended a training session."""
        self._record(
            self.TrainingAttended,
            at,
            service_code=normalise_code("service_code", service_code),
            session_ref=normalise_code("session_ref", session_ref),
        )
