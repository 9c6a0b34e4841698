"""Brings a drawing bank's database to the schema this code reads: Alembic's revisions, run when a bank is opened.

The revisions live in digitlab/bank/migrations/versions/, one file per change of schema.py. A database
made before DigitLab used Alembic carries its own marker (digitlab_schema_version, version 1); it holds
exactly what revision 0001 creates, so it is stamped at 0001 and carried on from there, drawings untouched.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from digitlab.bank.engine import allow_long_work
from digitlab.bank.schema import VERSION_TABLE

MIGRATIONS_FOLDER = Path(__file__).resolve().with_name("migrations")
HAND_MIGRATED_TABLE = "digitlab_schema_version"  # the version marker DigitLab kept before Alembic
HAND_MIGRATED_REVISIONS = {1: "0001"}  # its version -> the Alembic revision holding the same schema
MIGRATION_LOCK_KEY = 1400001  # PostgreSQL advisory lock held while one process migrates


class NewerSchemaError(RuntimeError):
    """The database was brought to a schema by a newer DigitLab than this one."""

    def __init__(self, found: str, understood: str):
        super().__init__(f"schema version {found} is newer than {understood}")
        self.found, self.understood = found, understood


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the bank, made in code: no alembic.ini. With connection, migrations run on it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_FOLDER))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this code reads and writes."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for one Alembic has never migrated."""
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade_to_head(connection: Connection) -> str:
    """Apply the revisions the database lacks, inside the caller's transaction; the revision it is at now.

    The caller's transaction holds the database's write lock (SQLite's BEGIN IMMEDIATE; on PostgreSQL the
    advisory lock taken here), so of two processes opening a new bank at once, one creates the table and
    the other then finds it there. Raises NewerSchemaError for a database from a newer DigitLab.
    """
    if connection.dialect.name == "postgresql":
        allow_long_work(connection)  # waiting for another's migration, and rewriting a large table, take minutes
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    config = alembic_config(connection)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    current = current_revision(connection)
    if current is None:
        _adopt_hand_migrated_database(connection, config, head)
    elif current not in {revision.revision for revision in script.walk_revisions()}:
        raise NewerSchemaError(current, head)
    command.upgrade(config, "head")
    return current_revision(connection)


def _adopt_hand_migrated_database(connection: Connection, config: Config, head: str) -> None:
    """Stamp a database made before Alembic at the revision its marker names, and drop the old marker."""
    if not inspect(connection).has_table(HAND_MIGRATED_TABLE):
        return  # a new database: upgrade creates everything
    version = connection.execute(text(f"SELECT max(version) FROM {HAND_MIGRATED_TABLE}")).scalar() or 0
    if version and version not in HAND_MIGRATED_REVISIONS:
        raise NewerSchemaError(str(version), head)
    if version:
        command.stamp(config, HAND_MIGRATED_REVISIONS[version])
    # From here on the revision in VERSION_TABLE is the one record; two markers could only disagree.
    connection.execute(text(f"DROP TABLE {HAND_MIGRATED_TABLE}"))
