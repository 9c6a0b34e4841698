"""Where the drawing bank lives (config/database.py) and the one reader of the secrets file (config/secrets.py)."""

from __future__ import annotations

import pytest

from digitlab.config.database import database_url, describe_url
from digitlab.config.secrets import ConfigurationError, SecretsRead, config_value, read_secrets


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


def test_a_missing_secrets_file_is_no_secrets_and_a_broken_one_is_a_problem(tmp_path, monkeypatch):
    """Test that no file gives no secrets, while a file that is not TOML is reported (file and line) and
    refuses the command line's database URL instead of falling back to SQLite."""
    assert read_secrets([tmp_path / "absent.toml"]) == SecretsRead({}, ())
    broken = tmp_path / ".streamlit" / "secrets.toml"
    broken.parent.mkdir()
    broken.write_text('DIGITLAB_DATABASE_URL = "sqlite:///x"\nthis is = = not toml\n')
    read = read_secrets([broken])
    assert read.values == {} and len(read.problems) == 1 and "line 2" in read.problems[0]
    assert config_value("DIGITLAB_DATABASE_URL", secrets={}, environ={}) is None
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match="does not parse"):
        database_url(environ={})
    with pytest.raises(ConfigurationError):
        config_value("DIGITLAB_DATABASE_URL", environ={})


def test_messages_name_the_database_without_its_user_or_password():
    """Test that describe_url (used in messages, model cards and snapshots) hides the user name and password."""
    assert describe_url("postgresql+psycopg://teacher:pw@db.example.org:5432/bank") == \
        "postgresql+psycopg://***:***@db.example.org:5432/bank"
    assert describe_url("postgresql://teacher@db.example.org/bank") == "postgresql://***@db.example.org/bank"
    hidden = describe_url("postgresql://db.example.org/bank?user=teacher&password=pw&sslmode=require")
    assert "teacher" not in hidden and "pw" not in hidden and "sslmode=require" in hidden
    assert describe_url("sqlite:////srv/drawings.sqlite") == "sqlite:////srv/drawings.sqlite"


def test_an_in_memory_sqlite_database_is_refused_and_no_bank_is_opened(tmp_path, monkeypatch):
    """Test that a database URL naming an in-memory SQLite database, which would forget every drawing saved, is
    refused as a configuration problem that says to give a file or a server, and no bank is opened; SQLite files
    (one named file::memory: is a file to SQLite without ?uri=true) are kept."""
    from digitlab.bank.engine import DrawingBankError
    from digitlab.bank.repository import open_bank

    for url in ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:?cache=shared",
                "sqlite:///file::memory:?cache=shared&uri=true", "sqlite:///file:bank?mode=memory&uri=true"]:
        with pytest.raises(ConfigurationError, match="in-memory SQLite database, which forgets every drawing.*"
                                                     r"Give a file \(sqlite:///.*PostgreSQL server"):
            database_url({}, {"DIGITLAB_DATABASE_URL": url})
    for url in ["sqlite:///drawings.sqlite", "sqlite:////srv/bank/drawings.sqlite", "sqlite:///file::memory:",
                "sqlite:///file:/srv/drawings.sqlite?mode=ro&uri=true"]:
        assert database_url({}, {"DIGITLAB_DATABASE_URL": url}) == url
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", "sqlite:///:memory:")
    monkeypatch.setenv("DIGITLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)  # no secrets file here
    with pytest.raises(DrawingBankError, match="in-memory SQLite"):
        open_bank()  # what `drawings add` and `drawings list` do first
    assert list(tmp_path.iterdir()) == []
