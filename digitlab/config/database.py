"""Which database holds the drawing bank: its URL from the environment or secrets, and how to name it safely."""

from __future__ import annotations

from collections.abc import Mapping

from digitlab.config.deployment import DATABASE_URL_VAR, Deployment, deployment_from, read_deployment
from digitlab.config.paths import runs_root
from digitlab.config.secrets import ConfigurationError

__all__ = ["DATABASE_URL_VAR", "database_url", "default_database_url", "describe_url"]
DEFAULT_DATABASE_FILE = "drawings.sqlite"
HIDDEN = "***"
_CREDENTIAL_QUERY_KEYS = frozenset({"user", "password", "passfile", "sslpassword"})  # libpq takes these in ?...


def default_database_url() -> str:
    """An SQLite file beside the runs folder ($DIGITLAB_RUNS, else runs/ in the repository)."""
    return f"sqlite:///{(runs_root().parent / DEFAULT_DATABASE_FILE).resolve()}"


def database_url(secrets: Mapping | None = None, environ: Mapping[str, str] | None = None,
                 deployment: Deployment | None = None) -> str:
    """$DIGITLAB_DATABASE_URL, else that key in the secrets, else SQLite beside the runs.

    The pages pass their deployment; the command line passes nothing, and the secrets files Streamlit
    reads are read here. Raises ConfigurationError while the configuration is broken: falling back to
    SQLite then would keep drawings on a disk the deployment never chose (Cloud wipes it on restart).
    """
    if deployment is None:
        deployment = read_deployment(environ=environ) if secrets is None else deployment_from(secrets, environ)
    deployment.raise_if_broken("The drawing bank is not opened")  # an in-memory SQLite URL is one of its problems
    return deployment.configured_database_url or default_database_url()


def describe_url(url: str) -> str:
    """The database URL without its user name or password, for messages, model cards and snapshots."""
    try:
        from sqlalchemy.engine import make_url  # only where a message names a database: config stays light

        parsed = make_url(url)
        if parsed.username:
            parsed = parsed.set(username=HIDDEN)
        hidden = {key: HIDDEN for key in parsed.query if key.lower() in _CREDENTIAL_QUERY_KEYS}
        if hidden:
            parsed = parsed.update_query_dict(hidden)
        return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", HIDDEN)  # as the password shows
    except Exception:  # an unparseable URL is reported when the bank is opened; here it only needs hiding
        return "the configured database"
