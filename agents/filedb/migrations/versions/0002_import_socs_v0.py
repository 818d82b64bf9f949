"""Import an old socs database (supersync_v0 / timecode_dirs_v0) when one is present.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from socs_like_agents.filedb.legacy import has_legacy_tables, import_legacy

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    import_legacy(op.get_bind())


def downgrade() -> None:
    # the old tables were never modified: dropping the imported copies gives them back
    if has_legacy_tables(op.get_bind()):
        op.execute("DELETE FROM timecode_dirs WHERE id IN (SELECT id FROM timecode_dirs_v0)")
        op.execute("DELETE FROM registered_files WHERE id IN (SELECT id FROM supersync_v0)")
