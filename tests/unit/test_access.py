"""Owners and visitors: who is the owner under each configuration, and the owner password's hash."""

import io
import secrets

import pytest

from digitlab.cli.parser import main
from digitlab.config.access import (HASH_ITERATIONS, MAX_HASH_ITERATIONS, MIN_HASH_ITERATIONS, AccessPolicy,
                                    hash_password, is_same_machine, load_access_policy, verify_password)
from digitlab.config.access import browser_secret, client_address
from digitlab.config.deployment import read_deployment
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
    ("127.0.0.1", {"Host": "127.0.0.1:8501", "Origin": "https://digits.example.org"}, False),
    ("127.0.0.1", {"Host": "127.0.0.1:8501", "Origin": "http://localhost:8501"}, True),
    ("::1", {"Host": "[::1]:8501", "Origin": "http://[::1]:8501"}, True),
    ("127.0.0.1", {"Origin": "null"}, False),
    ("203.0.113.9", {}, False),
    ("192.168.1.20", {"Host": "localhost:8501"}, False),
    (None, {}, False),
    ("not an address", {}, False),
], ids=["loopback", "ipv6-loopback", "loopback-range", "ipv4-mapped", "x-forwarded-for", "forwarded", "x-real-ip",
        "x-forwarded-proto", "public-host-name", "proxy-keeping-a-public-origin", "loopback-origin",
        "ipv6-loopback-origin", "opaque-origin", "remote", "lan", "unknown", "garbage"])
def test_only_a_loopback_client_that_no_proxy_forwarded_is_the_server_machine(address, headers, local):
    """Test that loopback without forwarding headers is the server's machine, and any forwarding, a public Host
    or Origin (a proxy that rewrote Host), another address, or none at all is not."""
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


def hash_with_iterations(iterations: int) -> str:
    """A well-formed hash asking for this many iterations, made without running them."""
    return f"pbkdf2_sha256${iterations}${'ab' * 16}${'cd' * 32}"


