"""The adapter's socket after ingest goes away: only the SDK reconnects, and it says why it cannot.

Issue 14: libzmq reconnecting a DEALER by itself delivered the unsent tail of a window to a
restarted ingest before the SDK resent the window's head, so a later reading landed first.
"""

from __future__ import annotations

import errno
import time

import pytest
import zmq

from adapters.wire import CurveKeyPair, TransportError, ZmqTransport
from adapters.wire.server import ZmqServerTransport

pytestmark = pytest.mark.slow  # real sockets, a few hundred ms each


def _keys() -> CurveKeyPair:
    public, secret = zmq.curve_keypair()
    return CurveKeyPair(public=public, secret=secret)


def _receive_all(
    server: ZmqServerTransport, seconds: float, expected: int | None = None
) -> list[bytes]:
    """What arrives within ``seconds`` (sooner once ``expected`` frames have come)."""
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(got) != expected:
        if server.wait(0.05):
            while (frame := server.receive_nowait()) is not None:
                got.append(frame.raw)
    return got


def test_frames_queued_while_ingest_is_down_never_reach_its_successor_unasked() -> None:
    server_keys, client_keys = _keys(), _keys()
    allowed = client_keys.public.decode()

    def ingest(endpoint: str) -> ZmqServerTransport:
        server = ZmqServerTransport(
            endpoint, server_keys=server_keys, admit=lambda key: key == allowed, reply_queue=100
        )
        server.bind()
        return server

    first = ingest("tcp://127.0.0.1:0")
    endpoint = first.bound_endpoint
    client = ZmqTransport(endpoint, client_keys=client_keys, server_public_key=server_keys.public)
    try:
        client.send(b"head")
        assert _receive_all(first, 5.0, expected=1) == [b"head"]
        first.close()  # ingest dies…
        time.sleep(0.3)
        for tail in (b"tail-1", b"tail-2"):  # …while the adapter goes on sending
            try:
                client.send(tail)
            except Exception:  # a send queue with no peer may refuse: either way not delivered
                pass
        successor = ingest(endpoint)
        try:
            assert _receive_all(successor, 1.0) == []  # the old socket delivers nothing by itself
            client.reset()  # the SDK's resend, in order, on a fresh connection
            client.send(b"head")
            client.send(b"tail-1")
            assert _receive_all(successor, 5.0, expected=2) == [b"head", b"tail-1"]
        finally:
            successor.close()
    finally:
        client.close()


def test_the_transport_says_why_ingest_does_not_answer() -> None:
    server_keys, client_keys = _keys(), _keys()
    server = ZmqServerTransport(
        "tcp://127.0.0.1:0", server_keys=server_keys, admit=lambda key: False, reply_queue=100
    )
    server.bind()
    refused = ZmqTransport(
        server.bound_endpoint, client_keys=client_keys, server_public_key=server_keys.public
    )
    wrong_server_key = ZmqTransport(
        server.bound_endpoint, client_keys=client_keys, server_public_key=client_keys.public
    )
    try:
        refused.send(b"x")
        wrong_server_key.send(b"x")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (
            refused.diagnosis() and wrong_server_key.diagnosis()
        ):
            time.sleep(0.05)
        assert "refused this adapter's key" in (refused.diagnosis() or "")
        assert "server key" in (wrong_server_key.diagnosis() or "")
        refused.reset()  # what the old socket learnt survives the SDK's reconnection
        assert "refused this adapter's key" in (refused.diagnosis() or "")
    finally:
        refused.close()
        wrong_server_key.close()
        server.close()
    nobody = ZmqTransport(server.bound_endpoint, client_keys=None, server_public_key=None)
    try:
        nobody.send(b"x")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not nobody.diagnosis():
            time.sleep(0.05)
        assert "is ingest running there" in (nobody.diagnosis() or "")
    finally:
        nobody.close()


def test_after_a_failed_reconnection_receiving_waits_instead_of_spinning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = ZmqTransport("tcp://127.0.0.1:9", client_keys=None, server_public_key=None)
    try:

        def no_more_sockets(*args: object, **kwargs: object) -> None:
            raise zmq.ZMQError(errno.EMFILE)

        monkeypatch.setattr(transport._context, "socket", no_more_sockets)
        with pytest.raises(TransportError, match="cannot connect"):
            transport.reset()
        started = time.monotonic()
        assert [transport.receive(0.05) for _ in range(4)] == [None] * 4
        assert time.monotonic() - started >= 0.19  # it waited, as on a silent connection
        with pytest.raises(TransportError, match="closed"):
            transport.send(b"x")  # what is sent meanwhile waits in the outbox for the resend
    finally:
        monkeypatch.undo()
        transport.close()
