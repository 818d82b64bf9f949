"""Runs and their event log.

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
        "pipeline_runs",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("raw_status", sa.String(16), nullable=False),
        sa.Column("raw_location", sa.Text, nullable=False),
        sa.Column("processed_status", sa.String(16), nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("raw_size", sa.BigInteger, nullable=False),
        sa.Column("tags", sa.String(200), nullable=False),
        sa.Column("comments", sa.Text, nullable=False),
        sa.Column("job_id", sa.String(64)),
        sa.Column("job_log", sa.Text),
        sa.Column("exit_code", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("transfer_attempts", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("archive_md5", sa.String(32)),
        sa.Column("bundle", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_pipeline_runs_raw_processed",
        "pipeline_runs",
        ["raw_status", "processed_status", "name"],
    )
    op.create_index("ix_pipeline_runs_processed", "pipeline_runs", ["processed_status"])
    op.create_table(
        "pipeline_run_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run",
            sa.String(200),
            sa.ForeignKey("pipeline_runs.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(40)),
        sa.Column("to_status", sa.String(40)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_pipeline_run_events_run", "pipeline_run_events", ["run"])


def downgrade() -> None:
    op.drop_table("pipeline_run_events")
    op.drop_table("pipeline_runs")
