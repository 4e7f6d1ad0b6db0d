"""Alembic environment: all CityBrain tables (kernel metadata plus the ledger's own)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import citybrain.governance.citizen.models
import citybrain.governance.privacy.budget
import citybrain.governance.privacy.proposals
import citybrain.governance.privacy.releases
import citybrain.governance.retention.models
import citybrain.governance.sharing.lineage
import citybrain.governance.sharing.models
import citybrain.hub.catalogue.models
import citybrain.hub.entities.models
import citybrain.hub.ingest.models
import citybrain.hub.quality.models
import citybrain.hub.stream.models
import citybrain.kernel.identity.models
import citybrain.kernel.policy.models  # noqa: F401  (register tables)
from citybrain.kernel.db import Base
from citybrain.ledger.models import LedgerBase

target_metadata = [LedgerBase.metadata, Base.metadata]
config = context.config


def run_migrations_offline() -> None:
    """Emit SQL without a database connection."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the connection handed in by citybrain.kernel.db.upgrade, or a new one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
