"""Carrying wire frames between an adapter and ingest: ZeroMQ, and an in-memory fake.

The seam is two methods, ``send(frame)`` and ``receive(timeout_s) -> frame | None``. The
ZeroMQ client is a DEALER that connects to ingest's ROUTER, authenticated with CURVE keys
unless plain text is explicitly chosen. ZeroMQ errors are translated to
:class:`TransportError` here, once. Not responsible for resending (the SDK's outbox is).
"""

from __future__ import annotations

import abc
import collections
import time
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

from adapters.wire.envelope import MAX_MESSAGE_BYTES
from adapters.wire.errors import TransportError

# ZeroMQ itself drops peers that send frames larger than this; ingest dead-letters anything
# between MAX_MESSAGE_BYTES and this limit, so a client learns why.
SOCKET_MAX_FRAME_BYTES = 16 * MAX_MESSAGE_BYTES


class AbstractTransport(abc.ABC):
    """Sends frames to ingest and receives its replies."""

    @abc.abstractmethod
    def send(self, frame: bytes) -> None:
        """Queue one frame for ingest; raise TransportError if that is impossible."""

    @abc.abstractmethod
    def receive(self, timeout_s: float) -> bytes | None:
        """Return the next reply frame, or None if none came within ``timeout_s``."""

    def reset(self) -> None:  # noqa: B027 - optional for transports without connections
        """Start the connection afresh; called before unanswered frames are sent again."""

    def close(self) -> None:  # noqa: B027 - optional for transports holding nothing
        """Release what the transport holds."""

    def diagnosis(self) -> str | None:
        """Why ingest does not answer, in words, when the transport can tell (else None)."""
        return None


class InMemoryTransport(AbstractTransport):
    """A transport whose other end is a pair of queues: the fake for unit tests."""

    def __init__(self) -> None:
        self.sent: collections.deque[bytes] = collections.deque()
        self.replies: collections.deque[bytes] = collections.deque()

    def send(self, frame: bytes) -> None:
        self.sent.append(bytes(frame))

    def receive(self, timeout_s: float) -> bytes | None:
        return self.replies.popleft() if self.replies else None


@dataclass(frozen=True)
class CurveKeyPair:
    """A CURVE key pair in Z85 text form (40 characters each)."""

    public: bytes
    secret: bytes | None


