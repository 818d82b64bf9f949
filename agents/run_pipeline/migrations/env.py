"""Alembic environment of the runs database: socs_like.db.run_env does it all."""

from socs_like.db import run_env
from socs_like_agents.run_pipeline.tables import Base

run_env(Base.metadata)
