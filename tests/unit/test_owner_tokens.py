"""Owner sign-in tokens: signed, expiring, revocable, and only ever accepted by the server process that issued them."""

from __future__ import annotations

from digitlab.config.access import hash_password
from digitlab.config.owner_tokens import OwnerTokens

PASSWORD_HASH = hash_password("owner's secret", iterations=1000)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_an_issued_token_is_accepted_until_it_expires():
    """Test that a token is accepted right after sign-in and up to its lifetime, and refused from then on."""
    clock = Clock()
    tokens = OwnerTokens(lifetime=3600, clock=clock)
    token = tokens.issue(PASSWORD_HASH)
    assert tokens.check(token, PASSWORD_HASH)
    clock.now += 3599
    assert tokens.check(token, PASSWORD_HASH)
    clock.now += 1
    assert not tokens.check(token, PASSWORD_HASH)


def test_a_forged_or_altered_token_is_refused():
    """Test that a token with another signature, a later expiry written into it, or another id is refused."""
    tokens = OwnerTokens()
    token = tokens.issue(PASSWORD_HASH)
    expiry, token_id, signature = token.split(".")
    assert not tokens.check(f"{expiry}.{token_id}.{'0' * 64}", PASSWORD_HASH)
    assert not tokens.check(f"{int(expiry) + 86400}.{token_id}.{signature}", PASSWORD_HASH)
    assert not tokens.check(f"{expiry}.{'a' * 32}.{signature}", PASSWORD_HASH)
    for garbage in (None, "", "owner", "1.2.3", token + ".", "x" * 500):
        assert not tokens.check(garbage, PASSWORD_HASH)


def test_signing_out_a_new_password_or_a_restarted_server_ends_a_token():
    """Test that a revoked token is refused, that a token is refused under another password hash, and that a new
    server process (a fresh OwnerTokens) accepts none of the earlier ones."""
    tokens = OwnerTokens()
    token, other = tokens.issue(PASSWORD_HASH), tokens.issue(PASSWORD_HASH)
    tokens.revoke(token)
    assert not tokens.check(token, PASSWORD_HASH) and tokens.check(other, PASSWORD_HASH)
    assert not tokens.check(other, hash_password("a new password", iterations=1000))
    assert not tokens.check(other, None)
    assert not OwnerTokens().check(other, PASSWORD_HASH)
