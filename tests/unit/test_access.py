"""Owners and visitors: who is the owner under each configuration, and the owner password's hash."""

import pytest

from digitlab.config.access import AccessPolicy, hash_password, is_same_machine, load_access_policy, verify_password
from digitlab.config.settings import SettingsError

FAST = 1000  # iterations for tests; the real default is far higher


def test_with_nothing_configured_the_local_user_is_the_owner():
    """Test that DigitLab run on one's own machine lets its user promote and delete."""
    policy = load_access_policy({}, environ={})
    assert not policy.owner_configured and policy.is_owner(same_machine=True)


def test_with_nothing_configured_anyone_not_on_the_server_machine_is_a_visitor():
    """Test that an unconfigured deployment is no open door: another machine, or one not known, is a visitor."""
    policy = load_access_policy({}, environ={})
    assert not policy.is_owner() and not policy.is_owner(signed_in_email="anyone@example.org")


@pytest.mark.parametrize("address, headers, local", [
    ("127.0.0.1", {}, True),
    ("::1", {"Host": "[::1]:8501"}, True),
    ("127.0.1.1", [("host", "localhost:8501"), ("user-agent", "Chromium")], True),
    ("::ffff:127.0.0.1", {"Host": "127.0.0.1:8501"}, True),
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, False),
    ("127.0.0.1", {"forwarded": "for=203.0.113.9"}, False),
    ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}, False),
    ("127.0.0.1", {"X-Forwarded-Proto": "https"}, False),
    ("127.0.0.1", {"Host": "digitlab.example.org"}, False),
    ("203.0.113.9", {}, False),
    ("192.168.1.20", {"Host": "localhost:8501"}, False),
    (None, {}, False),
    ("not an address", {}, False),
], ids=["loopback", "ipv6-loopback", "loopback-range", "ipv4-mapped", "x-forwarded-for", "forwarded", "x-real-ip",
        "x-forwarded-proto", "public-host-name", "remote", "lan", "unknown", "garbage"])
def test_only_a_loopback_client_that_no_proxy_forwarded_is_the_server_machine(address, headers, local):
    """Test that loopback without forwarding headers is the server's machine, and any forwarding, a public Host,
    another address, or none at all is not."""
    assert is_same_machine(address, headers) is local


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
    assert AccessPolicy().is_owner(same_machine=True)
