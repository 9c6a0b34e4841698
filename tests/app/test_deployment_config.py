"""A deployment's configuration as the pages meet it: broken or half written, it grants nothing and says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import digitlab.config.access
import digitlab.ui.access
from digitlab.config.access import hash_password
from digitlab.config.database import database_url
from digitlab.config.secrets import ConfigurationError
from digitlab.config.sign_in_throttle import SignInThrottle
from digitlab.store.registry import register_model

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET_VALUE = "cookie-secret-never-shown"
BROKEN_SECRETS = ('DIGITLAB_DATABASE_URL = "sqlite:///from-the-secrets.sqlite"\n'
                  f'[auth\ncookie_secret = "{SECRET_VALUE}"\n')
PASSWORD = "owner's secret"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def second_model(models_dir):
    """A second model in models/, so the sidebar could offer 'Make this the default for everyone'."""
    register_model(models_dir / "default.keras", "second", {"architecture": "cnn-small"}, models_dir)
    return "second"


@pytest.fixture
def working_folder(tmp_path, monkeypatch) -> Iterator[Path]:
    """The folder the server runs in: its .streamlit/secrets.toml is the project's secrets file."""
    folder = tmp_path / "deployment"
    (folder / ".streamlit").mkdir(parents=True)
    monkeypatch.chdir(folder)
    st.secrets._reset()  # Streamlit copies top-level secrets into os.environ; take back another test's
    yield folder
    st.secrets._reset()


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(REPO_ROOT / "app.py", default_timeout=60).run()
    assert not at.exception, [exception.value for exception in at.exception]
    if page:
        at.switch_page(page).run()
        assert not at.exception, [exception.value for exception in at.exception]
    return at


def sidebar_text(at: AppTest) -> str:
    return "\n".join(str(element.value) for kind in ("error", "caption", "info", "warning")
                     for element in getattr(at.sidebar, kind))


def choose_model(at: AppTest, name: str) -> AppTest:
    at.sidebar.selectbox[0].set_value(name)
    return at.run()


def button_labels(at: AppTest) -> list[str]:
    return [button.label for button in at.button]


def test_a_broken_secrets_file_makes_nobody_the_owner_and_the_page_says_why(models_dir, runs_dir, second_model,
                                                                             working_folder):
    """Test that an unclosed [auth in .streamlit/secrets.toml leaves even a browser on the server's machine a
    visitor, names the file and line in the sidebar without any secret value, and opens no bank."""
    (working_folder / ".streamlit" / "secrets.toml").write_text(BROKEN_SECRETS)
    at = choose_model(open_app(), second_model)

    text = sidebar_text(at)
    assert "configuration is broken" in text
    assert "secrets.toml does not parse" in text and "line 2" in text
    assert "training and saving drawings are off" in text
    assert SECRET_VALUE not in text and "from-the-secrets" not in text
    assert "Make this the default for everyone" not in button_labels(at)
    assert "you can promote" not in text
    with pytest.raises(ConfigurationError, match="secrets.toml does not parse"):
        database_url()  # the CLI's path: no SQLite file the deployment did not ask for
    assert not (working_folder / "from-the-secrets.sqlite").exists()


def test_a_broken_secrets_file_turns_training_off(models_dir, runs_dir, working_folder):
    """Test that the Train page offers no training while the secrets file does not parse."""
    (working_folder / ".streamlit" / "secrets.toml").write_text(BROKEN_SECRETS)
    at = open_app("pages/train.py")

    assert "turned off" in "\n".join(str(element.value) for element in at.info)
    assert "Start training" not in button_labels(at)


def test_an_in_memory_database_url_is_a_configuration_problem_the_sidebar_names(models_dir, runs_dir, second_model,
                                                                                working_folder, monkeypatch):
    """Test that DIGITLAB_DATABASE_URL naming an in-memory SQLite database, which forgets every drawing, is listed
    among the sidebar's configuration problems on every page (not only where the bank opens), so the owner sees it
    at once, and that like every broken configuration it grants nothing."""
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", "sqlite:///:memory:")
    at = choose_model(open_app(), second_model)

    text = sidebar_text(at)
    assert "configuration is broken" in text
    assert "in-memory SQLite database, which forgets every drawing" in text
    assert "Make this the default for everyone" not in button_labels(at)
    at.switch_page("pages/train.py").run()
    assert "Start training" not in button_labels(at)


