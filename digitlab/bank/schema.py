"""The drawing bank's tables (drawings, classes), as SQLAlchemy sees it today; digitlab/bank/migrations/ brings a database to it."""

from __future__ import annotations

from sqlalchemy import (JSON, Column, DateTime, ForeignKey, Integer, LargeBinary, MetaData, SmallInteger, String, Table,
                        Text)

MAX_TAG_LENGTH = 64  # writer and session tags
SHA256_LENGTH = 64  # hex digits
MAX_NICKNAME_LENGTH = 24  # a student's optional nickname in a class
MAX_CLASS_NAME_LENGTH = 64
MNIST_SHAPE = (28, 28)  # what the mnist column holds: 784 bytes, row by row
# Alembic's record of the revision a database is at, named for DigitLab so that other applications'
# migrations in a shared PostgreSQL database keep their own alembic_version.
VERSION_TABLE = "digitlab_alembic_version"

metadata = MetaData()

# A class a teacher shares the app with: its drawings carry its id. Only a hash of the join code is kept.
classes_table = Table(
    "classes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_CLASS_NAME_LENGTH), nullable=False),
    Column("code_sha256", String(SHA256_LENGTH), nullable=False, unique=True),  # sha256 of the join code
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),  # when closed: no more drawings, nobody joins
)

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
    # The class it was drawn in (None: outside any class), and the nickname its student gave, if any
    Column("class_id", Integer, ForeignKey("classes.id", name="fk_drawings_class_id"), nullable=True, index=True),
    Column("nickname", String(MAX_NICKNAME_LENGTH), nullable=True),
    # SQLite would otherwise give the next drawing the number of one just taken back while it was the newest
    # (PostgreSQL's sequence never hands a number out twice).
    sqlite_autoincrement=True,
)
