"""Real-world figures behind the energy model: street lighting, public buildings, price, CO2.

Every figure carries its public source (as listed in ``../shared/data/PARAMETERS.md``) or the
word "assumed" with the reason. Nothing here computes: ``simulation/energy.py`` does. A
scenario overrides a default by passing another value, never by editing this file.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Where the valley is --------------------------------------------------------------------

# Latitude used for night lengths. The centroid of the 28 communes' boundaries (IGN ADMIN
# EXPRESS COG 2018, twin/data/ccvh-communes.geojson) lies at 43.655°N; Gignac's at 43.639°N.
VALLEY_LATITUDE_DEG = 43.65
# Longitude of the same centroid (3.584°E). It moves sunrise and sunset on the clock (4 min per
# degree), never the length of the night; a valley 0.4° wide shifts them by under 2 minutes.
VALLEY_LONGITUDE_DEG = 3.58
# Legal time of the valley (CET/CEST): dimming and switch-off windows are set on local clocks.
VALLEY_TIMEZONE = "Europe/Paris"

# Sunrise and sunset are the instants the sun's centre is 0.833° below the horizon: 34' of
# mean refraction plus 16' of solar semi-diameter. Source: NOAA Global Monitoring Laboratory,
# "General Solar Position Calculations"; J. Meeus, Astronomical Algorithms (1998), ch. 15.
SUNSET_SUN_ALTITUDE_DEG = -0.833

# --- Street lighting ------------------------------------------------------------------------

# About one light point per 7 inhabitants in France. Source: Syndicat de l'éclairage / AFE.
INHABITANTS_PER_LIGHT_POINT = 7.0

# Ballast (control gear) losses of discharge lamps, as a fraction of lamp power (≈10 %).
# Source: common engineering figure (PARAMETERS.md). An LED luminaire's rated power already
# includes its driver, so a retrofitted point has no separate loss.
BALLAST_LOSS_FRACTION = 0.10

# LED power as a fraction of the discharge lamp it replaces. Assumed: manufacturers' replacement
# tables commonly pair a 150 W high-pressure sodium lamp with a 50–70 W LED luminaire giving the
# same light on the road; 0.4 is the middle of that range. No public source is given in
# PARAMETERS.md, so a scenario should set the real retrofit's wattage when it is known.
LED_POWER_FACTOR = 0.4

# A typical dimming profile: half power from 23:00 to 05:00 local time. Assumed: the example in
# the issue; many French communes use this kind of night-time reduction, with varying hours.
DEFAULT_DIM_PERCENT = 50.0
DEFAULT_DIM_WINDOW = ("23:00", "05:00")

# --- Public buildings -----------------------------------------------------------------------

# Municipal buildings' consumption per m² of floor area per year, all energies (2005).
# Source: ADEME via Univers Nature (secondary source; PARAMETERS.md).
BUILDING_KWH_PER_M2_YEAR = 150.0

# --- Price and carbon -----------------------------------------------------------------------

# Electricity price paid by communes: 0.077 €/kWh in 2005, 0.11 €/kWh in 2012.
# Source: lagazettedescommunes.com; lalettredumaire.com. Regulated tariffs with caps apply since
# 2023 and prices have risen since 2012: this is a scenario parameter, 0.11 only its default.
ELECTRICITY_PRICE_EUR_PER_KWH = 0.11

# CO2 emitted per kWh of electricity consumed in France: 0.048 kgCO2e/kWh.
# Source: Arrêté du 26 avril 2017 (décret 2017-639), annex. ADEME Base Carbone gives other
# factors by use (lighting has a higher seasonal factor); a scenario may choose one of those.
CO2_KG_PER_KWH = 0.048


@dataclass(frozen=True)
class EnergyTariff:
    """What a kWh costs and emits: a scenario parameter with the public defaults above."""

    price_eur_per_kwh: float = ELECTRICITY_PRICE_EUR_PER_KWH
    co2_kg_per_kwh: float = CO2_KG_PER_KWH

    def __post_init__(self) -> None:
        if not self.price_eur_per_kwh >= 0 or not self.co2_kg_per_kwh >= 0:
            raise ValueError(f"price and CO2 per kWh must be non-negative, not {self}")
