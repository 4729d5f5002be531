"""The assistant's tables. Conversations keep their settings as columns (UpdateConversation
changes them one by one); messages and completions keep the contract's message as protobuf
bytes beside the columns that are queried or updated on their own, so every output field the
contract names round-trips without a column per field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from voka.assistant.v1 import assistant_pb2
from voka.wellknown import utc

metadata = sa.MetaData()

conversations = sa.Table(
    "assistant_conversations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("instructions", sa.Text(), nullable=False),
    sa.Column("context", sa.Text(), nullable=False),  # JSON object
    sa.Column("technical", sa.Float()),  # NULL: the user's balance applies
    sa.Column("emotional", sa.Float()),
    sa.Column("hemisphere_time", sa.DateTime(timezone=True)),
    sa.Column("allowed_tools", sa.Text(), nullable=False),  # JSON list
    sa.Column("tool_timeout", sa.Float()),
    sa.Column("message_count", sa.Integer(), nullable=False),
    sa.Column("input_tokens", sa.Integer(), nullable=False),
    sa.Column("output_tokens", sa.Integer(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_message_time", sa.DateTime(timezone=True)),
    sa.Column("activity_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("context_summary", sa.Text(), nullable=False, server_default=""),
)

messages = sa.Table(
    "assistant_messages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "conversation_id",
        sa.String(32),
        sa.ForeignKey("assistant_conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("turn", sa.Integer(), nullable=False),
    sa.Column("request_id", sa.String(128)),
    sa.Column("body", sa.LargeBinary(), nullable=False),  # voka.assistant.v1.Message
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("conversation_id", "seq"),
)

balances = sa.Table(
    "assistant_balances",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("technical", sa.Float(), nullable=False),
    sa.Column("emotional", sa.Float(), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

# The MCP tools an admin granted a user (issue 15, item 10); no row: none.
mcp_grants = sa.Table(
    "assistant_mcp_grants",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("allowed_tools", sa.Text(), nullable=False),  # JSON list, never empty
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

completions = sa.Table(
    "assistant_completions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("state", sa.Integer(), nullable=False),
    sa.Column("request_id", sa.String(128)),
    sa.Column("body", sa.LargeBinary(), nullable=False),  # voka.assistant.v1.Completion
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("owner", "request_id"),
)


@dataclass(frozen=True)
class ConversationRecord:
    """One row of `assistant_conversations`, with JSON columns decoded."""

    id: str
    owner: str
    display_name: str
    model: str
    instructions: str
    context: dict[str, Any]
    technical: float | None
    emotional: float | None
    hemisphere_time: datetime | None
    allowed_tools: tuple[str, ...]
    tool_timeout: float | None
    message_count: int
    input_tokens: int
    output_tokens: int
    create_time: datetime
    update_time: datetime
    last_message_time: datetime | None
    activity_time: datetime
    context_summary: str = ""  # of the turns the last prompt left out (`summary.py`)

    @property
    def name(self) -> str:
        return f"conversations/{self.id}"

    @classmethod
    def from_row(cls, row: Any) -> ConversationRecord:
        values = dict(row._mapping)
        values["context"] = json.loads(values["context"])
        values["allowed_tools"] = tuple(json.loads(values["allowed_tools"]))
        for key in ("hemisphere_time", "create_time", "update_time", "last_message_time",
                    "activity_time"):  # fmt: skip
            values[key] = values[key] and utc(values[key])
        return cls(**values)


def conversation_row(record: ConversationRecord) -> dict[str, Any]:
    """The columns of a record, JSON columns encoded."""
    values = dict(record.__dict__)
    values["context"] = json.dumps(record.context)
    values["allowed_tools"] = json.dumps(list(record.allowed_tools))
    return values


@dataclass(frozen=True)
class McpGrantRecord:
    """One row of `assistant_mcp_grants`: what an admin granted a user, and when."""

    owner: str
    allowed_tools: tuple[str, ...]
    update_time: datetime


@dataclass(frozen=True)
class StoredMessage:
    """A message with its place: turn number and position in the conversation."""

    seq: int
    turn: int
    message: assistant_pb2.Message


def newest_first(
    select: sa.Select[Any], table: sa.Table, order: str,
    after: tuple[datetime, str] | None, limit: int,
) -> sa.Select[Any]:  # fmt: skip
    """`select` on `table` newest first by (`order`, id), past the keyset cursor `after`, with
    one row beyond `limit` so the page knows whether more follow."""
    time, key = table.c[order], table.c.id
    if after is not None:
        beyond = sa.and_(time == after[0], key < after[1])
        select = select.where(sa.or_(time < after[0], beyond))
    return select.order_by(time.desc(), key.desc()).limit(limit + 1)


def upsert(
    session: AsyncSession, table: sa.Table, values: dict[str, Any]
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of `values` that updates the row with the same primary key instead: one
    statement, so two writers at once cannot both find no row and then clash on the key (issue
    15, item 2)."""
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    keys = [column.name for column in table.primary_key]
    changed = {name: value for name, value in values.items() if name not in keys}
    return insert.values(values).on_conflict_do_update(index_elements=keys, set_=changed)
