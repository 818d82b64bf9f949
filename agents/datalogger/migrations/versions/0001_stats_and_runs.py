"""Statistics and scheduled runs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datalogger_stats",
        sa.Column("epoch_utc_sec", sa.Integer, primary_key=True),
        sa.Column("param_name", sa.String(64), primary_key=True),
        sa.Column("stat_name", sa.String(16), primary_key=True),
        sa.Column("stat_val", sa.Float, nullable=False),
        sa.Column("file_name", sa.String(255)),
    )
    op.create_index("ix_datalogger_stats_file_name", "datalogger_stats", ["file_name"])
    op.create_table(
        "datalogger_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(16), nullable=False),
        sa.Column("due", sa.Float, nullable=False),
        sa.Column("finished", sa.Float, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_datalogger_runs_schedule", "datalogger_runs", ["schedule"])


def downgrade() -> None:
    op.drop_table("datalogger_runs")
    op.drop_table("datalogger_stats")
