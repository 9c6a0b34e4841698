"""The drawing bank (SQLAlchemy + Alembic): schema, repository, input checks, archive, snapshots."""
