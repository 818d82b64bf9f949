"""Alembic environment: runs on the connection handed over by socs_like.db.Migrations."""

from alembic import context

from socs_like_agents.datalogger.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=context.config.attributes["version_table"],
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
