"""The drawing bank's table, as SQLAlchemy sees it today; digitlab/bank/migrations/ brings a database to it."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, LargeBinary, MetaData, SmallInteger, String, Table, Text

MAX_TAG_LENGTH = 64  # writer and session tags
SHA256_LENGTH = 64  # hex digits
MNIST_SHAPE = (28, 28)  # what the mnist column holds: 784 bytes, row by row
# Alembic's record of the revision a database is at, named for DigitLab so that other applications'
# migrations in a shared PostgreSQL database keep their own alembic_version.
VERSION_TABLE = "digitlab_alembic_version"

metadata = MetaData()

# A change here is also a new revision in migrations/versions/, never an edit of an old one: databases in
# use have already run the old revisions.
drawings_table = Table(
    "drawings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("label", SmallInteger, nullable=True, index=True),  # the true digit, where someone gave it
    Column("reading", SmallInteger, nullable=True),  # the digit the model read when it was saved
    Column("probabilities", JSON, nullable=True),  # the model's ten probabilities then
    Column("model_sha256", String(SHA256_LENGTH), nullable=True),  # the model file that read it
    Column("source", String(16), nullable=False),  # draw, upload or import
    Column("writer", String(MAX_TAG_LENGTH), nullable=True, index=True),  # a name or tag people choose
    Column("session", String(MAX_TAG_LENGTH), nullable=True, index=True),  # the browser session that saved it
    Column("strokes", Text, nullable=True),  # canvas JSON as sent, or pen trajectories for imports
    Column("png", LargeBinary, nullable=False),
    Column("mnist", LargeBinary, nullable=False),  # 784 bytes: the 28x28 uint8 image the model saw
    # sha256 of png: with label and writer, what makes two rows the same drawing (an import skips those it has)
    Column("content_sha256", String(SHA256_LENGTH), nullable=False, index=True),
    # When someone deleted it from the Drawings page: hidden from everything, restorable for a while, then purged
    Column("deleted_at", DateTime(timezone=True), nullable=True, index=True),
)
