"""The drawings table, as DigitLab made it before Alembic (its hand-written schema version 1).

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

INDEXED_COLUMNS = ("created_at", "label", "writer", "session")


def upgrade() -> None:
    # Spelled out, not taken from schema.py: a revision stays what it was when databases ran it.
    op.create_table(
        "drawings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.SmallInteger(), nullable=True),
        sa.Column("reading", sa.SmallInteger(), nullable=True),
        sa.Column("probabilities", sa.JSON(), nullable=True),
        sa.Column("model_sha256", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("writer", sa.String(64), nullable=True),
        sa.Column("session", sa.String(64), nullable=True),
        sa.Column("strokes", sa.Text(), nullable=True),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("mnist", sa.LargeBinary(), nullable=False),
    )
    for column in INDEXED_COLUMNS:
        op.create_index(f"ix_drawings_{column}", "drawings", [column])


def downgrade() -> None:
    op.drop_table("drawings")
