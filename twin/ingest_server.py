"""The ingest service: batching, the CURVE allow-list, the status file.

Messages from adapters come through a server transport (:mod:`adapters.wire`: a ZeroMQ
ROUTER by default, an in-memory one in tests); they are gathered into batches bounded by
count and by time, handed to :class:`twin.ingest.IngestProcessor`, and answered only once
committed. SIGINT and SIGTERM finish and acknowledge the batch in hand; SIGHUP (or editing the
file) reloads the allow-list. Not responsible for what messages mean (:mod:`twin.ingest`) nor
for sockets (:mod:`adapters.wire`).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.wire import (
    MAX_ID_LENGTH,
    RESERVED_SOURCES,
    CurveKeyPair,
    ServerFrame,
    ServerTransport,
    TransportError,
    ZmqServerTransport,
    encode_reply,
    load_keypair,
)
from twin.errors import TwinError
from twin.ingest import Incoming, IngestProcessor
from twin.key_scope import UNLIMITED, KeyScope, KeyScopeError

log = logging.getLogger(__name__)
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
_RELOAD_CHECK_S = 1.0
_STATUS_EVERY_S = 1.0
_Z85_DIGITS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
)


class AllowListError(TwinError):
    """The allow-list file cannot be read."""


class IngestBindError(TwinError):
    """Ingest cannot listen on its endpoint (in use, malformed, not permitted)."""


class AllowList:
    """The public keys ingest accepts, one ``<Z85 public key> <name> [kinds=…] [assets=…]`` per
    line (:mod:`twin.key_scope`); lines starting with ``#`` are comments."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._grants: dict[bytes, tuple[str, KeyScope]] = {}
        self._seen: tuple[int, int, int, int] | None = None
        self.reload()

    def reload(self) -> None:
        """Read the file again; a file that cannot be read or parsed whole keeps the previous list.

        A half-written file (an editor saving, a copy in progress) must not let keys in nor
        shut them out by accident; at start-up it is an error naming the line.
        """
        try:
            seen = self._fingerprint()
            grants = self._parse(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, AllowListError) as error:
            if self._seen is None:
                raise AllowListError(f"cannot read allow-list {self.path}: {error}") from None
            log.error("allow-list %s not reloaded, keeping the previous one: %s", self.path, error)
            return
        self._grants, self._seen = grants, seen
        log.info("allow-list %s: %d keys", self.path, len(grants))

    def _fingerprint(self) -> tuple[int, int, int, int]:
        # The change time too: an editor or a copy may restore the modification time, but
        # nothing short of the system clock sets the change time back.
        found = self.path.stat()
        return (found.st_mtime_ns, found.st_ctime_ns, found.st_size, found.st_ino)

    @staticmethod
    def _parse(text: str) -> dict[bytes, tuple[str, KeyScope]]:
        grants: dict[bytes, tuple[str, KeyScope]] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            # Only whole lines are comments: '#' is a Z85 digit and may appear in a key.
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) < 2 or len(parts[0]) != 40 or not set(parts[0]) <= _Z85_DIGITS:
                raise AllowListError(
                    f"line {number}: expected '<40-character Z85 public key> <name> "
                    "[kinds=KIND,…] [assets=PATTERN,…]'"
                )
            name = parts[1]
            if "/" in name or name in RESERVED_SOURCES or len(name) > MAX_ID_LENGTH:
                raise AllowListError(
                    f"line {number}: name {name!r}: at most {MAX_ID_LENGTH} characters, "
                    "without '/', and not 'raw' (it is the messages' source)"
                )
            try:
                scope = KeyScope.parse(parts[2:])
            except KeyScopeError as error:
                raise AllowListError(f"line {number}: {error}") from None
            grants[parts[0].encode("ascii")] = (name, scope)
        return grants

    def reload_if_changed(self) -> None:
        """Reload when the file changed (its modification or change time, size or inode)."""
        try:
            changed = self._fingerprint() != self._seen
        except OSError:
            return
        if changed:
            self.reload()

    def name_of(self, public_key: bytes | str | None) -> str | None:
        """The name bound to a Z85 public key, or None if it is not allowed."""
        grant = self.grant_of(public_key)
        return grant[0] if grant is not None else None

    def grant_of(self, public_key: bytes | str | None) -> tuple[str, KeyScope] | None:
        """The name bound to a Z85 public key and what it may write, or None if not allowed."""
        if public_key is None:
            return None
        key = public_key.encode("ascii") if isinstance(public_key, str) else bytes(public_key)
        return self._grants.get(key)

    def admits(self, public_key: str) -> bool:
        """Whether a Z85 public key is on the list (the transport's CURVE check asks this)."""
        return public_key.encode("ascii", "replace") in self._grants


