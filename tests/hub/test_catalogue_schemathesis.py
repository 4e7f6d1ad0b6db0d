"""Schemathesis over the catalogue routes: generated requests, as admin, never get a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    negative_data_rejection,
    not_a_server_error,
    status_code_conformance,
)

from citybrain.kernel.runtime import Runtime
from tests.hub.conftest import World


@pytest.fixture
def catalogue_schema(runtime: Runtime, world: World) -> Iterator[object]:
    """The catalogue app's OpenAPI, bound to the ASGI app (no network)."""
    world.register(id="signal-timing")
    app = world.client.app
    app.state.test_headers = world.h("admin")  # type: ignore[attr-defined]
    yield schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex="^/(catalog|api)/"
    )


schema = schemathesis.pytest.from_fixture("catalogue_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_catalogue_never_errors(case: schemathesis.Case) -> None:
    headers = case.operation.schema.app.state.test_headers  # type: ignore[attr-defined]
    case.call_and_validate(
        headers=headers,
        checks=[not_a_server_error, status_code_conformance, negative_data_rejection],
    )
