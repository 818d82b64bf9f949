"""Registered files and timecode directories.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# a frozen copy: a migration must keep doing what it did when models.py changes
STATES = ("pending", "unreadable", "queued", "synced", "removed")


def upgrade() -> None:
    op.create_table(
        "registered_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("local_path", sa.Text, nullable=False),
        sa.Column("archive_name", sa.String(64), nullable=False),
        sa.Column("remote_path", sa.Text, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("timecode", sa.Integer),
        sa.Column("local_md5sum", sa.String(32)),
        sa.Column("local_size", sa.BigInteger),
        sa.Column("local_mtime", sa.Float),
        sa.Column("checksum_error", sa.Text),
        sa.Column("remote_md5sum", sa.String(32)),
        sa.Column("copied", sa.Float),
        sa.Column("verified", sa.Float),
        sa.Column("removed", sa.Float),
        sa.Column("failed_copy_attempts", sa.Integer, nullable=False),
        sa.Column("deletable", sa.Boolean, nullable=False),
        sa.Column("ignore", sa.Boolean, nullable=False),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")",
            name="ck_registered_files_state",
        ),
    )
    op.create_index(
        "ix_registered_files_state_archive_id", "registered_files", ["state", "archive_name", "id"]
    )
    op.create_index(
        "ix_registered_files_archive_state_verified",
        "registered_files",
        ["archive_name", "state", "verified"],
    )
    op.create_index(
        "ix_registered_files_archive_timestamp", "registered_files", ["archive_name", "timestamp"]
    )
    op.create_index(
        "ix_registered_files_archive_timecode_state",
        "registered_files",
        ["archive_name", "timecode", "state"],
    )
    op.create_index("ix_registered_files_local_path", "registered_files", ["local_path"])
    op.create_table(
        "timecode_dirs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("timecode", sa.Integer, nullable=False),
        sa.Column("archive_name", sa.String(64), nullable=False),
        sa.Column("completed", sa.Boolean, nullable=False),
        sa.Column("synced", sa.Boolean, nullable=False),
        sa.Column("finalized", sa.Boolean, nullable=False),
        sa.Column(
            "finalize_file_id",
            sa.Integer,
            sa.ForeignKey("registered_files.id", name="fk_timecode_dirs_finalize_file"),
        ),
        sa.UniqueConstraint("archive_name", "timecode", name="uq_timecode_dirs_archive_timecode"),
    )


def downgrade() -> None:
    op.drop_table("timecode_dirs")
    op.drop_table("registered_files")
