"""The one reader of the secrets files Streamlit reads, for the pages and the command line alike.

Streamlit reads each path of its `secrets.files` option in turn (by default ~/.streamlit/secrets.toml,
then .streamlit/secrets.toml in the folder it runs in), a later file's keys winning. A file that exists
but cannot be read is a problem to report, never "no secrets": Streamlit raises the same error for both,
and reading a broken file as empty once made every visitor the owner.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from digitlab.config.settings import setting_value

SECRETS_FILE = Path(".streamlit") / "secrets.toml"  # where Streamlit looks, relative to the folder it runs in
SETTING_PREFIX = "DIGITLAB_"  # every setting DigitLab reads (a top-level secrets key, an environment variable)


class ConfigurationError(RuntimeError):
    """The deployment's configuration is broken; the message says what is wrong, never a secret's value."""


@dataclass(frozen=True)
class SecretsRead:
    """What the secrets files hold, and what is wrong with them."""

    values: dict = field(default_factory=dict)  # top-level keys of every file that parsed, later files winning
    problems: tuple[str, ...] = ()  # one sentence per file that exists but could not be read; no values


def default_secrets_files() -> list[Path]:
    """Streamlit's default `secrets.files`: the user's, then the working folder's (which wins)."""
    return [Path.home() / SECRETS_FILE, Path.cwd() / SECRETS_FILE]


def read_secrets(files: Iterable[str | Path] | None = None) -> SecretsRead:
    """Read files (default: Streamlit's defaults) as Streamlit does; a missing file is simply absent."""
    values, problems = {}, []
    for path in map(Path, default_secrets_files() if files is None else files):
        shown = _shown(path)
        try:
            if path.is_dir():  # Kubernetes-style: one folder per secret, as Streamlit also reads
                values.update(_read_secrets_folder(path))
            elif path.suffix != ".toml":
                if path.exists():
                    problems.append(f"The secrets path {shown} is neither a .toml file nor a folder.")
            else:
                parsed = tomllib.loads(path.read_text(encoding="utf-8"))
                problems += [f"The secrets file {shown} has {key} inside its [{table}] table, where DigitLab "
                             f"does not read it: move it above the file's first [table] line."
                             for table, key in settings_inside_tables(parsed)]
                values.update(parsed)
        except FileNotFoundError:
            continue
        except tomllib.TOMLDecodeError as error:
            problems.append(f"The secrets file {shown} does not parse: {_without_values(str(error))}.")
        except NotAFolderError as error:
            problems.append(f"The secrets folder {shown} holds {error}, which is not a folder of one secret.")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"The secrets file {shown} cannot be read ({type(error).__name__}).")
    return SecretsRead(values, tuple(problems))


def settings_inside_tables(parsed: Mapping, table: str = "") -> list[tuple[str, str]]:
    """(table, key) of each DIGITLAB_ setting nested in a table. In TOML every key after a [table] line
    belongs to that table, so a setting added at the end of a file with an [auth] section is silently not a
    setting: a database URL there would leave the drawings on a disk that is wiped, and no one would know."""
    found = []
    for name, value in parsed.items():
        if isinstance(value, Mapping):
            inner = f"{table}.{name}" if table else name
            found += [(inner, key) for key in value if key.startswith(SETTING_PREFIX)]
            found += settings_inside_tables(value, inner)
    return found if table else sorted(set(found))


def config_value(name: str, secrets: Mapping | None = None, environ: Mapping[str, str] | None = None):
    """The environment variable name if set, else that key in secrets (default: the secrets files), else None.

    Raises ConfigurationError when the files must be read and one of them is broken: the value it may
    hold is unknown, and guessing "not set" would put the deployment somewhere it did not ask for.
    """
    environ = os.environ if environ is None else environ
    if secrets is None and environ.get(name) in (None, ""):
        read = read_secrets()
        if read.problems:
            raise ConfigurationError(" ".join(read.problems))
        secrets = read.values
    return setting_value(name, secrets, environ)


class NotAFolderError(Exception):
    """A secrets folder holds a file where Streamlit expects one folder per secret."""


def _read_secrets_folder(folder: Path) -> dict:
    secrets = {}
    for secret in sorted(folder.iterdir()):
        if not secret.is_dir():
            raise NotAFolderError(secret.name)
        parts = {part.name: part.read_text(encoding="utf-8").strip() for part in secret.iterdir() if part.is_file()}
        secrets[secret.name] = next(iter(parts.values())) if len(parts) == 1 else parts
    return secrets


def _shown(path: Path) -> str:
    """The path as the deployer knows it (.streamlit/secrets.toml, ~/.streamlit/secrets.toml): the page shows it."""
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + path.absolute().relative_to(base).as_posix()
        except ValueError:
            continue
    return str(path)


def _without_values(parser_message: str) -> str:
    """tomllib's message, less the one character it may quote from inside a value."""
    return re.sub(r"(character) .+? (\(at )", r"\1 \2", parser_message)
