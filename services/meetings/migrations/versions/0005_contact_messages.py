"""meetings: contact messages, sent through the public contact form and read by admins.

A message belongs to no user. One converted into a client names it; deleting the client
clears the link (ON DELETE SET NULL) and keeps the message.

Revision ID: meetings_0005
Revises: meetings_0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "meetings_0005"
down_revision: str | Sequence[str] | None = "meetings_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "meetings_contact_messages"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("sender_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column(
            "client_id",
            sa.String(32),
            sa.ForeignKey(
                "meetings_clients.id",
                name="fk_meetings_contact_messages_client",
                ondelete="SET NULL",
            ),
            nullable=True,
        ),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    # Lists are newest first, all or by read state; id breaks ties.
    op.create_index(f"ix_{TABLE}_create_time", TABLE, ["create_time", "id"])
    op.create_index(f"ix_{TABLE}_read_create_time", TABLE, ["read", "create_time", "id"])


def downgrade() -> None:
    op.drop_table(TABLE)
