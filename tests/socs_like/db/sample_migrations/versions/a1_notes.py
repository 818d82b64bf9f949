"""A table of notes.

Revision ID: a1
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text)
    )


def downgrade() -> None:
    op.drop_table("notes")
