"""An index on (state, id) for the monitor's recovery of rows still waiting for a checksum.

``pending_checksums`` and ``max_pending_id`` filter on ``state`` alone (every archive) and
order by id. The (state, archive_name, id) index cannot give that order, so SQLite walked the
primary key through every file ever registered to find the few pending ones.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_registered_files_state_id", "registered_files", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_registered_files_state_id", "registered_files")