@dataclass
class ServerSettings:
    """How the ingest socket listens and batches."""

    endpoint: str = DEFAULT_ENDPOINT
    batch_max: int = 1_000
    batch_wait_s: float = 0.005  # a batch closes this long after its first message at the latest
    status_path: Path | None = None
    # ... or as soon as no message came for this long: under load the socket always holds
    # the next messages, so this only stops a lone message waiting batch_wait_s for company.
    batch_idle_s: float = 0.001
    # Replies ZeroMQ may hold for one adapter before it silently drops the rest. It must be
    # well above any adapter's window of unanswered messages (the SDK's max_in_flight) plus a
    # batch: ZeroMQ credits what its I/O thread has sent only every half a queue, so the
    # default of 1,000 drops replies to a window of 1,000 and the adapter waits its resend
    # timeout for nothing. Replies are about 60 bytes: 100,000 of them is 6 MB at worst.
    reply_queue: int = 100_000
    # Connections refused after a store failure, remembered until they are this many (the
    # oldest forgotten first): ~100 bytes each. A connection is one ZeroMQ routing id, which
    # libzmq never gives twice; an adapter that reconnects gets a new one.
    refused_connections_kept: int = 100_000


class IngestServer:
    """Runs the ingest loop until ``stop`` is set."""

    def __init__(
        self,
        processor: IngestProcessor,
        settings: ServerSettings,
        server_keys: CurveKeyPair | None,
        allow_list: AllowList | None,
        transport: ServerTransport | None = None,
    ) -> None:
        """Serve on ``transport``; without one, on ZeroMQ at ``settings.endpoint``."""
        if (server_keys is None) != (allow_list is None):
            raise ValueError("CURVE needs both the server's keys and an allow-list")
        self.processor = processor
        self.settings = settings
        self.server_keys = server_keys
        self.allow_list = allow_list
        self.transport = transport or ZmqServerTransport(
            settings.endpoint,
            server_keys=server_keys,
            admit=None if allow_list is None else allow_list.admits,
            reply_queue=settings.reply_queue,
        )
        self.reload_requested = threading.Event()
        self._started = time.time()
        self.bound_endpoint: str | None = None  # the real address once bound (port 0 or * resolved)
        self._status_failing = False
        # Connections whose messages went unanswered for a store failure, in refusal order.
        self._refused: OrderedDict[bytes, None] = OrderedDict()
        self.refused_after_store_failure = 0  # messages dropped for arriving on such a connection

    def serve(self, stop: threading.Event, ready: threading.Event | None = None) -> None:
        """Bind, then batch, commit and reply until ``stop`` is set; flush the batch in hand."""
        try:
            raise_open_files_limit()
            self._bind()
            next_check = next_status = time.monotonic()
            if ready is not None:
                ready.set()
            while not stop.is_set():
                now = time.monotonic()
                if self.allow_list is not None and (
                    self.reload_requested.is_set() or now >= next_check
                ):
                    if self.reload_requested.is_set():
                        self.reload_requested.clear()
                        self.allow_list.reload()
                    else:
                        self.allow_list.reload_if_changed()
                    next_check = now + _RELOAD_CHECK_S
                if now >= next_status:
                    self.write_status()
                    next_status = now + _STATUS_EVERY_S
                if self.transport.wait(0.1):
                    self._serve_batch()
        finally:
            self.write_status()
            self.transport.close()

    def serve_in_thread(self, timeout_s: float = 10.0) -> Callable[[], None]:
        """Serve from a background thread; once bound, return the function that stops it."""
        stop, ready = threading.Event(), threading.Event()
        failures: list[BaseException] = []

        def run() -> None:
            try:
                self.serve(stop, ready)
            except BaseException as error:  # handed to the caller, never lost in the thread
                failures.append(error)
                ready.set()

        thread = threading.Thread(target=run, name="ingest", daemon=True)
        thread.start()
        if not ready.wait(timeout_s):
            stop.set()
            raise TwinError(f"ingest did not start within {timeout_s:g} s")
        if failures:
            raise failures[0]

        def halt() -> None:
            stop.set()
            thread.join(30)
            if thread.is_alive():
                raise TwinError("ingest did not stop within 30 s")

        return halt

    def _bind(self) -> None:
        try:
            self.bound_endpoint = self.transport.bind()
        except TransportError as error:
            raise IngestBindError(f"cannot listen on {self.settings.endpoint}: {error}") from None

    def _serve_batch(self) -> None:
        identities: list[bytes] = []
        messages: list[Incoming] = []
        deadline = time.monotonic() + self.settings.batch_wait_s
        while len(messages) < self.settings.batch_max:
            frame = self.transport.receive_nowait()
            if frame is None:
                remaining = min(deadline - time.monotonic(), self.settings.batch_idle_s)
                if remaining <= 0 or not self.transport.wait(remaining):
                    break
                continue
            if frame.peer in self._refused:
                # An earlier message of this connection was not committed (the store failed) and
                # will be resent: this later one must not land before it. Nothing of it is
                # applied nor answered; the adapter resends it, in order, on a new connection.
                self.refused_after_store_failure += 1
                continue
            incoming = self._incoming(frame)
            if incoming is None:
                continue
            identities.append(frame.peer)
            messages.append(incoming)
        if not messages:
            return
        replies = self.processor.process(messages)
        refused = 0
        for identity, reply in zip(identities, replies, strict=True):
            if reply is not None:
                self.transport.reply(identity, encode_reply(reply))
            elif identity not in self._refused:
                self._refuse(identity)
                refused += 1
        if refused:
            log.warning(
                "store failure: %d connection(s) get no answer until they reconnect and resend",
                refused,
            )

    def _refuse(self, identity: bytes) -> None:
        self._refused[identity] = None
        while len(self._refused) > self.settings.refused_connections_kept:
            self._refused.popitem(last=False)

    def _incoming(self, frame: ServerFrame) -> Incoming | None:
        """The message as ingest takes it, or None for one from a key no longer allowed."""
        raw = frame.raw
        peer, scope = None, UNLIMITED
        if self.allow_list is not None:
            grant = self.allow_list.grant_of(frame.sender_key)
            if grant is not None:
                peer, scope = grant
            if peer is None:
                # Admitted when it connected, struck off the list since: nothing of it gets in,
                # not even a dead letter, and it gets no answer.
                self.processor.stats.rejected["auth:key-not-allowed"] += 1
                log.warning("message from a key no longer on the allow-list dropped")
                return None
        if frame.frames != 1:
            return Incoming(
                raw,
                peer,
                f"message: expected exactly one frame after the identity, got {frame.frames}",
                scope,
            )
        return Incoming(raw, peer, scope=scope)

    def write_status(self) -> None:
        """Write the counters to the status file, atomically."""
        path = self.settings.status_path
        if path is None:
            return
        status = {
            "pid": os.getpid(),
            "endpoint": self.settings.endpoint,
            "authentication": "curve" if self.server_keys else "plaintext",
            "started_at": datetime.fromtimestamp(self._started, UTC).isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
            **self.processor.stats.as_dict(),
            "refused_after_store_failure": self.refused_after_store_failure,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".tmp")
            partial.write_text(json.dumps(status, indent=2), encoding="utf-8")
            partial.replace(path)
        except OSError as error:
            # Out of file descriptors (a flood of connections) or of disk: the status is a
            # courtesy, ingest goes on and tries again at the next tick.
            if not self._status_failing:
                log.warning("cannot write the status file %s: %s", path, error)
            self._status_failing = True
            return
        self._status_failing = False


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft limit of open files to its hard limit; return (soft, hard).

    Every connection, even one that never completes its handshake, holds a descriptor until
    the handshake times out; the usual soft limit of 1,024 is what a flood of stalled
    connections exhausts first.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError) as error:
            log.warning("cannot raise the open files limit from %d to %d: %s", soft, hard, error)
    return soft, hard


