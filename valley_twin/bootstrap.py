"""Building the running services from configuration: the store, the transport, ingest.

The shells (``twin ingest``, the live demo) come here with what the command line or the demo
chose; this module wires the rooms together: the twin's store (:func:`twin.open_twin` is
called by the shells), the ZeroMQ server transport of :mod:`adapters.wire` with CURVE and
the allow-list, and ingest. Not responsible for parsing command lines nor for serving.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.wire import CurveKeyPair, ZmqServerTransport, load_keypair
from twin import AllowList, IngestProcessor, IngestServer, Plausibility, ServerSettings

if TYPE_CHECKING:
    from pathlib import Path

    from twin import Geography, ValleyTwin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """Ingest's CURVE key pair and the allow-list of adapters' keys."""

    server_keys: CurveKeyPair
    allow_list: AllowList


def load_credentials(secret_key: Path, allow_list: Path) -> Credentials:
    """Read ingest's secret key and the allow-list (before anything is opened: a bad file is
    the user's mistake, whatever the store's state)."""
    return Credentials(load_keypair(secret_key), AllowList(allow_list))


def ingest_service(
    twin: ValleyTwin,
    geography: Geography,
    settings: ServerSettings,
    credentials: Credentials | None,
    plausibility: Plausibility | None = None,
) -> IngestServer:
    """Ingest on ZeroMQ: CURVE with the credentials, or plain text without (the caller checks
    plain text is only ever local)."""
    server_keys = None if credentials is None else credentials.server_keys
    allowed = None if credentials is None else credentials.allow_list
    transport = ZmqServerTransport(
        settings.endpoint,
        server_keys=server_keys,
        admit=None if allowed is None else allowed.admits,
        reply_queue=settings.reply_queue,
    )
    processor = IngestProcessor(twin, geography, plausibility=plausibility)
    started = time.perf_counter()
    loaded = processor.warm_up()
    log.info("%d assets and citizens loaded in %.1f s", loaded, time.perf_counter() - started)
    return IngestServer(processor, settings, server_keys, allowed, transport)
