"""Cockpit fixtures: the catalogue ``world`` (departments, accounts, the app)."""

from tests.hub.conftest import world  # noqa: F401  (fixture for the catalogue page)
