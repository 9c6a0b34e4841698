"""Where the drawing bank lives (config/database.py) and the one reader of the secrets file (config/secrets.py)."""

from __future__ import annotations

import pytest

from digitlab.config.database import database_url, describe_url
from digitlab.config.secrets import config_value, read_secrets_file


def test_database_url_comes_from_env_then_secrets_then_beside_the_runs(tmp_path):
    """Test that DIGITLAB_DATABASE_URL wins over secrets, and the default is an SQLite file beside the runs folder."""
    env = {"DIGITLAB_DATABASE_URL": "postgresql+psycopg://a@b/c"}
    assert database_url({"DIGITLAB_DATABASE_URL": "sqlite:///x"}, env) == "postgresql+psycopg://a@b/c"
    assert database_url({"DIGITLAB_DATABASE_URL": "sqlite:///x"}, {}) == "sqlite:///x"
    runs = tmp_path / "somewhere" / "runs"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIGITLAB_RUNS", str(runs))
        assert database_url({}, {}) == f"sqlite:///{runs.parent / 'drawings.sqlite'}"
    assert "secret" not in describe_url("postgresql+psycopg://me:secret@host/db")


def test_the_command_line_reads_the_database_url_from_the_secrets_file(tmp_path, monkeypatch):
    """Test that without the variable, .streamlit/secrets.toml in the working folder names the database."""
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('DIGITLAB_DATABASE_URL = " sqlite:///from-file "\n')
    monkeypatch.chdir(tmp_path)
    assert database_url(environ={}) == "sqlite:///from-file"
    assert database_url(environ={"DIGITLAB_DATABASE_URL": "sqlite:///from-env"}) == "sqlite:///from-env"
    assert config_value("DIGITLAB_DATABASE_URL", environ={"DIGITLAB_DATABASE_URL": ""}) == " sqlite:///from-file "


def test_a_missing_or_broken_secrets_file_reads_as_no_secrets(tmp_path):
    """Test that no file, or a file that is not TOML, gives {} (as Streamlit runs without secrets)."""
    assert read_secrets_file(tmp_path / "absent.toml") == {}
    broken = tmp_path / "secrets.toml"
    broken.write_text("this is = = not toml")
    assert read_secrets_file(broken) == {}
    assert config_value("DIGITLAB_DATABASE_URL", secrets={}, environ={}) is None
