"""A drawing's number is never handed out again: SQLite's AUTOINCREMENT on drawings.id.

Without it SQLite gives a new row the largest id in the table plus one, so a drawing taken back (or purged
from the bin) while it was the newest left its number to the next drawing saved: "#750" named two drawings,
one in a visitor's "Stored as drawing #750" and another in the bank. PostgreSQL's sequence never hands an id
out twice, so there is nothing to change there.

SQLite cannot change a table to AUTOINCREMENT in place: the table is copied once, inside the migration's
transaction, with every drawing, index and constraint. From then on ids only grow, from the largest kept
(a number freed before this revision, above the largest kept, may still be given once more).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("drawings", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    # 0003's code reads either table: going back leaves the drawings as they are, numbering included.
    pass
