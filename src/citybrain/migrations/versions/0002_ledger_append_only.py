"""ledger: refuse UPDATE and DELETE on entries, nodes and checkpoints

Defence in depth: the application never rewrites these rows, so the database refuses to.
Someone with DDL rights can still drop the triggers; that is what `citybrain ledger verify`
and the signed checkpoints are for.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("ledger_entries", "ledger_nodes", "ledger_checkpoints")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION citybrain_ledger_append_only() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'ledger table % is append-only', TG_TABLE_NAME;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION citybrain_ledger_append_only()"
            )
    elif dialect == "sqlite":
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'ledger table {table} is append-only'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS citybrain_ledger_append_only()")
    elif dialect == "sqlite":
        for table in TABLES:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
