"""Hardware adapters: device payloads in, wire messages (msgpack over ZeroMQ) out.

Filled by the "Live feed" issue. An adapter never imports ``twin`` or ``domain``: it speaks
the wire protocol only, so it can run on a gateway far from the twin.
"""

from __future__ import annotations

__all__: list[str] = []
