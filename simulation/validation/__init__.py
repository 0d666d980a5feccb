"""Published policy comparisons rebuilt with the waste engine's public API.

One module per publication: its setting as far as the text states it, what had to be assumed,
and a function that runs the comparison with a fixed seed. ``docs/validation.md`` puts the
published table and ours side by side; ``tests/simulation/test_published_groningen.py`` keeps
the figures where the document says they are.

* ``groningen`` — Wouda, Aerts-Veenstra & Van Foreest (2024), integrated selection and routing
  against the municipality's "select the clusters that fill soonest, then route" baseline.

Not responsible for the engine itself (``simulation.waste``) nor for the report's scenarios.
"""

from __future__ import annotations
