"""Owner sign-ins that survive a page reload: a signed, expiring token that the browser keeps in a cookie.

When the owner enters the password, the server issues a token: an expiry time and a random id, signed
with HMAC-SHA256 under a key made from the deployment's owner password hash, which only the server
holds. The browser keeps the token in a cookie, and a reloaded page presents it. A token is accepted
only when all of these hold:

- its signature checks, so no visitor can make one without the deployment's secret;
- it has not expired (LIFETIME_SECONDS after the sign-in);
- this server process issued it and nobody signed out with it since. The ids live in memory: signing
  out revokes the token at once, and a restarted server accepts no earlier token (fail closed: the
  owner signs in again).

Changing the owner password changes the key, so every earlier token stops working too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as token_source
import threading
import time
from collections.abc import Callable

COOKIE_NAME = "digitlab_owner"
LIFETIME_SECONDS = 12 * 3600  # a working day; after that the owner enters the password again
KEY_PURPOSE = b"digitlab owner sign-in token\0"  # the key is used for nothing else


class OwnerTokens:
    """The owner tokens one server process has issued and not revoked (thread-safe: every session shares it)."""

    def __init__(self, lifetime: float = LIFETIME_SECONDS, clock: Callable[[], float] = time.time):
        self.lifetime = lifetime
        self.clock = clock
        self._expiry_by_id: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, password_hash: str) -> str:
        """A new token for a session that has just entered the owner password: '<expiry>.<id>.<signature>'."""
        now = self.clock()
        expiry, token_id = int(now + self.lifetime), token_source.token_hex(16)
        with self._lock:
            self._expiry_by_id = {known: ends for known, ends in self._expiry_by_id.items() if ends > now}
            self._expiry_by_id[token_id] = expiry
        return f"{expiry}.{token_id}.{_signature(password_hash, expiry, token_id)}"

    def check(self, token: str | None, password_hash: str | None) -> bool:
        """Whether token was issued here under this password hash, is unexpired, and has not been revoked."""
        parts = _parts(token)
        if parts is None or not password_hash:
            return False
        expiry, token_id, signature = parts
        if not hmac.compare_digest(signature, _signature(password_hash, expiry, token_id)):
            return False
        with self._lock:
            known_expiry = self._expiry_by_id.get(token_id)
        return known_expiry == expiry and self.clock() < expiry

    def revoke(self, token: str | None) -> None:
        """Sign a token out: from now on no session is accepted with it."""
        parts = _parts(token)
        if parts is not None:
            with self._lock:
                self._expiry_by_id.pop(parts[1], None)


def _signature(password_hash: str, expiry: int, token_id: str) -> str:
    key = hashlib.sha256(KEY_PURPOSE + password_hash.encode("utf-8")).digest()
    return hmac.new(key, f"{expiry}.{token_id}".encode("ascii"), hashlib.sha256).hexdigest()


def _parts(token: str | None) -> tuple[int, str, str] | None:
    """(expiry, id, signature) of a well-formed token; None for anything else a browser might send."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    pieces = token.split(".")
    if len(pieces) != 3 or not pieces[0].isdigit():
        return None
    expiry, token_id, signature = pieces
    if len(token_id) != 32 or len(signature) != 64 or not all(c in "0123456789abcdef" for c in token_id + signature):
        return None
    return int(expiry), token_id, signature
