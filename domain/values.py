"""Value objects of the valley: kinds, streams and positions in Lambert-93.

Positions are metres in RGF93 / Lambert-93 (EPSG:2154). Converting from WGS84 is the twin's
job at its edge; this module only checks that a position plausibly lies in metropolitan
France's Lambert-93 extent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain._checks import number_in_range

# EPSG:2154 projected bounds of metropolitan France, with a margin.
_L93_X_RANGE = (-400_000.0, 1_400_000.0)
_L93_Y_RANGE = (6_000_000.0, 7_200_000.0)


class WasteStream(StrEnum):
    """Waste streams collected in the valley."""

    RESIDUAL = "residual"
    PACKAGING = "packaging"
    GLASS = "glass"
    PAPER = "paper"
    BIOWASTE = "biowaste"


class SiteKind(StrEnum):
    """Kinds of site the twin follows."""

    PUBLIC_BUILDING = "public_building"
    LIGHTING_CABINET = "lighting_cabinet"
    REMARKABLE_SITE = "remarkable_site"
    ACTIVITY_ZONE = "activity_zone"
    THIRD_PLACE = "third_place"
    COWORKING = "coworking"


class ServiceKind(StrEnum):
    """Kinds of public service."""

    CHILDCARE = "childcare"
    DIGITAL_TRAINING = "digital_training"
    DROP_OFF_CENTRE = "drop_off_centre"
    LIBRARY = "library"


class ReportCategory(StrEnum):
    """Categories of citizen report."""

    OVERFLOWING_BIN = "overflowing_bin"
    ILLEGAL_DUMPING = "illegal_dumping"
    STREET_LIGHT = "street_light"
    ROAD = "road"
    GREEN_SPACE = "green_space"
    NOISE = "noise"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Position:
    """A point in Lambert-93 metres."""

    x: float
    y: float

    @classmethod
    def checked(cls, x: object, y: object) -> Position:
        """Build a position, rejecting coordinates outside the Lambert-93 extent."""
        return cls(
            number_in_range("x_l93", x, *_L93_X_RANGE),
            number_in_range("y_l93", y, *_L93_Y_RANGE),
        )
