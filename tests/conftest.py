"""Shared fixtures: every runtime-backed test runs on SQLite and on PostgreSQL.

PostgreSQL (127.0.0.1:5432, user postgres, database test) is used whenever it answers; when
``CI=true`` it is mandatory and a missing server fails the run instead of skipping.
Each test gets its own SQLite file or its own PostgreSQL schema, so runs repeat cleanly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from citybrain.api.app import create_app
from citybrain.kernel.config import load_settings
from citybrain.kernel.runtime import Runtime

PG_URL = os.environ.get("CITYBRAIN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_ready() -> None:
    """Skip (or, in CI, fail) when PostgreSQL does not answer."""
    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but does not answer: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")


class PgSchema:
    """A throwaway schema; its URL puts it first on the search path."""

    def __init__(self, prefix: str = "cbt_") -> None:
        self.name = prefix + uuid.uuid4().hex[:12]
        self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
        sep = "&" if "?" in PG_URL else "?"
        self.url = f"{PG_URL}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'citybrain.db'}"
        return
    request.getfixturevalue("pg_ready")
    schema = PgSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture
def settings_kwargs(tmp_path: Path, db_url: str) -> dict[str, object]:
    """Flags for load_settings pointing at this test's data dir and database."""
    return {"data_dir": tmp_path / "data", "db": db_url}


@pytest.fixture
def runtime(settings_kwargs: dict[str, object]) -> Iterator[Runtime]:
    """A migrated, bootstrapped runtime; ``runtime.admin_password`` holds admin's password."""
    rt = Runtime.open(load_settings(environ={}, **settings_kwargs))
    rt.migrate()
    rt.admin_password = rt.bootstrap()  # type: ignore[attr-defined]
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """httpx client against the ASGI app."""
    with TestClient(create_app(runtime)) as c:
        yield c


@pytest.fixture
def admin_headers(runtime: Runtime) -> dict[str, str]:
    """Authorization header of the bootstrap administrator."""
    token, _ = runtime.issue_token_for("admin")
    return {"Authorization": f"Bearer {token}"}