def read_status(path: Path, now: datetime | None = None) -> dict[str, Any]:
    """The last status an ingest process wrote, with ``running``: whether its process is
    alive and wrote within ``STATUS_STALE_AFTER_S`` (a killed ingest leaves its last counters
    behind; they must not read as live). ``not_running_because`` says why when it is not."""
    try:
        status: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TwinError(
            f"no ingest status at {path} ({error}); is `twin ingest` running?"
        ) from None
    if not isinstance(status, dict):
        raise TwinError(f"no ingest status at {path}: expected a JSON object")
    why = _not_running_because(status, now or datetime.now(UTC))
    status["running"] = why is None
    if why is not None:
        status["not_running_because"] = why
    return status


# The status is rewritten about once a second: silence this long means no live ingest wrote it.
STATUS_STALE_AFTER_S = 10.0


def _not_running_because(status: dict[str, Any], now: datetime) -> str | None:
    pid = status.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return "the status names no process"
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return f"process {pid} is not running"
    except PermissionError:
        pass  # it exists, under another user
    try:
        updated = datetime.fromisoformat(str(status.get("updated_at")))
        age = (now - updated).total_seconds()
    except (TypeError, ValueError):
        return "the status has no valid updated_at"
    if age > STATUS_STALE_AFTER_S:
        return f"process {pid} has not updated its status for {age:.0f} s"
    return None


def allow_list_entry(public_key_file: Path, name: str) -> str:
    """The allow-list line that lets the holder of this key pair in under ``name``."""
    return f"{load_keypair(public_key_file).public.decode('ascii')} {name}"
