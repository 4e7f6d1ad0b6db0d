"""hub: the data catalogue (datasets, versions, published APIs, n-gram search index)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("title_zh", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("theme", sa.String(length=40), nullable=False),
        sa.Column("keywords_zh", sa.JSON(), nullable=False),
        sa.Column("keywords_en", sa.JSON(), nullable=False),
        sa.Column("update_frequency", sa.String(length=40), nullable=False),
        sa.Column("table_schema", sa.JSON(), nullable=False),
        sa.Column("grade", sa.String(length=20), nullable=False),
        sa.Column("sharing", sa.String(length=20), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("open_data", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
            name=op.f("fk_catalog_datasets_provider_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_datasets")),
        sa.UniqueConstraint("slug", name=op.f("uq_catalog_datasets_slug")),
    )
    op.create_index(
        op.f("ix_catalog_datasets_provider_id"), "catalog_datasets", ["provider_id"], unique=False
    )
    op.create_index(op.f("ix_catalog_datasets_theme"), "catalog_datasets", ["theme"], unique=False)
    op.create_table(
        "catalog_dataset_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["catalog_datasets.id"],
            name=op.f("fk_catalog_dataset_versions_dataset_id_catalog_datasets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_dataset_versions")),
        sa.UniqueConstraint(
            "dataset_id", "version", name=op.f("uq_catalog_dataset_versions_dataset_id")
        ),
    )
    op.create_index(
        op.f("ix_catalog_dataset_versions_dataset_id"),
        "catalog_dataset_versions",
        ["dataset_id"],
        unique=False,
    )
    op.create_table(
        "catalog_apis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("title_zh", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("schema_kind", sa.String(length=20), nullable=False),
        sa.Column("api_schema", sa.JSON(), nullable=False),
        sa.Column("rate_limit_per_min", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["organisations.id"], name=op.f("fk_catalog_apis_owner_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_apis")),
        sa.UniqueConstraint("slug", name=op.f("uq_catalog_apis_slug")),
    )
    op.create_index(op.f("ix_catalog_apis_owner_id"), "catalog_apis", ["owner_id"], unique=False)
    op.create_table(
        "catalog_search_grams",
        sa.Column("gram", sa.String(length=8), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["catalog_datasets.id"],
            name=op.f("fk_catalog_search_grams_dataset_id_catalog_datasets"),
        ),
        sa.PrimaryKeyConstraint("gram", "dataset_id", name=op.f("pk_catalog_search_grams")),
    )
    op.create_index(
        op.f("ix_catalog_search_grams_dataset_id"),
        "catalog_search_grams",
        ["dataset_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_catalog_search_grams_dataset_id"), table_name="catalog_search_grams")
    op.drop_table("catalog_search_grams")
    op.drop_index(op.f("ix_catalog_apis_owner_id"), table_name="catalog_apis")
    op.drop_table("catalog_apis")
    op.drop_index(
        op.f("ix_catalog_dataset_versions_dataset_id"), table_name="catalog_dataset_versions"
    )
    op.drop_table("catalog_dataset_versions")
    op.drop_index(op.f("ix_catalog_datasets_theme"), table_name="catalog_datasets")
    op.drop_index(op.f("ix_catalog_datasets_provider_id"), table_name="catalog_datasets")
    op.drop_table("catalog_datasets")
