"""A package's Alembic environment as socs_like.db.Migrations expects it (for the tests)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=context.config.attributes["version_table"])
with context.begin_transaction():
    context.run_migrations()
