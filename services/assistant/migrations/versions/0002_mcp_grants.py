"""assistant: the MCP tools an admin granted each user (issue 15, item 10); before it every
conversation could use every configured tool, after it none until an admin grants them.

Revision ID: assistant_0002
Revises: assistant_0001
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assistant_0002"
down_revision: str | Sequence[str] | None = "assistant_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistant_mcp_grants",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("allowed_tools", sa.Text(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("assistant_mcp_grants")
