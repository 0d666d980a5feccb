"""``python -m valley_twin``: the ``twin`` program, for a process started without the script."""

from __future__ import annotations

import sys

from valley_twin.cli import main

sys.exit(main())
