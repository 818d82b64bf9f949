"""Alembic environment of the file database: socs_like.db.run_env does it all."""

from socs_like.db import run_env
from socs_like_agents.filedb.models import Base

run_env(Base.metadata)