@pytest.mark.parametrize("half", ['DIGITLAB_OWNER_EMAILS = "teacher@school.org"\n',
                                  '[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n'
                                  f'cookie_secret = "{SECRET_VALUE}"\n'])
def test_half_a_configuration_makes_nobody_the_owner(models_dir, runs_dir, second_model, working_folder, half):
    """Test that owner e-mails without [auth], or [auth] without owner e-mails, make nobody the owner, and say so."""
    (working_folder / ".streamlit" / "secrets.toml").write_text(half)
    at = choose_model(open_app(), second_model)

    text = sidebar_text(at)
    assert "configuration is broken" in text and "DIGITLAB_OWNER_EMAILS" in text and "[auth]" in text
    assert SECRET_VALUE not in text
    assert "Make this the default for everyone" not in button_labels(at)


def test_with_no_owner_configured_the_server_machine_is_the_owner(models_dir, runs_dir, second_model, working_folder):
    """Test that a browser on the server's machine, with nothing configured, may make a model the default."""
    at = choose_model(open_app(), second_model)
    assert "Make this the default for everyone" in button_labels(at)
    assert "configuration is broken" not in sidebar_text(at)


@pytest.mark.parametrize("connection", [("127.0.0.1", (("host", "localhost:8501"), ("x-forwarded-for", "203.0.113.9"))),
                                        ("203.0.113.9", (("host", "digitlab.example.org"),)),
                                        (None, ())],
                         ids=["forwarded-through-a-local-proxy", "remote", "unknown"])
def test_with_no_owner_configured_anyone_else_is_a_visitor_told_how_to_name_an_owner(
        models_dir, runs_dir, second_model, working_folder, monkeypatch, connection):
    """Test that a forwarded, remote or unknown client of an unconfigured deployment is a visitor, and the
    sidebar says how to name an owner."""
    monkeypatch.setattr(digitlab.ui.access, "client_connection", lambda: connection)
    at = choose_model(open_app(), second_model)

    assert "Make this the default for everyone" not in button_labels(at)
    text = sidebar_text(at)
    assert "No owner is configured" in text and "DIGITLAB_OWNER_PASSWORD_HASH" in text
    assert "python -m digitlab owner-password" in text and "DIGITLAB_OWNER_EMAILS" in text


def test_the_seventh_wrong_password_in_a_minute_waits(models_dir, runs_dir, working_folder, monkeypatch):
    """Test that the sidebar's owner sign-in answers six wrong passwords (the later ones after growing waits)
    and refuses the seventh, made at once, with 'try again', without checking it; after the wait the right
    password signs in."""
    monkeypatch.setenv("DIGITLAB_OWNER_PASSWORD_HASH", hash_password(PASSWORD, iterations=1000))
    clock = FakeClock()
    throttle = SignInThrottle(clock=clock)
    monkeypatch.setattr(digitlab.ui.access, "OWNER_PASSWORD_THROTTLE", throttle)
    checks = []
    policy_check = digitlab.config.access.AccessPolicy.check_password
    monkeypatch.setattr(digitlab.config.access.AccessPolicy, "check_password",
                        lambda self, password: checks.append(password) or policy_check(self, password))
    at = open_app()
    start = clock.now

    def sign_in(password: str) -> str:
        at.sidebar.text_input(key="owner-password").input(password)
        next(button for button in at.sidebar.button if button.label == "Sign in as owner").click()
        at.run()
        assert not at.exception, [exception.value for exception in at.exception]
        return "\n".join(str(element.value) for element in at.sidebar.error)

    for attempt in range(6):
        clock.now += throttle.wait_s(["client:127.0.0.1"])
        assert "not the owner's password" in sign_in(f"guess {attempt}")
    assert clock.now - start < 60 and len(checks) == 6

    assert "Try again in" in sign_in("guess 6")
    assert "Try again in" in sign_in(PASSWORD), "the right password waits too: the throttle runs no check"
    assert len(checks) == 6 and "Signed in as the owner." not in sidebar_text(at)

    clock.now += throttle.wait_s(["client:127.0.0.1"])
    sign_in(PASSWORD)
    assert "Signed in as the owner." in sidebar_text(at)
