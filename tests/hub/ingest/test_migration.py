"""Migration 0004 creates exactly the tables the ingest models declare (both backends)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from citybrain.hub.ingest import models
from citybrain.kernel.db import Base
from citybrain.kernel.runtime import Runtime
from tests.helpers import applied_revisions

TABLES = {
    models.IngestBatch.__tablename__,
    models.DatasetRecord.__tablename__,
    models.IngestQuarantine.__tablename__,
    models.ProviderKey.__tablename__,
}


def _table_of(diff: Any) -> str | None:
    if isinstance(diff, list):  # column modifications come grouped
        return _table_of(diff[0])
    for item in diff[1:]:
        name = getattr(item, "name", None) if hasattr(item, "columns") else None
        table = getattr(item, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if name:
            return str(name)
        if isinstance(item, str):
            return item
    return None


def test_migrated_schema_matches_the_models(runtime: Runtime) -> None:
    assert "0004" in applied_revisions(runtime)
    with runtime.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    ours = [d for d in diffs if _table_of(d) in TABLES]
    assert ours == []
    with runtime.engine.connect() as conn:
        names = set(runtime.engine.dialect.get_table_names(conn))
    assert names >= TABLES
