"""Drawing-bank databases for tests: a fresh SQLite file always, a fresh PostgreSQL database when CI started a server."""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_URL_VAR = "DIGITLAB_TEST_POSTGRES_URL"  # set by .ci/run (.ci/test-postgres.sh)
BACKENDS = ["sqlite", "postgresql"]


def fresh_database_url(backend: str, tmp_path) -> str:
    """The URL of an empty database of that kind; skips when no PostgreSQL server was started."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'drawings.sqlite'}"
    server = os.environ.get(POSTGRES_URL_VAR)
    if not server:
        pytest.skip(f"no PostgreSQL server for tests: {POSTGRES_URL_VAR} is not set (.ci/run starts one)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"digitlab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def bank_of_mnist_digits(url: str, mnist, count: int, writers: list[str], source: str = "draw"):
    """A migrated bank at url holding the first `count` MNIST test digits, saved by `writers` in turn."""
    from digitlab.bank.drawing_checks import encode_png
    from digitlab.bank.records import NewDrawing
    from digitlab.bank.repository import DrawingBank

    bank = DrawingBank(url)
    bank.migrate()
    bank.add_many(NewDrawing(png=encode_png(image), mnist=image, label=int(label), source=source,
                             writer=writers[index % len(writers)])
                  for index, (image, label) in enumerate(zip(mnist.x_test[:count], mnist.y_test[:count])))
    return bank
