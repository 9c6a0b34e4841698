"""Each drawing's content hash (so an import can skip drawings the bank has), and a bin for undoable deletes.

content_sha256 is the sha256 of the stored PNG, filled in here for every drawing already in the bank.
deleted_at marks a drawing deleted from the Drawings page: hidden, restorable for a while, then purged.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BACKFILL_BATCH = 500  # drawings hashed per round trip: a few MB of PNGs at a time, never the whole bank


def upgrade() -> None:
    # Spelled out, not taken from schema.py: a revision stays what it was when databases ran it.
    with op.batch_alter_table("drawings") as batch:
        batch.add_column(sa.Column("content_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    _fill_content_hashes(op.get_bind())
    # Only now that every row has one: on SQLite this copies the table once, inside the migration's transaction.
    with op.batch_alter_table("drawings") as batch:
        batch.alter_column("content_sha256", existing_type=sa.String(64), nullable=False)
        batch.create_index("ix_drawings_content_sha256", ["content_sha256"])
        batch.create_index("ix_drawings_deleted_at", ["deleted_at"])


def _fill_content_hashes(connection) -> None:
    """sha256 of each drawing's PNG, read by id a batch at a time (keyset, so memory stays flat)."""
    drawings = sa.table("drawings", sa.column("id", sa.Integer), sa.column("png", sa.LargeBinary),
                        sa.column("content_sha256", sa.String))
    last = 0
    while True:
        rows = connection.execute(sa.select(drawings.c.id, drawings.c.png).where(drawings.c.id > last)
                                  .order_by(drawings.c.id).limit(BACKFILL_BATCH)).all()
        if not rows:
            return
        connection.execute(
            sa.update(drawings).where(drawings.c.id == sa.bindparam("row_id")).values(
                content_sha256=sa.bindparam("digest")),
            [{"row_id": row.id, "digest": hashlib.sha256(bytes(row.png)).hexdigest()} for row in rows])
        last = rows[-1].id


def downgrade() -> None:
    # The code before this revision cannot see the bin: drawings in it would come back as if never deleted.
    op.execute("DELETE FROM drawings WHERE deleted_at IS NOT NULL")
    with op.batch_alter_table("drawings") as batch:
        batch.drop_index("ix_drawings_deleted_at")
        batch.drop_index("ix_drawings_content_sha256")
        batch.drop_column("deleted_at")
        batch.drop_column("content_sha256")
