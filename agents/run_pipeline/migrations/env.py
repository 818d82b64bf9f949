"""Alembic environment: runs on the connection handed over by socs_like.db.migrate."""

from alembic import context

from socs_like_agents.run_pipeline.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=context.config.attributes["version_table"],
    # SQLite cannot ALTER most things in place: let Alembic copy-and-move tables
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
