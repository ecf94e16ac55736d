"""Alembic's entry point: migrations run on the connection (and in the transaction) `bot.storage.migrate`
hands over, under its one-at-a-time lock."""

from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
