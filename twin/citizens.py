"""Citizens in the twin: commands that seal personal text, reads that unseal it, forgetting.

What is personal, and sealed with the citizen's own key (:mod:`twin.privacy`) before it
becomes part of an event: a report's text and photo reference, a report's status notes, an
idea's title and text. A report's place is kept on a grid (:data:`twin.privacy.REPORT_GRID_M`),
never as sent. Everything else (pseudonym, commune, categories, references, statuses, votes,
instants) stays in clear: it is what statistics are made of, and it survives forgetting.

Readers (``twin show``, projections, exports) go through :class:`PersonalData`:
``personal_text(citizen_id, value)`` gives the text while the key exists and None once the
citizen is forgotten. They should keep tokens, not what this returns, and unseal when they
show or write: a cleartext copy kept elsewhere is not erased by forgetting.

Not responsible for the domain's rules (:class:`domain.Citizen`) nor for keys (:mod:`twin.privacy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from eventsourcing.utils import get_topic

from adapters.wire import KINDS, Envelope, WireError, peek_kind_and_asset
from domain import Citizen, DomainError, Position
from domain.citizens import (
    MAX_IDEA_TITLE,
    MAX_PHOTO_REF,
    MAX_REPORT_TEXT,
    MAX_STATUS_NOTE,
    check_personal_text,
)
from twin.dead_letter_bounds import bounded_reason
from twin.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    OutsideValleyError,
    TwinError,
)
from twin.geography import Commune, Geography, check_lon_lat, load_geography
from twin.present import event_view
from twin.privacy import (
    CitizenForgottenError,
    CitizenKeys,
    KeyState,
    SealedTextError,
    is_token,
    snap_to_grid,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from eventsourcing.domain import DomainEventProtocol

    from twin.application import ValleyTwin

FORGOTTEN = "[forgotten]"  # shown in place of personal text once the citizen's key is destroyed
UNREADABLE = "[unreadable]"  # shown for a token that does not open (altered, or another citizen's)

# Which attributes of which events hold personal text, for projections and exports.
PERSONAL_EVENT_FIELDS: dict[type[Any], tuple[str, ...]] = {
    Citizen.ReportFiled: ("text", "photo_ref"),
    Citizen.ReportStatusChanged: ("note",),
    Citizen.IdeaSubmitted: ("title", "text"),
}
PERSONAL_REPORT_FIELDS = ("text", "photo_ref")  # in ``Citizen.reports[ref]``
PERSONAL_IDEA_FIELDS = ("title", "text")  # in ``Citizen.ideas[ref]``
ReportStatus = Literal["acknowledged", "resolved", "rejected"]
_REGISTERED_TOPIC = get_topic(Citizen.Registered)


class UnknownCitizenError(TwinError):
    """No citizen (nor a key of one) is known by this reference."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        super().__init__(f"no citizen is known as {reference!r} (give their pseudonym or id)")


# ---- commands on a loaded citizen (ingest and Citizens share these) ------------------------
def report_position(geography: Geography, lon: object, lat: object) -> Position:
    """Where a report is kept: its commune checked on the point sent, the point then coarsened."""
    lon, lat = check_lon_lat(lon, lat)
    position, commune = geography.locate(lon, lat)
    return snap_to_grid(position, lambda centre: _in_commune(geography, centre, commune))


def _in_commune(geography: Geography, position: Position, commune: Commune) -> bool:
    found = geography.commune_at(position)
    return found is not None and found.insee == commune.insee


def file_report(
    keys: CitizenKeys,
    geography: Geography,
    citizen: Citizen,
    report_ref: str,
    category: str,
    lon: object,
    lat: object,
    text: object,
    at: datetime,
    photo_ref: object = None,
) -> None:
    """Record a report on ``citizen`` (not saved): text checked then sealed, place coarsened."""
    clear_text = check_personal_text("text", text, MAX_REPORT_TEXT)
    clear_photo = (
        None if photo_ref is None else check_personal_text("photo_ref", photo_ref, MAX_PHOTO_REF)
    )
    position = report_position(geography, lon, lat)
    citizen.file_report(
        report_ref,
        category,
        position,
        keys.seal(citizen.id, clear_text),
        at,
        photo_ref=None if clear_photo is None else keys.seal(citizen.id, clear_photo),
    )


def submit_idea(
    keys: CitizenKeys, citizen: Citizen, idea_ref: str, title: object, text: object, at: datetime
) -> str:
    """Record an idea on ``citizen`` (not saved), title and text sealed; return its id."""
    clear_title = check_personal_text("title", title, MAX_IDEA_TITLE)
    clear_text = check_personal_text("text", text, MAX_REPORT_TEXT)
    return citizen.submit_idea(
        idea_ref, keys.seal(citizen.id, clear_title), keys.seal(citizen.id, clear_text), at
    )


