"""Schemathesis over the ingest routes (mounted as app.py will mount them): no 5xx, responses
conform, bad input is refused."""

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
from citybrain.hub.ingest.service import GATE_ACTIONS, InMemoryDirectory
from citybrain.kernel.gate import register_action
from citybrain.kernel.runtime import Runtime
from tests.hub.ingest.conftest import AIR_SCHEMA, DATASET


@pytest.fixture
def ingest_schema(runtime: Runtime) -> Iterator[object]:
    """The OpenAPI of an app with the ingest router, bound to the ASGI app."""
    for action, category in GATE_ACTIONS.items():
        register_action(action, category)
    app = create_app(runtime)
    app.state.dataset_directory = InMemoryDirectory(
        {DATASET: (AIR_SCHEMA, runtime.settings.city_code)}
    )
    token, _ = runtime.issue_token_for("admin")
    app.state.test_headers = {"Authorization": f"Bearer {token}"}
    yield schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("ingest_schema").include(path_regex="^/hub/")


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_ingest_routes_never_fail_on_the_server(case: schemathesis.Case) -> None:
    headers = case.operation.schema.app.state.test_headers  # type: ignore[attr-defined]
    meta = getattr(case, "_meta", None)
    if meta is not None and meta.is_negative_at(ParameterLocation.HEADER):
        headers = {}
    case.call_and_validate(
        headers=headers,
        checks=[not_a_server_error, status_code_conformance, negative_data_rejection],
    )
