"""Migration 0003 creates exactly the tables the catalogue models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import citybrain.hub.catalogue.models  # noqa: F401  (register tables)
from citybrain.kernel.db import Base
from citybrain.kernel.runtime import Runtime
from tests.helpers import applied_revisions

TABLES = {"catalog_datasets", "catalog_dataset_versions", "catalog_apis", "catalog_search_grams"}


def _tables_of(diff: object) -> set[str]:
    found: set[str] = set()
    items = diff if isinstance(diff, list) else [diff]
    for item in items:
        for part in item if isinstance(item, tuple) else (item,):
            name = getattr(part, "name", None) if not isinstance(part, str) else part
            table = getattr(part, "table", None)
            if isinstance(name, str) and name in TABLES:
                found.add(name)
            if table is not None and getattr(table, "name", None) in TABLES:
                found.add(table.name)
    return found


def test_models_match_the_migrated_schema(runtime: Runtime) -> None:
    assert "0003" in applied_revisions(runtime)
    with runtime.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    ours = [d for d in diffs if _tables_of(d)]
    assert ours == []
    # and the tables are there at all (a diff-free comparison of nothing proves nothing)
    with runtime.engine.connect() as conn:
        from sqlalchemy import inspect

        assert set(inspect(conn).get_table_names()) >= TABLES
