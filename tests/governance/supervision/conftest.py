"""Supervision fixtures: the sharing world on a clock the test moves (the ledger's too)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from citybrain.kernel.config import load_settings
from citybrain.kernel.runtime import Runtime
from tests.governance.conftest import Sharing

# Monday 2 March 2026, 09:00 in Hangzhou (UTC+8)
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
USERS = {
    "operator": "op",
    "auditor": "aud",
    "civil_clerk": "civil",
    "health_clerk": "doctor",
    "health_service": "his",
    "transport_clerk": "driver",
    "admin": "admin",
}


class MovableClock:
    """A clock the test sets and moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def runtime(settings_kwargs: dict[str, object], clock: MovableClock) -> Iterator[Runtime]:
    """The usual runtime, with the movable clock for requests, tokens and the ledger."""
    rt = Runtime.open(load_settings(environ={}, **settings_kwargs), clock=clock)
    rt.migrate()
    rt.admin_password = rt.bootstrap()  # type: ignore[attr-defined]
    try:
        yield rt
    finally:
        rt.close()


def move_to(world: Sharing, clock: MovableClock, when: datetime) -> None:
    """Set the clock and give everyone a fresh token (the old ones expired on the way)."""
    clock.now = when
    for key, name in USERS.items():
        world.tokens[key] = world.runtime.issue_token_for(name)[0]


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """Day ``day`` of the test week (0 = Monday 2 March 2026) at a Hangzhou local time."""
    return T0 + timedelta(days=day, hours=hour - 9, minutes=minute)
