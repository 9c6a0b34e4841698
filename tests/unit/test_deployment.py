"""The deployment's configuration read once (config/deployment.py): a broken or half one grants nothing."""

from __future__ import annotations

import logging

import pytest

from digitlab.config.access import hash_password
from digitlab.config.database import database_url
from digitlab.config.deployment import read_deployment
from digitlab.config.secrets import ConfigurationError, read_secrets

SECRET_VALUE = "a-secret-value-never-shown"
LOGIN = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": SECRET_VALUE}


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_secrets_file_that_does_not_parse_closes_everything_and_says_which_file_and_line(tmp_path, caplog):
    """Test that an unclosed [auth makes nobody the owner (not even on the server's machine), turns training
    off and refuses the bank's URL; the problem names the file and the line, logged once, with no value."""
    broken = write(tmp_path / ".streamlit" / "secrets.toml",
                   f'DIGITLAB_DATABASE_URL = "sqlite:///chosen"\n[auth\ncookie_secret = "{SECRET_VALUE}"\n')
    with caplog.at_level(logging.ERROR, logger="digitlab.config.deployment"):
        deployment = read_deployment([broken], environ={})
        read_deployment([broken], environ={})

    assert len(deployment.problems) == 1
    assert str(broken) in deployment.problems[0] and "line 2" in deployment.problems[0]
    assert not deployment.is_owner(same_machine=True) and not deployment.is_owner(password_accepted=True)
    assert not deployment.settings.training_enabled
    with pytest.raises(ConfigurationError, match="does not parse"):
        database_url(deployment=deployment)
    logged = [record.getMessage() for record in caplog.records if str(broken) in record.getMessage()]
    assert len(logged) == 1, "each problem is logged once"
    assert SECRET_VALUE not in " ".join(deployment.problems) + " ".join(logged)


def test_a_setting_written_under_a_table_closes_everything_and_says_where_to_move_it(tmp_path):
    """Test that DIGITLAB_DATABASE_URL appended after the [auth] section (so TOML puts it inside [auth]) is not
    silently ignored, which would keep the drawings on a disk a hosted app wipes: the configuration is broken,
    nobody is the owner, training is off and the bank is refused, and the problem names the key and table."""
    secrets = write(tmp_path / ".streamlit" / "secrets.toml",
                    'DIGITLAB_OWNER_EMAILS = "teacher@school.org"\n'
                    f'[auth]\nredirect_uri = "{LOGIN["redirect_uri"]}"\ncookie_secret = "{SECRET_VALUE}"\n'
                    'DIGITLAB_DATABASE_URL = "postgresql+psycopg://bob:pw@db.example.org/digitlab"\n')
    deployment = read_deployment([secrets], environ={})

    assert len(deployment.problems) == 1
    assert "DIGITLAB_DATABASE_URL inside its [auth] table" in deployment.problems[0]
    assert "move it above" in deployment.problems[0] and SECRET_VALUE not in deployment.problems[0]
    assert not deployment.is_owner(signed_in_email="teacher@school.org") and not deployment.settings.training_enabled
    with pytest.raises(ConfigurationError, match="inside its \\[auth\\] table"):
        database_url(deployment=deployment)


def test_the_later_secrets_file_wins_and_a_missing_one_is_no_problem(tmp_path):
    """Test that files are read in Streamlit's order (later keys win) and an absent file is simply skipped."""
    first = write(tmp_path / "home" / "secrets.toml",
                  'DIGITLAB_MAX_EPOCHS = 3\nDIGITLAB_DATABASE_URL = "sqlite:///a"\n')
    second = write(tmp_path / "project" / "secrets.toml", 'DIGITLAB_DATABASE_URL = "sqlite:///b"\n')
    deployment = read_deployment([first, tmp_path / "absent.toml", second], environ={})

    assert deployment.problems == ()
    assert deployment.settings.max_epochs == 3 and deployment.settings.training_enabled
    assert database_url(deployment=deployment) == "sqlite:///b"


@pytest.mark.parametrize("secrets, environ, named", [
    ('DIGITLAB_OWNER_EMAILS = "teacher@school.org"\n', {}, "DIGITLAB_OWNER_EMAILS"),
    (f'[auth]\nredirect_uri = "{LOGIN["redirect_uri"]}"\ncookie_secret = "{SECRET_VALUE}"\n', {}, "[auth]"),
    ("", {"DIGITLAB_OWNER_PASSWORD_HASH": "hunter2"}, "DIGITLAB_OWNER_PASSWORD_HASH"),
    ("", {"DIGITLAB_MAX_EPOCHS": "lots"}, "DIGITLAB_MAX_EPOCHS"),
], ids=["emails-without-auth", "auth-without-emails", "malformed-password-hash", "bad-setting"])
def test_half_or_malformed_configurations_make_nobody_the_owner(tmp_path, secrets, environ, named):
    """Test that each half configuration, a malformed hash or a bad setting is a problem that names the
    variable or section, closes ownership (even to the server's machine) and training, and refuses the bank."""
    deployment = read_deployment([write(tmp_path / "secrets.toml", secrets)], environ=environ)

    assert any(named in problem for problem in deployment.problems), deployment.problems
    assert not any(SECRET_VALUE in problem or "hunter2" in problem for problem in deployment.problems)
    assert not deployment.is_owner(signed_in_email="teacher@school.org", same_machine=True)
    assert not deployment.settings.training_enabled
    with pytest.raises(ConfigurationError):
        database_url(deployment=deployment)


def test_a_whole_configuration_has_no_problems(tmp_path):
    """Test that [auth] with owner e-mails, and a password hash, are whole configurations that name the owner."""
    secrets = write(tmp_path / "secrets.toml", f'DIGITLAB_OWNER_EMAILS = "teacher@school.org"\n[auth]\n'
                                               f'redirect_uri = "{LOGIN["redirect_uri"]}"\n'
                                               f'cookie_secret = "{SECRET_VALUE}"\n')
    by_login = read_deployment([secrets], environ={})
    assert by_login.problems == () and by_login.is_owner(signed_in_email="Teacher@School.org")
    assert not by_login.is_owner(same_machine=True), "with an owner named, the server's machine is a visitor"

    by_password = read_deployment([], environ={"DIGITLAB_OWNER_PASSWORD_HASH": hash_password("pw", iterations=1000)})
    assert by_password.problems == () and by_password.is_owner(password_accepted=True)


def test_a_fixed_file_is_read_again(tmp_path):
    """Test that the read is cached but follows the file: fixing the secrets file takes effect without a restart."""
    path = write(tmp_path / "secrets.toml", "[auth\n")
    assert read_deployment([path], environ={}).broken
    write(path, 'DIGITLAB_DATABASE_URL = "sqlite:///fixed.sqlite"\n')
    assert database_url(deployment=read_deployment([path], environ={})) == "sqlite:///fixed.sqlite"


def test_an_unreadable_secrets_path_is_a_problem(tmp_path):
    """Test that a configured secrets path that is neither TOML nor a folder, or a folder holding a plain
    file, is a problem rather than no secrets."""
    odd = write(tmp_path / "secrets.txt", "x")
    folder = tmp_path / "mounted"
    write(folder / "DIGITLAB_DATABASE_URL" / "value", "sqlite:///mounted\n")
    assert read_secrets([folder]).values == {"DIGITLAB_DATABASE_URL": "sqlite:///mounted"}
    write(folder / "stray.txt", "x")
    problems = read_secrets([odd, folder]).problems
    assert len(problems) == 2 and "neither a .toml file nor a folder" in problems[0] and "stray.txt" in problems[1]
