"""The one Alembic environment shared by the kit and every service.

`voka.db.migrate` hands it an open connection (inside its transaction) and the version table;
run from the `alembic` command line instead, it connects to `sqlalchemy.url` itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from voka import db

config = context.config


def run_with(connection: Connection) -> None:
    """Configure Alembic on `connection` and run the pending migrations of every branch."""
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata"),
        version_table=config.attributes.get("version_table", db.DEFAULT_VERSION_TABLE),
        # db.create_engine makes SQLite emit real BEGINs, so its DDL is transactional too.
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone(url: str) -> None:
    """Command-line use: connect with the kit's engine settings."""
    engine = db.create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_with)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("voka migrations run online only (voka.db.migrate)")
elif (given := config.attributes.get("connection")) is not None:
    run_with(given)
else:
    asyncio.run(run_standalone(config.get_main_option("sqlalchemy.url") or ""))
