"""Import the original's ``ACNETparameterStats`` rows when that table is in the database.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from socs_like_agents.datalogger.store import import_legacy_stats

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    import_legacy_stats(op.get_bind())


def downgrade() -> None:
    # the original table is never modified: dropping the imported copies gives it back
    op.execute("DELETE FROM datalogger_stats WHERE file_name IS NULL")
