"""Alembic environment: runs migrations over SQLAlchemy's asyncpg dialect.

The schema itself is plain SQL in sql/schema/ (one file pair per migration, up and down);
SQLAlchemy is only Alembic's engine here, there is no ORM model to autogenerate from."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from wattsup.config import load_settings


def _url() -> str:
    url = context.config.attributes.get("database_url") or load_settings().database_url
    return (
        str(url)
        .replace("postgresql://", "postgresql+asyncpg://", 1)
        .replace("postgres://", "postgresql+asyncpg://", 1)
    )


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline mode is not supported: run `wattsup migrate`")
asyncio.run(_main())
