"""The controllers the bench knows, by name."""

from __future__ import annotations

import re
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


# max-pressure with another minimum green and decision interval, e.g. "max-pressure@8/1"
VARIANT = re.compile(r"max-pressure@(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)")


def make_controller(name: str) -> Controller:
    """A fresh controller by its bench name.

    ``max-pressure@MIN/EVERY`` is max-pressure with a minimum green of MIN seconds (over the
    network's own) deciding every EVERY seconds (at least 1, the simulation step), the family
    the reference run picked its best variant from.
    """
    variant = VARIANT.fullmatch(name)
    if variant:
        min_green, every = float(variant[1]), float(variant[2])
        if every < 1:
            raise InvalidInput(
                f"controllers: {name!r} decides every {every:g} s; the least is 1 s",
                field="controllers",
            )
        ctrl = MaxPressure()
        ctrl.name, ctrl.min_green_s, ctrl.decision_interval_s = name, min_green, every
        return ctrl
    try:
        return CONTROLLERS[name]()
    except KeyError:
        known = ", ".join([*CONTROLLERS, "max-pressure@MIN/EVERY"])
        raise InvalidInput(
            f"controllers: unknown controller {name!r} (known: {known})", field="controllers"
        ) from None
