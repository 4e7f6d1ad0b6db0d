"""Errors of the event bus, in the CityBrain hierarchy (503 on the API, one line on the CLI)."""

from __future__ import annotations

from citybrain.kernel.errors import CityBrainError


class BusError(CityBrainError):
    """The event bus failed."""

    status, problem, title, exit_code = 503, "bus-error", "Event bus error", 2


class BusUnavailable(BusError):
    """The broker does not answer (connect failed, no JetStream stream for the subject)."""

    problem, title = "bus-unavailable", "Event bus unavailable"


class BusTimeout(BusError):
    """The broker did not acknowledge in time: the event may or may not be stored."""

    problem, title = "bus-timeout", "Event bus timeout"
