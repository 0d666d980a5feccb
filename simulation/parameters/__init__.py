"""The real-world figures behind the simulation, in one documented place.

One module per subject — ``waste``, ``fleet``, ``energy``, ``footfall``, ``services`` — each
figure a named constant or a frozen dataclass, with its public source next to it (see
``../shared/data/PARAMETERS.md``) or marked "assumed" with the reason. Scenarios override them;
nothing else in the engine holds a figure of the real world.
"""

from __future__ import annotations

from simulation.parameters import energy, fleet, footfall, services, waste

__all__ = ["energy", "fleet", "footfall", "services", "waste"]
