"""Schemathesis over the whole OpenAPI: generated requests, as admin, never get a 5xx."""

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
from schemathesis.generation.meta import ParameterLocation

from citybrain.api.app import create_app
from citybrain.kernel.runtime import Runtime


@pytest.fixture
def api_schema(runtime: Runtime) -> Iterator[object]:
    """The app's own OpenAPI, bound to the ASGI app (no network)."""
    app = create_app(runtime)
    token, _ = runtime.issue_token_for("admin")
    app.state.test_headers = {"Authorization": f"Bearer {token}"}
    yield schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=15,  # ~110 operations x 2 databases: the suite stays under 15 minutes
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    headers = case.operation.schema.app.state.test_headers  # type: ignore[attr-defined]
    if case.path == "/auth/logout":
        headers = {}  # keep the admin token alive for the other cases
    meta = getattr(case, "_meta", None)
    if meta is not None and meta.is_negative_at(ParameterLocation.HEADER):
        headers = {}  # a case that drops Authorization on purpose must go without it
    case.call_and_validate(
        headers=headers,
        checks=[not_a_server_error, status_code_conformance, negative_data_rejection],
    )
