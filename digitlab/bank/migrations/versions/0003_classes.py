"""Classes: a teacher's class (name, its join code's hash, when it was closed), and each drawing's class and nickname.

Drawings already in the bank were drawn outside any class: their class_id and nickname stay empty.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out, not taken from schema.py: a revision stays what it was when databases ran it.
    op.create_table(
        "classes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("code_sha256"),
    )
    with op.batch_alter_table("drawings") as batch:
        batch.add_column(sa.Column("class_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("nickname", sa.String(24), nullable=True))
        batch.create_foreign_key("fk_drawings_class_id", "classes", ["class_id"], ["id"])
        batch.create_index("ix_drawings_class_id", ["class_id"])


def downgrade() -> None:
    # The code before this revision knows no classes: their drawings stay, as drawings outside any class.
    with op.batch_alter_table("drawings") as batch:
        batch.drop_index("ix_drawings_class_id")
        batch.drop_constraint("fk_drawings_class_id", type_="foreignkey")
        batch.drop_column("nickname")
        batch.drop_column("class_id")
    op.drop_table("classes")
