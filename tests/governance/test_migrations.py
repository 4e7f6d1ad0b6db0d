"""The governance tables the models describe are exactly the ones the migrations make."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import citybrain.governance.citizen.models
import citybrain.governance.privacy.budget
import citybrain.governance.privacy.proposals
import citybrain.governance.privacy.releases
import citybrain.governance.retention.models
import citybrain.governance.sharing.lineage
import citybrain.governance.sharing.models  # noqa: F401  (register the tables)
from citybrain.kernel.db import Base
from citybrain.kernel.runtime import Runtime
from tests.helpers import applied_revisions

TABLES = {
    "share_requests",
    "share_grants",
    "retention_rules",
    "destruction_certificates",
    "privacy_budgets",
    "sandbox_queries",
    "dataset_lineage",
    "sharing_relaxations",
    "citizen_subject_key",
    "citizen_subjects",
    "citizen_subject_uses",
    "citizen_objections",
}


def test_models_match_the_migrations(runtime: Runtime) -> None:
    assert {"0009", "0010", "0011", "0012", "0013", "0014"} <= applied_revisions(runtime)
    with runtime.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
        names = set(runtime.engine.dialect.get_table_names(conn))
    assert names >= TABLES
    ours = [d for d in diffs if any(t in repr(d) for t in TABLES)]
    assert ours == []


def test_ledger_entries_are_found_by_request_id(runtime: Runtime) -> None:
    indexes = inspect(runtime.engine).get_indexes("ledger_entries")
    assert {"name": "ix_ledger_entries_request_id", "columns": ["request_id"]} in [
        {"name": i["name"], "columns": i["column_names"]} for i in indexes
    ]
