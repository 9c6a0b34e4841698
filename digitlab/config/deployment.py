"""The deployment's configuration, read once from the secrets files and the environment, and what is wrong with it.

One object holds the settings, who the owner is, and where the drawing bank lives. A broken or
half-written configuration never grants anything: while `problems` is not empty nobody is the owner,
training is off and the bank's URL is refused, so no drawing goes to a database the deployment did not
ask for. Each problem is logged once per process, naming files and variables, never a secret's value.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl

from digitlab.config.access import AccessPolicy, half_configuration_problems, load_access_policy
from digitlab.config.secrets import SETTING_PREFIX, ConfigurationError, default_secrets_files, read_secrets
from digitlab.config.settings import Settings, SettingsError, load_settings, setting_value

DATABASE_URL_VAR = "DIGITLAB_DATABASE_URL"
ENVIRONMENT_PREFIX = SETTING_PREFIX  # every variable DigitLab reads starts so: the cache keys on these alone
_TRUE = frozenset({"true", "yes", "on", "y", "t", "1"})  # what SQLAlchemy reads as ?uri=true
WHILE_BROKEN = "Owner actions, training and saving drawings are off until it is fixed."

_log = logging.getLogger(__name__)
_logged: set[str] = set()
_logged_lock = threading.Lock()


@dataclass(frozen=True)
class Deployment:
    """This deployment's configuration as one read of the secrets files and the environment found it."""

    settings: Settings = field(default_factory=Settings)  # training_enabled is False while there are problems
    access: AccessPolicy = field(default_factory=AccessPolicy)  # who the configuration names as the owner
    configured_database_url: str | None = None  # DIGITLAB_DATABASE_URL; None: the SQLite file beside the runs
    problems: tuple[str, ...] = ()  # what is wrong, a sentence each; no secret values

    @property
    def broken(self) -> bool:
        return bool(self.problems)

    def is_owner(self, signed_in_email: str | None = None, password_accepted: bool = False,
                 same_machine: bool = False) -> bool:
        """The access policy's answer, and never yes while the configuration is broken."""
        return not self.problems and self.access.is_owner(signed_in_email, password_accepted, same_machine)

    def raise_if_broken(self, refused: str) -> None:
        """Raise ConfigurationError saying what is refused and why, when the configuration is broken."""
        if self.problems:
            raise ConfigurationError(f"{refused} while DigitLab's configuration is broken: " + " ".join(self.problems))


def deployment_from(secrets: Mapping, environ: Mapping[str, str] | None = None,
                    file_problems: Iterable[str] = ()) -> Deployment:
    """The deployment that these secrets and this environment (default: os.environ) describe."""
    file_problems = tuple(file_problems)
    problems = list(file_problems)
    try:
        access = load_access_policy(secrets, environ)
    except SettingsError as error:
        access = AccessPolicy()
        problems.append(str(error))
    else:
        if not file_problems:  # an unreadable file may hold the other half
            problems += half_configuration_problems(access)
    try:
        settings = load_settings(secrets, environ)
    except SettingsError as error:
        settings = Settings()
        problems.append(str(error))
    url = setting_value(DATABASE_URL_VAR, secrets, environ)
    url = str(url).strip() if url else None
    if url and _is_in_memory_sqlite(url):
        problems.append(f"{DATABASE_URL_VAR} names an in-memory SQLite database, which forgets every drawing when "
                        "the process ends (and gives each thread an empty one of its own). Give a file "
                        "(sqlite:///path/drawings.sqlite) or a PostgreSQL server "
                        "(postgresql+psycopg://user:password@host/dbname).")
    if problems:
        settings = replace(settings, training_enabled=False)
    return Deployment(settings, access, url, tuple(problems))


def _is_in_memory_sqlite(url: str) -> bool:
    """Whether url names an SQLite database that lives only in memory: sqlite://, sqlite:///:memory:, or a URI
    (?uri=true) such as file::memory: or mode=memory. Read without SQLAlchemy, which the Draw page loads later."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.split("+")[0].lower() != "sqlite":
        return False
    database, _, query = rest.partition("?")
    database = database.removeprefix("/")  # sqlite:///drawings.sqlite: the host between // and / is empty
    if database in ("", ":memory:"):
        return True  # what SQLAlchemy opens for a URL without a file
    options = {key.lower(): value.lower() for key, value in parse_qsl(query)}
    if options.get("uri") not in _TRUE or not database.startswith("file:"):
        return False  # without uri=true, SQLite takes "file::memory:" as the name of a file
    # An empty name is SQLite's private temporary database, deleted when closed: it forgets too.
    return database.removeprefix("file:") in ("", ":memory:") or options.get("mode") == "memory"


def read_deployment(files: Iterable[str | Path] | None = None,
                    environ: Mapping[str, str] | None = None) -> Deployment:
    """The deployment from the secrets files (default: Streamlit's defaults) and environment (default: os.environ).

    Read again only when a file or a DIGITLAB_ variable changes, so calling it on every rerun is cheap and
    a fixed secrets file takes effect without a restart.
    """
    paths = tuple(Path(path) for path in (default_secrets_files() if files is None else files))
    environ = os.environ if environ is None else environ
    ours = tuple(sorted((name, value) for name, value in environ.items() if name.startswith(ENVIRONMENT_PREFIX)))
    deployment = _read(paths, tuple(map(_stamp, paths)), ours)
    _log_once(deployment.problems)
    return deployment


@lru_cache(maxsize=8)
def _read(paths: tuple[Path, ...], stamps: tuple, environ_items: tuple[tuple[str, str], ...]) -> Deployment:
    read = read_secrets(paths)
    return deployment_from(read.values, dict(environ_items), read.problems)


def _stamp(path: Path):
    """What changes when a secrets file (or folder of secrets) is edited; None when there is none."""
    try:
        if path.is_dir():
            return tuple((str(part), part.stat().st_mtime_ns, part.stat().st_size) for part in sorted(path.rglob("*")))
        stat = path.stat()
        return stat.st_mtime_ns, stat.st_size, stat.st_ino
    except OSError:
        return None


def _log_once(problems: Iterable[str]) -> None:
    with _logged_lock:
        new = [problem for problem in problems if problem not in _logged]
        _logged.update(new)
    for problem in new:
        _log.error("DigitLab's configuration is broken: %s %s", problem, WHILE_BROKEN)
