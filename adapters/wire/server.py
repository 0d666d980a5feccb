"""Ingest's end of the wire: a ZeroMQ ROUTER with CURVE, and an in-memory fake of it.

The seam is small: ``bind()``, ``wait(timeout_s)``, ``receive_nowait() -> ServerFrame | None``,
``reply(peer, frame)`` and ``close()``. A :class:`ServerFrame` carries the message's bytes, who
sent it (the CURVE public key in Z85, as allow-lists write it) and whom to answer. ZeroMQ,
its authenticator thread and Z85 stay here, so ingest is tested without sockets. Not
responsible for batching, for who is allowed (the caller's ``admit``), or for what messages
mean.
"""

from __future__ import annotations

import abc
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from adapters.wire.errors import TransportError
from adapters.wire.transport import SOCKET_MAX_FRAME_BYTES, CurveKeyPair

log = logging.getLogger(__name__)
#: How long a client has to complete its (CURVE) handshake; libzmq's default is 30 s.
HANDSHAKE_TIMEOUT_MS = 5_000
# Replies to the last batch are committed facts: closing gives them this long to leave.
_REPLY_LINGER_MS = 2_000


@dataclass(frozen=True)
class ServerFrame:
    """One message as it came off the socket."""

    peer: bytes  # whom to answer: opaque, handed back to reply()
    raw: bytes  # the message's bytes (its frames joined)
    frames: int  # how many frames the message came in (the protocol sends exactly one)
    sender_key: str | None  # the sender's CURVE public key in Z85; None without CURVE


class ServerTransport(abc.ABC):
    """Where ingest receives messages and sends its replies."""

    bound_endpoint: str | None = None

    @abc.abstractmethod
    def bind(self) -> str:
        """Start listening; return the real address (a port 0 or * resolved)."""

    @abc.abstractmethod
    def wait(self, timeout_s: float) -> bool:
        """Whether a message is waiting, after at most ``timeout_s``."""

    @abc.abstractmethod
    def receive_nowait(self) -> ServerFrame | None:
        """The next waiting message, or None at once."""

    @abc.abstractmethod
    def reply(self, peer: bytes, frame: bytes) -> None:
        """Answer the sender of a message."""

    def close(self) -> None:  # noqa: B027 - optional for transports holding nothing
        """Stop listening, giving replies already sent a moment to leave."""


class InMemoryServerTransport(ServerTransport):
    """Messages handed in by a test, replies kept in order: ingest without sockets."""

    def __init__(self) -> None:
        self._waiting: collections.deque[ServerFrame] = collections.deque()
        self.replies: list[tuple[bytes, bytes]] = []

    def deliver(
        self, raw: bytes, *, peer: bytes = b"peer", sender_key: str | None = None, frames: int = 1
    ) -> None:
        """Put a message on the wire, as if an adapter had sent it."""
        self._waiting.append(ServerFrame(peer, raw, frames, sender_key))

    def bind(self) -> str:
        self.bound_endpoint = "inproc://in-memory"
        return self.bound_endpoint

    def wait(self, timeout_s: float) -> bool:
        return bool(self._waiting)

    def receive_nowait(self) -> ServerFrame | None:
        return self._waiting.popleft() if self._waiting else None

    def reply(self, peer: bytes, frame: bytes) -> None:
        self.replies.append((peer, frame))


class ZmqServerTransport(ServerTransport):
    """A ROUTER socket; with ``server_keys``, CURVE admitting the keys ``admit`` accepts."""

    def __init__(
        self,
        endpoint: str,
        *,
        server_keys: CurveKeyPair | None,
        admit: Callable[[str], bool] | None,
        reply_queue: int,
    ) -> None:
        if (server_keys is None) != (admit is None):
            raise ValueError("CURVE needs both the server's keys and an allow-list")
        self._endpoint = endpoint
        self._server_keys = server_keys
        self._admit = admit
        self._reply_queue = reply_queue
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._authenticator: ThreadAuthenticator | None = None
        self._router: zmq.Socket[bytes] | None = None
        self._poller = zmq.Poller()

    def bind(self) -> str:
        router = self._context.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.MAXMSGSIZE, SOCKET_MAX_FRAME_BYTES)
        router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        router.setsockopt(zmq.SNDHWM, self._reply_queue)
        # A connection that has not completed its handshake in this time is dropped, so that
        # stalled connections (a flood without any key) cannot hold descriptors for long.
        router.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_TIMEOUT_MS)
        if self._server_keys is not None and self._admit is not None:
            self._authenticator = ThreadAuthenticator(self._context)
            self._authenticator.start()
            self._authenticator.configure_curve_callback(
                "*", credentials_provider=CurveKeyCheck(self._admit)
            )
            router.curve_server = True
            router.curve_publickey = self._server_keys.public
            assert self._server_keys.secret is not None
            router.curve_secretkey = self._server_keys.secret
        try:
            router.bind(self._endpoint)
        except zmq.ZMQError as error:
            router.close(linger=0)
            raise TransportError(str(error)) from None
        self._router = router
        self._poller.register(router, zmq.POLLIN)
        self.bound_endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        return self.bound_endpoint

    def _socket(self) -> zmq.Socket[bytes]:
        if self._router is None:
            raise TransportError("the server transport is not bound")
        return self._router

    def wait(self, timeout_s: float) -> bool:
        return bool(self._poller.poll(int(timeout_s * 1000)))

    def receive_nowait(self) -> ServerFrame | None:
        try:
            parts = self._socket().recv_multipart(flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return None
        frames = parts[1:]
        sender_key = None
        if self._server_keys is not None and frames:
            # A metadata property is text; pyzmq types any string option as int | str.
            sender_key = cast("str", frames[-1].get("User-Id"))
        return ServerFrame(
            peer=parts[0].bytes,
            raw=b"".join(frame.bytes for frame in frames),
            frames=len(frames),
            sender_key=sender_key,
        )

    def reply(self, peer: bytes, frame: bytes) -> None:
        self._socket().send_multipart([peer, frame])

    def close(self) -> None:
        if self._router is not None:
            self._router.close(linger=_REPLY_LINGER_MS)
            self._router = None
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        if not self._context.closed:
            self._context.term()


class CurveKeyCheck:
    """ZAP hook: admit a client's key (handed over raw, 32 bytes) when ``admit`` accepts its Z85 text."""

    def __init__(self, admit: Callable[[str], bool]) -> None:
        self._admit = admit

    def callback(self, domain: str, key: bytes) -> bool:
        z85_key = z85.encode(key) if len(key) == 32 else key
        text = z85_key.decode("ascii", "replace")
        allowed = self._admit(text)
        if not allowed:
            log.warning("refused CURVE key %s", text)
        return allowed
