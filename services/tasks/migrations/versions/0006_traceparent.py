"""tasks: the trace context of the request that submitted a task, so every attempt's worker span
continues that trace (Envoy → tasks service → worker in one trace).

Revision ID: tasks_0006
Revises: tasks_0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tasks_0006"
down_revision: str | Sequence[str] | None = "tasks_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks_tasks", sa.Column("traceparent", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("tasks_tasks", "traceparent")
