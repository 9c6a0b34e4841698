"""Which database holds the drawing bank: its URL from the environment or secrets, and how to name it safely."""

from __future__ import annotations

from collections.abc import Mapping

from digitlab.config.paths import runs_root
from digitlab.config.secrets import config_value

DATABASE_URL_VAR = "DIGITLAB_DATABASE_URL"
DEFAULT_DATABASE_FILE = "drawings.sqlite"


def default_database_url() -> str:
    """An SQLite file beside the runs folder ($DIGITLAB_RUNS, else runs/ in the repository)."""
    return f"sqlite:///{(runs_root().parent / DEFAULT_DATABASE_FILE).resolve()}"


def database_url(secrets: Mapping | None = None, environ: Mapping[str, str] | None = None) -> str:
    """$DIGITLAB_DATABASE_URL, else that key in the secrets (Streamlit's, or .streamlit/secrets.toml), else SQLite."""
    configured = config_value(DATABASE_URL_VAR, secrets, environ)
    return str(configured).strip() if configured else default_database_url()


def describe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url  # only where a message names a database: config stays light

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is reported when the bank is opened; here it only needs hiding
        return "the configured database"
