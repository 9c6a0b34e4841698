"""The one reader of `.streamlit/secrets.toml` and the environment, for code that runs outside Streamlit."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from digitlab.config.settings import setting_value

SECRETS_FILE = Path(".streamlit") / "secrets.toml"  # where Streamlit looks, relative to the folder it runs in


class ConfigurationError(RuntimeError):
    """The deployment's configuration is broken; the message says what is wrong, never a secret's value."""


def read_secrets_file(path: Path | None = None) -> dict:
    """The secrets Streamlit would read (default: .streamlit/secrets.toml here); {} when there is no readable file."""
    path = Path.cwd() / SECRETS_FILE if path is None else path
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no file, or one that does not parse: as Streamlit, run without secrets
        return {}


def config_value(name: str, secrets: Mapping | None = None, environ: Mapping[str, str] | None = None):
    """The environment variable name if set, else that key in secrets (default: the secrets file), else None.

    The UI passes Streamlit's st.secrets; the command line passes nothing, and the file is read only
    when the environment does not already answer.
    """
    environ = os.environ if environ is None else environ
    if secrets is None and environ.get(name) in (None, ""):
        secrets = read_secrets_file()
    return setting_value(name, secrets, environ)