def move_report(
    keys: CitizenKeys,
    citizen: Citizen,
    status: ReportStatus,
    report_ref: str,
    at: datetime,
    note: object = "",
) -> None:
    """Acknowledge, resolve or reject a report (not saved), its note sealed if there is one."""
    clear = check_personal_text("note", note, MAX_STATUS_NOTE, allow_empty=True)
    # A service's note is about the citizen's report, and may quote it: sealed with their key.
    sealed = keys.seal(citizen.id, clear) if clear else ""
    command = {
        "acknowledged": citizen.acknowledge_report,
        "resolved": citizen.resolve_report,
        "rejected": citizen.reject_report,
    }[status]
    command(report_ref, at, note=sealed)


# ---- the service ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Forgotten:
    """What forgetting a citizen did."""

    citizen_id: UUID
    pseudonym: str | None  # None for a pseudonym only ever seen in refused messages
    key_destroyed: bool  # False: there was no key left (forgotten before, or never sealed)
    reports: int  # still counted: category, place, statuses and instants are kept
    ideas: int


class PersonalData:
    """Reading citizens' personal text: in clear while their key exists, None once forgotten."""

    def __init__(self, twin: ValleyTwin, keys: CitizenKeys | None = None) -> None:
        self.twin = twin
        self.keys = keys or CitizenKeys(twin)

    def personal_text(self, citizen_id: UUID, value: str | None) -> str | None:
        """The text a stored value hides, or None once the citizen is forgotten.

        ``value`` is what an event or the aggregate holds: a token, an empty note, None (no
        photo), or text recorded in clear before sealing existed (returned as is until the
        citizen is forgotten, then withheld like the rest, though the store still holds it).
        Raises :class:`twin.privacy.SealedTextError` for a token that does not open.
        """
        return self._reader(citizen_id)(value)

    def view(self, citizen: Citizen) -> dict[str, Any]:
        """The citizen's state as plain values, personal text in clear or :data:`FORGOTTEN`."""
        state = citizen.as_dict()
        shown = self._shown(citizen.id)
        for report in state.get("reports", {}).values():
            for name in PERSONAL_REPORT_FIELDS:
                if name in report:
                    report[name] = shown(report[name])
        for idea in state.get("ideas", {}).values():
            for name in PERSONAL_IDEA_FIELDS:
                if name in idea:
                    idea[name] = shown(idea[name])
        state["personal_data"] = describe_personal_data(self.keys.state(citizen.id))
        return state

    def event_view(
        self, event: DomainEventProtocol[UUID], shown: Callable[[Any], Any] | None = None
    ) -> dict[str, Any]:
        """One event as :func:`twin.present.event_view` gives it, personal text unsealed."""
        view = event_view(event)
        fields = PERSONAL_EVENT_FIELDS.get(type(event), ())
        if fields:
            shown = shown or self._shown(event.originator_id)
            attributes = view.get("attributes", {})
            for name in fields:
                if name in attributes:
                    attributes[name] = shown(attributes[name])
        return view

    def idea_titles(self, idea_ids: Iterable[str]) -> dict[str, str]:
        """The titles of these ideas (``idea_ranking.idea_id``), unsealed, for the idea box.

        The read model keeps no link from an idea to its author, so the author comes from the
        idea's own ``IdeaSubmitted`` event in the log (read by topic). A forgotten author's
        title reads :data:`FORGOTTEN`; an idea not submitted yet is absent.
        """
        wanted, titles = set(idea_ids), {}
        for event in self.twin.domain_events(topics=(get_topic(Citizen.IdeaSubmitted),)):
            if event.idea_id in wanted:  # type: ignore[attr-defined]
                titles[event.idea_id] = self._shown(event.originator_id)(event.title)  # type: ignore[attr-defined]
        return titles

    def history(self, citizen_id: UUID) -> list[dict[str, Any]]:
        """Every event of the citizen, personal text unsealed (the key read once)."""
        shown = self._shown(citizen_id)
        return [self.event_view(event, shown) for event in self.twin.history(citizen_id)]

    def _reader(self, citizen_id: UUID) -> Callable[[str | None], str | None]:
        opener: Callable[[str], bytes | None] | None = None
        forgotten: bool | None = None

        def read(value: str | None) -> str | None:
            nonlocal opener, forgotten
            if value is None or value == "":
                return value
            if is_token(value):
                if opener is None:
                    opener = self.keys.opener(citizen_id)
                data = opener(value)
                return None if data is None else data.decode("utf-8")
            if forgotten is None:
                forgotten = self.keys.is_forgotten(citizen_id)
            return None if forgotten else value

        return read

    def _shown(self, citizen_id: UUID) -> Callable[[Any], Any]:
        read = self._reader(citizen_id)

        def shown(value: Any) -> Any:
            try:
                text = read(value)
            except SealedTextError:
                return UNREADABLE
            return FORGOTTEN if text is None and value is not None else text

        return shown


