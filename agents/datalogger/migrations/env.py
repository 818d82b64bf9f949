"""Alembic environment of the grabber's statistics and runs: socs_like.db.run_env does it all."""

from socs_like.db import run_env
from socs_like_agents.datalogger.models import Base

run_env(Base.metadata)
