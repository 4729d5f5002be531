"""meetings: project chat messages, and case-folded text for search.

Search matches folded text with LIKE, so it behaves the same on SQLite and PostgreSQL (whose
lower() differ beyond ASCII): meetings, transcript segments and summaries get a derived
column, filled here for the rows already there and written with every row from now on.

Revision ID: meetings_0003
Revises: meetings_0002
Create Date: 2025-12-06
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "meetings_0003"
down_revision: str | Sequence[str] | None = "meetings_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, key columns, source columns, folded column); summaries' list columns are JSON.
FOLDED = (
    ("meetings_meetings", ("id",), ("title", "description"), "search_text"),
    ("meetings_transcript_segments", ("recording_id", "position"), ("text",), "text_key"),
    (
        "meetings_summaries",
        ("meeting_id",),
        ("text", "key_points", "decisions", "commitments", "next_steps"),
        "search_text",
    ),
)


def _folded(values: Sequence[str]) -> str:
    """The words the service writes: each field folded, one per line; JSON lists are read into
    their items (commitments: their description, owner and due date)."""
    parts: list[str] = []
    for value in values:
        decoded = json.loads(value) if value.startswith("[") else value
        items = decoded if isinstance(decoded, list) else [decoded]
        for item in items:
            parts += [str(v) for v in item.values()] if isinstance(item, dict) else [str(item)]
    return "\n".join(p.casefold() for p in parts)


def _backfill(table: str, keys: Sequence[str], sources: Sequence[str], column: str) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT {', '.join((*keys, *sources))} FROM {table}")).all()
    where = " AND ".join(f"{k} = :{k}" for k in keys)
    update = sa.text(f"UPDATE {table} SET {column} = :folded WHERE {where}")
    for row in rows:
        values = row._mapping
        folded = _folded([values[s] for s in sources])
        bind.execute(update, {**{k: values[k] for k in keys}, "folded": folded})


def upgrade() -> None:
    op.create_table(
        "meetings_chat_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        # The project's chat goes with it.
        sa.Column(
            "project_id",
            sa.String(32),
            sa.ForeignKey("meetings_projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_key", sa.Text(), nullable=False),
        # Citations as a JSON array, numbered as in the content.
        sa.Column("citations", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("reply_to", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_meetings_chat_messages_project",
        "meetings_chat_messages",
        ["project_id", "create_time", "id"],
    )
    for table, keys, sources, column in FOLDED:
        # A plain ALTER TABLE: a batch copy would drop the table on SQLite, and with it
        # (foreign keys on) every row below it by cascade.
        op.add_column(table, sa.Column(column, sa.Text(), nullable=False, server_default=""))
        _backfill(table, keys, sources, column)


def downgrade() -> None:
    for table, _, _, column in FOLDED:
        op.drop_column(table, column)
    op.drop_table("meetings_chat_messages")