def is_citizen(twin: ValleyTwin, aggregate_id: UUID) -> bool:
    """True if this id is a registered citizen's, read from its first event (nothing loaded)."""
    first = twin.recorder.select_events(aggregate_id, limit=1)
    return bool(first) and first[0].topic == _REGISTERED_TOPIC


def describe_personal_data(state: KeyState | None) -> str:
    """One line on the state of a citizen's personal data."""
    if state is None:
        return "none sealed yet"
    if state.forgotten_at is not None:
        return (
            f"forgotten on {state.forgotten_at.isoformat(timespec='seconds')}: unreadable for good"
        )
    return f"sealed with the citizen's key (made {state.created_at.isoformat(timespec='seconds')})"


class Citizens(PersonalData):
    """The twin's citizen service: commands that seal, reads that unseal, forgetting."""

    def __init__(
        self, twin: ValleyTwin, keys: CitizenKeys | None = None, geography: Geography | None = None
    ) -> None:
        super().__init__(twin, keys)
        self.geography = geography or load_geography()

    def register(self, pseudonym: str, commune_insee: str, at: datetime) -> Citizen:
        """Register a citizen of one of the 28 communes under a pseudonym."""
        commune = self.geography.commune(commune_insee)
        citizen = Citizen.register(pseudonym=pseudonym, commune_insee=commune.insee, at=at)
        self.twin.add(citizen)
        return citizen

    def file_report(
        self,
        pseudonym: str,
        report_ref: str,
        category: str,
        lon: float,
        lat: float,
        text: str,
        at: datetime,
        photo_ref: str | None = None,
    ) -> Citizen:
        """File a report at a WGS84 point: text sealed, place coarsened."""
        return self.twin.change(
            Citizen,
            pseudonym,
            lambda c: file_report(
                self.keys, self.geography, c, report_ref, category, lon, lat, text, at, photo_ref
            ),
        )

    def submit_idea(
        self, pseudonym: str, idea_ref: str, title: str, text: str, at: datetime
    ) -> Citizen:
        """Submit an idea, title and text sealed."""
        return self.twin.change(
            Citizen, pseudonym, lambda c: submit_idea(self.keys, c, idea_ref, title, text, at)
        )

    def move_report(
        self, pseudonym: str, report_ref: str, status: ReportStatus, at: datetime, note: str = ""
    ) -> Citizen:
        """Acknowledge, resolve or reject a citizen's report, with an optional (sealed) note."""
        return self.twin.change(
            Citizen, pseudonym, lambda c: move_report(self.keys, c, status, report_ref, at, note)
        )

    def resolve(self, reference: str) -> UUID:
        """The id of the citizen named by a UUID or pseudonym (or a pseudonym with a key only)."""
        candidates: list[UUID] = []
        try:
            candidates.append(UUID(reference))
        except ValueError:
            pass
        try:
            candidates.append(Citizen.id_for(reference))
        except DomainError:
            pass
        for candidate in candidates:
            if self.is_citizen(candidate) or self.keys.state(candidate) is not None:
                return candidate
        raise UnknownCitizenError(reference)

    def is_citizen(self, aggregate_id: UUID) -> bool:
        """True if this id is a registered citizen's (not a bin's, a receipt's…)."""
        return is_citizen(self.twin, aggregate_id)

    def load(self, citizen_id: UUID) -> Citizen | None:
        """The registered citizen with this id, or None."""
        if not self.is_citizen(citizen_id):
            return None
        citizen: Any = self.twin.repository.get(citizen_id)
        assert isinstance(citizen, Citizen)
        return citizen

    def forget(self, reference: str) -> Forgotten:
        """Destroy the citizen's key: their history stays and counts, their text is gone."""
        citizen_id = self.resolve(reference)
        destroyed = self.keys.forget(citizen_id)
        citizen = self.load(citizen_id)
        return Forgotten(
            citizen_id=citizen_id,
            pseudonym=None if citizen is None else citizen.code,
            key_destroyed=destroyed,
            reports=0 if citizen is None else len(citizen.reports),
            ideas=0 if citizen is None else len(citizen.ideas),
        )


# ---- dead letters of citizens' messages ------------------------------------------------------
# The rule (docs/privacy.md, "Refused messages"): a refused message's bytes are kept in clear
# only when they are proven not to be a citizen's: it decoded with a kind that is not
# ``citizen.*``, or its single frame is exactly one msgpack map (nothing after it) whose kind
# is a known kind that is not ``citizen.*``. Any other refused message could be a citizen's (a
# citizen kind, a misspelt or missing kind, bytes after the map, several frames, bytes that
# are no msgpack at all): its bytes are sealed with the key of the pseudonym it names, or not
# kept, and its reason names no value.
@dataclass(frozen=True)
class CitizenMessage:
    """A refused message that is, or could be, a citizen's, as far as it could be read."""

    kind: str | None  # as it claims (None if unreadable)
    pseudonym: str | None  # its ``asset``, read leniently (None if unreadable)
    declared: bool  # True if its kind says it is a citizen's: it may make the citizen a key


