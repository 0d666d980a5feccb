"""The front door: the ``twin`` command, every subcommand's shell, and the live demo.

It sits above the rooms (``domain``, ``adapters``, ``twin``, ``simulation``, ``scenarios``)
and calls their public APIs; nothing imports it. The shells parse command lines, call one
room's API and turn its errors into exit codes and one line on stderr. Not responsible for
what the commands compute: that lives in the rooms.
"""

from __future__ import annotations

__all__: list[str] = []