def owner_password_from_stdin(monkeypatch, capsys, line: str) -> tuple[int, str, str]:
    """`python -m digitlab owner-password --stdin` fed line: its exit status, stdout and stderr."""
    monkeypatch.setattr("sys.stdin", io.StringIO(line))
    status = main(["owner-password", "--stdin"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("iterations", [6_000_000_000, 600_000_000, MAX_HASH_ITERATIONS + 1, MIN_HASH_ITERATIONS - 1],
                         ids=["past-hashlib-limit", "minutes-per-try", "just-too-many", "just-too-few"])
def test_a_hash_with_an_iteration_count_out_of_range_is_a_configuration_problem_not_a_crash(iterations):
    """Test that a hash asking for 6000000000 iterations (a typo of 600000), or any count out of range, is refused
    when the configuration is read, saying which count and what to do, so nobody is the owner and the page says
    why, and that checking a password against it says no at once instead of crashing or running for minutes."""
    stored = hash_with_iterations(iterations)
    with pytest.raises(SettingsError, match=rf"DIGITLAB_OWNER_PASSWORD_HASH asks for {iterations:,} PBKDF2"):
        load_access_policy({}, environ={"DIGITLAB_OWNER_PASSWORD_HASH": stored})

    deployment = read_deployment([], environ={"DIGITLAB_OWNER_PASSWORD_HASH": stored})
    assert any(f"{iterations:,}" in problem and "owner-password" in problem for problem in deployment.problems)
    assert not deployment.is_owner(password_accepted=True) and not deployment.is_owner(same_machine=True)
    assert not verify_password("any password", stored)
    assert not AccessPolicy(owner_password_hash=stored).check_password("any password")


@pytest.mark.parametrize("iterations", [MIN_HASH_ITERATIONS, HASH_ITERATIONS, MAX_HASH_ITERATIONS])
def test_the_owner_password_commands_own_count_and_the_ends_of_the_range_are_accepted(iterations):
    """Test that a hash with the count `owner-password` writes, or either end of the allowed range, names an owner."""
    policy = load_access_policy({}, environ={"DIGITLAB_OWNER_PASSWORD_HASH": hash_with_iterations(iterations)})
    assert policy.owner_configured


@pytest.mark.parametrize("typed, line", [("secret", "secret\r\n"), ("secret", "secret\n"),
                                         (" pass phrase ", " pass phrase \r\n")],
                         ids=["windows-line", "unix-line", "spaces-kept"])
def test_owner_password_from_stdin_hashes_the_password_as_typed_whatever_the_line_ending(monkeypatch, capsys,
                                                                                          typed, line):
    """Test that `printf 'secret\\r\\n' | python -m digitlab owner-password --stdin` prints a hash that "secret"
    signs in with and "secret\\r" does not, and that spaces around the password are kept as part of it."""
    status, out, _ = owner_password_from_stdin(monkeypatch, capsys, line)
    assert status == 0 and out.startswith('DIGITLAB_OWNER_PASSWORD_HASH = "pbkdf2_sha256$')
    stored = out.split('"')[1]
    assert verify_password(typed, stored)
    assert not verify_password(typed + "\r", stored)


@pytest.mark.parametrize("line", ["\n", "   \n", "\t \r\n"], ids=["empty", "spaces", "tab-and-space"])
def test_owner_password_refuses_an_empty_or_blank_password(monkeypatch, capsys, line):
    """Test that `owner-password --stdin` given nothing but spaces, like one given nothing at all, prints no hash
    and says why, with exit status 2."""
    status, out, err = owner_password_from_stdin(monkeypatch, capsys, line)
    assert status == 2 and out == ""
    assert err == "error: The owner password must not be empty or only spaces.\n"
    with pytest.raises(ValueError, match="empty or only spaces"):
        hash_password(line.strip("\r\n"), iterations=MIN_HASH_ITERATIONS)


@pytest.mark.parametrize("peer, headers, counted_as", [
    ("93.184.215.14", {}, "93.184.215.14"),  # a public address (TEST-NET ranges count as private)
    ("93.184.215.14", {"X-Forwarded-For": "10.1.0.1"}, "93.184.215.14"),
    ("127.0.0.1", {"X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"),
    ("10.0.0.5", {"X-Forwarded-For": "10.9.9.9, 198.51.100.7"}, "198.51.100.7"),
    ("::ffff:127.0.0.1", [("x-forwarded-for", "198.51.100.7")], "198.51.100.7"),
    ("127.0.0.1", {}, "127.0.0.1"),
    (None, {"X-Forwarded-For": "198.51.100.7"}, None),
], ids=["public-peer", "public-peer-forging-a-hop", "local-proxy", "platform-proxy-last-hop", "ipv4-mapped-proxy",
        "loopback", "unknown-peer"])
def test_a_visitor_is_counted_by_the_hop_its_proxy_saw_never_by_a_header_it_chose(peer, headers, counted_as):
    """Test that a visitor behind the deployment's own proxy (a loopback or private peer) is counted by the
    last X-Forwarded-For hop, while a public peer's own X-Forwarded-For is ignored: otherwise one visitor
    forging a new address per request gets a fresh throttle key and save quota each time, and can use up
    the server-wide sign-in budget the owner and a class's students need."""
    assert client_address(peer, headers) == counted_as


def test_browser_secret_is_the_same_under_every_mask_streamlit_gives_its_cookie():
    """Test that the secret read from Streamlit's XSRF cookie is the token under its mask, the same however often
    Streamlit re-masks it on a reload, different for another browser, and None for anything else."""
    from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

    token = secrets.token_bytes(16)
    reloads = {generate_xsrf_token_string(token, 1796646460) for _ in range(5)}
    assert len(reloads) > 1, "Streamlit re-masks the cookie"
    assert {browser_secret(cookie) for cookie in reloads} == {token.hex()}
    assert browser_secret(generate_xsrf_token_string()) not in (None, token.hex())
    for not_a_cookie in (None, "", "2|zz|00|1", "2|0102|0a0b|1", token.hex(), "1|01020304|" + token.hex() + "|1"):
        assert browser_secret(not_a_cookie) is None