@dataclass(frozen=True)
class Refusal:
    """A refused message as ingest may tell it and keep it: a citizen's without its values."""

    reason: str  # for the reply, the logs and the store: a citizen's names no value
    raw: bytes
    citizen: CitizenMessage | None  # None: proven not a citizen's

    def kept(self, keys: CitizenKeys, raw: bytes | None = None) -> tuple[bytes, str]:
        """The bytes to store (of ``raw``, by default the whole message) and the reason to
        store with them: a message that could be a citizen's is sealed with their key, so that
        forgetting them erases this copy too, or not kept at all when there is no key to seal
        it with. Call it only for a dead letter that will be stored: sealing a message whose
        kind is a citizen's makes the citizen's key if they have none yet."""
        kept = self.raw if raw is None else raw
        if self.citizen is None:
            return kept, self.reason
        sealed = sealed_dead_letter(keys, self.citizen, kept)
        if sealed is None:
            return b"", self.reason + " [message not kept: it could hold personal data]"
        return sealed, self.reason


def refusal(
    raw: bytes,
    envelope: Envelope | None,
    reason: str,
    error: BaseException | None,
    one_frame: bool = True,
) -> Refusal:
    """How a refused message is told and kept, once ingest knows why it refused it.

    ``one_frame`` is False when the message did not arrive as exactly one frame (its frames
    joined are ``raw``): such a message is never proven not to be a citizen's."""
    personal = citizen_message(raw, envelope, one_frame)
    if personal is not None and error is not None:
        reason = withheld_reason(error, personal.kind or "a message of unknown kind")
    return Refusal(bounded_reason(reason), raw, personal)


def citizen_message(
    raw: bytes, envelope: Envelope | None, one_frame: bool = True
) -> CitizenMessage | None:
    """The refused message as a citizen's (so personal) unless proven otherwise: None only
    for a message that decoded with another kind, or whose one frame is exactly one msgpack
    map (read leniently) naming a known kind that is not a citizen's."""
    if envelope is not None and one_frame:
        if not _is_citizen_kind(envelope.kind):
            return None
        return CitizenMessage(envelope.kind, envelope.asset, declared=True)
    kind, asset = peek_kind_and_asset(raw)  # (None, None) unless exactly one map
    if one_frame and kind in KINDS and not _is_citizen_kind(kind):
        return None
    declared = kind is not None and kind.strip().lower().startswith("citizen")
    return CitizenMessage(kind, asset, declared)


def _is_citizen_kind(kind: str) -> bool:
    return kind.startswith("citizen.")


def withheld_reason(error: BaseException, kind: str) -> str:
    """Why a citizen's message was refused, naming the field and rule but never the value."""
    if isinstance(error, WireError):
        return f"{error.field}: {error.reason} (value withheld: personal data)"
    if isinstance(error, DomainError):
        return f"{error.rule} (field {error.field!r}, value withheld: personal data)"
    if isinstance(error, OutsideValleyError):
        return (
            "the report's point lies outside the 28 communes of the Vallée de l'Hérault "
            "(lon, lat withheld)"
        )
    if isinstance(error, InvalidInputError):
        return f"{error.field}: invalid (value withheld: personal data)"
    if isinstance(error, NotFoundError | AlreadyExistsError | CitizenForgottenError):
        return str(error)  # names the pseudonym, which the receipt's message names anyway
    name = type(error).__name__
    return f"internal error while applying {kind}: {name} (details withheld: personal data)"


def sealed_dead_letter(keys: CitizenKeys, message: CitizenMessage, raw: bytes) -> bytes | None:
    """The bytes to keep of a refused message that could be a citizen's: sealed with their key,
    so forgetting them erases it too; None (keep nothing) without a usable pseudonym, once
    forgotten, or when the message does not say it is a citizen's and the pseudonym it names
    has no key yet (a bin's code in a misspelt sensor message must not make a citizen's key)."""
    if message.pseudonym is None:
        return None
    try:
        citizen_id = Citizen.id_for(message.pseudonym)
    except DomainError:
        return None
    try:
        if message.declared:
            return keys.seal_bytes(citizen_id, raw).encode("ascii")
        sealed = keys.seal_bytes_with_existing_key(citizen_id, raw)
    except CitizenForgottenError:
        return None
    return None if sealed is None else sealed.encode("ascii")
