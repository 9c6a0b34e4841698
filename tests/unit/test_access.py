"""Owners and visitors: who is the owner under each configuration, and the owner password's hash."""

import pytest

from digitlab.config.access import AccessPolicy, hash_password, load_access_policy, verify_password
from digitlab.config.settings import SettingsError

FAST = 1000  # iterations for tests; the real default is far higher


def test_with_nothing_configured_the_local_user_is_the_owner():
    """Test that DigitLab run on one's own machine lets its user promote and delete."""
    policy = load_access_policy({}, environ={})
    assert not policy.owner_configured and policy.is_owner()


def test_with_a_password_only_whoever_enters_it_is_the_owner():
    """Test that a configured password makes everyone a visitor until the right password is entered."""
    stored = hash_password("correct horse", iterations=FAST)
    policy = load_access_policy({"DIGITLAB_OWNER_PASSWORD_HASH": stored}, environ={})

    assert policy.owner_configured and not policy.is_owner()
    assert policy.check_password("correct horse") and policy.is_owner(password_accepted=True)
    assert not policy.check_password("correct horse ") and not policy.check_password("")
    assert not policy.is_owner(signed_in_email="someone@example.org"), "signing in is not enough without login set up"


def test_with_login_configured_only_the_listed_emails_are_owners():
    """Test that with st.login configured, a signed-in listed email (any case) is the owner and others are not."""
    secrets = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x"},
               "DIGITLAB_OWNER_EMAILS": "Teacher@School.org, head@school.org"}
    policy = load_access_policy(secrets, environ={})

    assert policy.is_owner(signed_in_email="teacher@school.org")
    assert not policy.is_owner(signed_in_email="pupil@school.org")
    assert not policy.is_owner(), "not signed in"


def test_login_without_owner_emails_does_not_make_everyone_a_visitor_or_an_owner_silently():
    """Test that st.login configured with no owner list leaves the policy unconfigured (local rules)."""
    policy = load_access_policy({"auth": {"cookie_secret": "x"}}, environ={})
    assert not policy.owner_configured


def test_the_hash_is_salted_and_verified_in_constant_time_form():
    """Test that two hashes of one password differ (salt) and both verify; a malformed hash is refused."""
    first, second = hash_password("pw", iterations=FAST), hash_password("pw", iterations=FAST)
    assert first != second and verify_password("pw", first) and verify_password("pw", second)
    assert not verify_password("pw", "plain-text-password")
    with pytest.raises(SettingsError, match="DIGITLAB_OWNER_PASSWORD_HASH"):
        load_access_policy({"DIGITLAB_OWNER_PASSWORD_HASH": "hunter2"}, environ={})
    with pytest.raises(ValueError):
        hash_password("")


def test_environment_wins_over_secrets():
    """Test that an environment variable overrides the same key in secrets."""
    in_secrets, in_env = hash_password("a", iterations=FAST), hash_password("b", iterations=FAST)
    policy = load_access_policy({"DIGITLAB_OWNER_PASSWORD_HASH": in_secrets},
                                environ={"DIGITLAB_OWNER_PASSWORD_HASH": in_env})
    assert policy.check_password("b") and not policy.check_password("a")
    assert AccessPolicy().is_owner()
