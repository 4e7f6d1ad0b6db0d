"""The dispute tables the models describe are exactly the ones migration 0018 makes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import citybrain.governance.disputes.models  # noqa: F401  (register the tables)
from citybrain.kernel.db import Base
from citybrain.kernel.runtime import Runtime
from tests.helpers import applied_revisions

TABLES = {"dispute_cases", "dispute_claims", "dispute_evidence", "dispute_events"}


def test_models_match_the_migration(runtime: Runtime) -> None:
    assert "0018" in applied_revisions(runtime)
    with runtime.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
        names = set(runtime.engine.dialect.get_table_names(conn))
    assert names >= TABLES
    ours = [d for d in diffs if any(t in repr(d) for t in TABLES)]
    assert ours == []
