"""meetings: clients, projects and project tags, each row owned by one user.

Revision ID: meetings_0001
Revises:
Create Date: 2025-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "meetings_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("meetings",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meetings_clients",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("contact_email", sa.String(320), nullable=False),
        sa.Column("company", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        # Derived (case-folded) columns: portable case-insensitive sort, filter and search.
        sa.Column("sort_key", sa.Text(), nullable=False),
        sa.Column("company_key", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        # Target of the projects' (owner, client_id) key: a project's client is its owner's.
        sa.UniqueConstraint("owner", "id", name="uq_meetings_clients_owner_id"),
    )
    # One index per list order (owner first: every query is one owner's), id breaks ties.
    for column in ("sort_key", "create_time", "update_time"):
        op.create_index(
            f"ix_meetings_clients_owner_{column}", "meetings_clients", ["owner", column, "id"]
        )
    op.create_index(
        "ix_meetings_clients_owner_company", "meetings_clients", ["owner", "company_key"]
    )

    op.create_table(
        "meetings_projects",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(32), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("progress_percent", sa.Integer(), nullable=False),
        sa.Column("budget_currency", sa.String(3), nullable=True),
        sa.Column("budget_minor", sa.BigInteger(), nullable=True),
        # Hundredths of an hour: exact sums on SQLite too.
        sa.Column("estimated_centihours", sa.BigInteger(), nullable=True),
        sa.Column("spent_centihours", sa.BigInteger(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("complete_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("title_key", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner", "client_id"],
            ["meetings_clients.owner", "meetings_clients.id"],
            name="fk_meetings_projects_client",
        ),
    )
    # (Ordering by due date sorts on COALESCE(due_date, ...), which an index does not serve.)
    for column in ("update_time", "create_time", "title_key", "progress_percent"):
        op.create_index(
            f"ix_meetings_projects_owner_{column}", "meetings_projects", ["owner", column, "id"]
        )
    op.create_index(
        "ix_meetings_projects_owner_client", "meetings_projects", ["owner", "client_id"]
    )

    op.create_table(
        "meetings_project_tags",
        sa.Column(
            "project_id",
            sa.String(32),
            sa.ForeignKey(
                "meetings_projects.id",
                name="fk_meetings_project_tags_project",
                ondelete="CASCADE",
            ),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("tag", sa.String(40), nullable=False),
    )
    op.create_index("ix_meetings_project_tags_tag", "meetings_project_tags", ["tag", "project_id"])


def downgrade() -> None:
    op.drop_table("meetings_project_tags")
    op.drop_table("meetings_projects")
    op.drop_table("meetings_clients")
