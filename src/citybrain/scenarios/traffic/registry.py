"""The controllers the bench knows, by name."""

from __future__ import annotations

from collections.abc import Callable

from citybrain.kernel.errors import InvalidInput
from citybrain.scenarios.traffic.citybrain_control import CityBrainControl
from citybrain.scenarios.traffic.controllers import Actuated, Controller, MaxPressure

CONTROLLERS: dict[str, Callable[[], Controller]] = {
    "fixed": Controller,
    "actuated": Actuated,
    "max-pressure": MaxPressure,
    "citybrain": CityBrainControl,
}


def make_controller(name: str) -> Controller:
    """A fresh controller by its bench name."""
    try:
        return CONTROLLERS[name]()
    except KeyError:
        known = ", ".join(CONTROLLERS)
        raise InvalidInput(
            f"controllers: unknown controller {name!r} (known: {known})", field="controllers"
        ) from None