def create_keypair(directory: Path, name: str) -> tuple[Path, Path]:
    """Write ``name.key`` (public) and ``name.key_secret`` into ``directory``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(directory), name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


def load_keypair(path: Path) -> CurveKeyPair:
    """Read a key file written by :func:`create_keypair` (the secret file holds both keys)."""
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as error:
        raise TransportError(f"cannot read CURVE key file {path}: {error}") from error
    return CurveKeyPair(public=public, secret=secret)


_DIAGNOSES: dict[int, str | None] = {
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "ingest refused this adapter's key: add its public key "
    "to ingest's allow-list (twin keys)",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "the CURVE handshake with ingest failed: is the "
    "server key this adapter uses ingest's own public key?",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "the handshake with ingest failed: is ingest speaking "
    "CURVE as this adapter does (or both plain text)?",
    zmq.EVENT_CLOSED: "nobody answers at ingest's endpoint: is ingest running there?",
    zmq.EVENT_DISCONNECTED: "ingest closed the connection",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: None,
}
_HANDSHAKE_FAILURES = frozenset(
    {
        zmq.EVENT_HANDSHAKE_FAILED_AUTH,
        zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
        zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    }
)
_WATCHED_EVENTS = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_CLOSED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
)


class ZmqTransport(AbstractTransport):
    """A DEALER socket connected to ingest, CURVE-authenticated unless ``plaintext``."""

    def __init__(
        self,
        endpoint: str,
        *,
        client_keys: CurveKeyPair | None,
        server_public_key: bytes | None,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        send_queue: int = 10_000,
    ) -> None:
        if client_keys is not None and (server_public_key is None or client_keys.secret is None):
            raise TransportError("CURVE needs the client's secret key and the server's public key")
        self._endpoint = endpoint
        self._client_keys = client_keys
        self._server_public_key = server_public_key
        self._send_queue = send_queue
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._socket: zmq.Socket[bytes] | None = None
        self._monitor: zmq.Socket[bytes] | None = None
        self._last_event: int | None = None
        try:
            self._open()
        except TransportError:
            self.close()
            raise

    def _open(self) -> None:
        try:
            socket = self._context.socket(zmq.DEALER)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.SNDHWM, self._send_queue)
            socket.setsockopt(zmq.MAXMSGSIZE, SOCKET_MAX_FRAME_BYTES)
            # Only the SDK reconnects (reset): libzmq reconnecting on its own would deliver
            # the unsent tail of a window to a restarted ingest before the SDK resends the
            # window's head, so a later reading would land before an earlier one.
            socket.setsockopt(zmq.RECONNECT_IVL, -1)
            if self._client_keys is not None:
                assert self._client_keys.secret is not None and self._server_public_key is not None
                socket.curve_publickey = self._client_keys.public
                socket.curve_secretkey = self._client_keys.secret
                socket.curve_serverkey = self._server_public_key
            self._socket = socket
            self._monitor = socket.get_monitor_socket(_WATCHED_EVENTS)
            socket.connect(self._endpoint)
        except zmq.ZMQError as error:
            # Only the socket: the context stays, so a later reset() can try again.
            self._close_socket()
            raise TransportError(f"cannot connect to {self._endpoint}: {error}") from error
        self._poller = zmq.Poller()
        self._poller.register(socket, zmq.POLLIN)

    def diagnosis(self) -> str | None:
        """Why the connection to ingest is not working, in words, if the socket told (else None).

        Read from the socket's monitor: a refused key, a wrong server key, nobody listening.
        """
        seen = self._last_event
        monitor = self._monitor
        while monitor is not None:
            try:
                event = recv_monitor_message(monitor, flags=zmq.NOBLOCK)["event"]
            except zmq.ZMQError:  # zmq.Again included: nothing more to read
                break
            # A refused handshake is followed by a disconnection: the refusal says more.
            if not (event == zmq.EVENT_DISCONNECTED and seen in _HANDSHAKE_FAILURES):
                seen = event
        self._last_event = seen
        return _DIAGNOSES.get(int(seen)) if seen is not None else None

    def _close_socket(self) -> None:
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None
        if self._socket is not None:
            self._socket.disable_monitor()
            self._socket.close(linger=0)
            self._socket = None

    def reset(self) -> None:
        """Drop the connection and start a new one.

        ZeroMQ does not retry a CURVE handshake that ingest refused, so a client whose key was
        added to the allow-list later, or whose connection went silent, needs a fresh socket.
        Frames not yet answered are the caller's to send again.
        """
        self.diagnosis()  # keep what the old socket learnt
        self._close_socket()
        self._open()

    def _open_socket(self) -> zmq.Socket[bytes]:
        if self._socket is None:
            raise TransportError("the transport is closed")
        return self._socket

    def send(self, frame: bytes) -> None:
        try:
            self._open_socket().send(frame, flags=zmq.NOBLOCK)
        except zmq.Again as error:
            raise TransportError(
                "send queue full: ingest is not keeping up or not reachable"
            ) from error
        except zmq.ZMQError as error:
            raise TransportError(f"send failed: {error}") from error

    def receive(self, timeout_s: float) -> bytes | None:
        if self._socket is None:
            # A reconnection failed: nothing can come until the SDK's next one, once its resend
            # wait is over. Waiting here, as on a silent connection, keeps a reader's loop from
            # spinning on a socket that is gone.
            time.sleep(max(0.0, timeout_s))
            return None
        try:
            if not self._poller.poll(int(timeout_s * 1000)):
                return None
            frame: bytes = self._open_socket().recv(flags=zmq.NOBLOCK)
            return frame
        except zmq.Again:
            return None
        except zmq.ZMQError as error:
            raise TransportError(f"receive failed: {error}") from error

    def close(self) -> None:
        self._close_socket()
        if self._own_context and not self._context.closed:
            self._context.term()
