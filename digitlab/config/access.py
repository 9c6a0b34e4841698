"""Who may do what: the owner, who changes what everyone gets, and visitors, who only use it.

Owner-only: promote a model, make a model the default for everyone, delete runs, models and drawings.
Visitors may draw, train within the deployment's caps, compare runs, and pick a model for their own
session. Who is the owner:

- where an OIDC provider is configured for Streamlit's st.login, a signed-in user whose email is one
  of DIGITLAB_OWNER_EMAILS;
- where DIGITLAB_OWNER_PASSWORD_HASH is set, whoever enters that password in their session;
- where neither is configured, only a browser on the server's own machine (`streamlit run` on one's
  own computer): a loopback connection that no proxy forwarded. Anyone else is a visitor, so a
  deployment that forgot to name an owner is not an open door.

Only a salted hash of the password is stored (see `python -m digitlab owner-password`), and it is
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets as token_source
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from digitlab.config.settings import SettingsError, setting_value

OWNER_PASSWORD_HASH_VAR = "DIGITLAB_OWNER_PASSWORD_HASH"
OWNER_EMAILS_VAR = "DIGITLAB_OWNER_EMAILS"
HASH_SCHEME = "pbkdf2_sha256"
HASH_ITERATIONS = 600_000  # OWASP's 2023 advice for PBKDF2-HMAC-SHA256; about 0.3 s on one core
# The iteration counts a configured hash may ask for. Every sign-in attempt runs that many, so a typo
# (6000000000 for 600000) must not crash sign-in (hashlib refuses counts of 2**32 and more) or cost
# minutes of CPU per attempt. The floor is RFC 8018's recommended minimum (section 4.2), which also
# admits the tests' fast hashes. The ceiling, about 8 times the default, leaves room for OWASP's
# advice to rise, yet a check stays near 2.5 s on a core where the default takes 0.3 s (so the
# sign-in throttle's 20 checks a minute cannot take more than one core), and one extra zero typed
# on the default (6,000,000) is refused.
MIN_HASH_ITERATIONS = 1_000
MAX_HASH_ITERATIONS = 5_000_000
# Headers a reverse proxy or tunnel adds: a loopback peer that sent one is relaying someone else.
FORWARDING_HEADERS = frozenset({"forwarded", "x-forwarded", "x-real-ip", "x-client-ip", "x-cluster-client-ip",
                                "true-client-ip", "cf-connecting-ip", "fastly-client-ip", "x-original-forwarded-for",
                                "forwarded-for", "via"})
LOOPBACK_HOST_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True)
class AccessPolicy:
    """How this deployment tells its owner from its visitors."""

    owner_password_hash: str | None = None  # "pbkdf2_sha256$<iterations>$<salt hex>$<digest hex>"
    owner_emails: frozenset[str] = frozenset()  # signed-in emails that are the owner (lower case)
    login_configured: bool = False  # an OIDC provider for st.login is in the secrets ([auth])

    @property
    def owner_configured(self) -> bool:
        """Whether an owner is named at all (False: only a browser on the server's machine is the owner)."""
        return bool(self.owner_password_hash) or (self.login_configured and bool(self.owner_emails))

    def is_owner(self, signed_in_email: str | None = None, password_accepted: bool = False,
                 same_machine: bool = False) -> bool:
        """Whether this viewer is the owner; same_machine is is_same_machine() of its connection."""
        if not self.owner_configured:
            return same_machine
        if password_accepted and self.owner_password_hash:
            return True
        return (self.login_configured and signed_in_email is not None
                and signed_in_email.strip().lower() in self.owner_emails)

    def check_password(self, password: str) -> bool:
        return bool(self.owner_password_hash) and verify_password(password, self.owner_password_hash)


def load_access_policy(secrets: Mapping | None = None, environ: Mapping[str, str] | None = None) -> AccessPolicy:
    """The policy from environment variables and secrets; SettingsError when the password hash is unusable."""
    password_hash = setting_value(OWNER_PASSWORD_HASH_VAR, secrets, environ)
    password_hash = str(password_hash).strip() if password_hash else None
    if password_hash:
        _refuse_unusable_hash(password_hash)
    emails = setting_value(OWNER_EMAILS_VAR, secrets, environ) or ""
    if isinstance(emails, (list, tuple)):
        emails = ",".join(map(str, emails))
    owner_emails = frozenset(email.strip().lower() for email in str(emails).split(",") if email.strip())
    auth = (secrets or {}).get("auth")
    return AccessPolicy(password_hash, owner_emails, login_configured=isinstance(auth, Mapping) and bool(auth))


def half_configuration_problems(policy: AccessPolicy) -> list[str]:
    """What is missing where the owner is named by account: each half alone names no one, or everyone."""
    if policy.owner_emails and not policy.login_configured:
        return [f"{OWNER_EMAILS_VAR} is set but the secrets have no [auth] section for Streamlit's sign-in, "
                "so no account can sign in as the owner."]
    if policy.login_configured and not policy.owner_emails:
        return [f"The secrets have an [auth] section but {OWNER_EMAILS_VAR} is empty, so no signed-in account "
                "is the owner."]
    return []


def is_same_machine(address: str | None, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> bool:
    """Whether a connection comes from a browser on the server's own machine, as far as the server can tell.

    True only for a loopback peer (127.0.0.0/8, ::1) whose request carries no header a proxy or tunnel
    adds, and whose Host and Origin, if any, are loopback names: a tunnel or proxy that relays strangers to
    a loopback port otherwise looks local. An unknown address is not the same machine (fail closed).
    """
    if not address or not _is_loopback(address):
        return False
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    names = {name.strip().lower(): value for name, value in pairs}
    if any(name in FORWARDING_HEADERS or name.startswith("x-forwarded-") for name in names):
        return False
    host = names.get("host")
    if host is not None and not _is_loopback_host(host):
        return False
    # The page the browser is on: a reverse proxy that rewrites Host (nginx's plain proxy_pass sends
    # Host: 127.0.0.1:8501 and no forwarding header) still passes on the visitor's Origin, a public name.
    origin = names.get("origin")
    return origin is None or _is_loopback_host(urlsplit(origin.strip()).hostname or "")


def client_address(peer: str | None, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> str | None:
    """The address a visitor is counted by: the last X-Forwarded-For hop where the peer is a proxy of this
    deployment (a loopback or private address: a reverse proxy on the machine, a platform's load balancer),
    else the peer itself. A public peer's own X-Forwarded-For is the visitor's choice, and trusting it would
    let one visitor be any number of visitors (a fresh throttle key, a fresh save quota, per request)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    forwarded = [value for name, value in pairs if name.strip().lower() == "x-forwarded-for"]
    hops = [hop.strip() for hop in ",".join(forwarded).split(",") if hop.strip()]
    if hops and peer and _is_proxy_address(peer):
        return hops[-1]
    return peer or None


BROWSER_COOKIE_NAME = "_streamlit_xsrf"  # Streamlit's own cookie (server.enableXsrfProtection, on by default)


def browser_secret(xsrf_cookie: str | None) -> str | None:
    """The random secret inside Streamlit's XSRF cookie, as hex: one per browser, the same on every reload.

    Classmates behind one school's address are one address, but each browser has its own cookie, and no
    other browser knows it. Streamlit re-masks the cookie on every page load ("2|mask|masked token|time"),
    so the token under the mask is what stays. None where there is no such cookie (XSRF protection turned
    off) or it is not in that form.
    """
    fields = (xsrf_cookie or "").strip("\"'").split("|")
    if len(fields) != 4 or fields[0] != "2":
        return None
    try:
        mask, masked = bytes.fromhex(fields[1]), bytes.fromhex(fields[2])
    except ValueError:
        return None
    if len(mask) != 4 or len(masked) < 16:  # Streamlit's masks are 4 bytes, its tokens 16
        return None
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(masked)).hex()


def _is_proxy_address(address: str) -> bool:
    ip = _ip_address(address)
    return ip is not None and (ip.is_loopback or ip.is_private)


def hash_password(password: str, salt: bytes | None = None, iterations: int = HASH_ITERATIONS) -> str:
    """A salted PBKDF2 hash of password, in the form DIGITLAB_OWNER_PASSWORD_HASH takes."""
    if not password.strip():
        raise ValueError("The owner password must not be empty or only spaces.")
    if not _iterations_allowed(iterations):
        raise ValueError(f"iterations must be from {MIN_HASH_ITERATIONS:,} to {MAX_HASH_ITERATIONS:,}, "
                         "or sign-in would refuse the hash.")
    salt = salt if salt is not None else token_source.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{HASH_SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored_hash: str) -> bool:
    """Whether password matches stored_hash, compared in constant time."""
    parsed = _parse_hash(stored_hash)
    if parsed is None or not password:
        return False
    iterations, salt, expected = parsed
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(digest, expected)


def _refuse_unusable_hash(stored_hash: str) -> None:
    """Raise SettingsError saying why stored_hash cannot check a password: malformed, or a count out of range."""
    fields = _hash_fields(stored_hash)
    if fields is None:
        raise SettingsError(f"{OWNER_PASSWORD_HASH_VAR} is not a hash made by `python -m digitlab owner-password`.")
    iterations = fields[0]
    if not _iterations_allowed(iterations):
        raise SettingsError(f"{OWNER_PASSWORD_HASH_VAR} asks for {iterations:,} PBKDF2 iterations; a count from "
                            f"{MIN_HASH_ITERATIONS:,} to {MAX_HASH_ITERATIONS:,} is needed. Make a new hash with "
                            f"`python -m digitlab owner-password` (it uses {HASH_ITERATIONS:,}).")


def _parse_hash(stored_hash: str) -> tuple[int, bytes, bytes] | None:
    """(iterations, salt, digest) of a usable hash; None for one that is malformed or out of range."""
    fields = _hash_fields(stored_hash)
    return fields if fields is not None and _iterations_allowed(fields[0]) else None


def _hash_fields(stored_hash: str) -> tuple[int, bytes, bytes] | None:
    """(iterations, salt, digest) of a hash in our form, whatever its count; None if it is not in that form."""
    parts = stored_hash.split("$")
    if len(parts) != 4 or parts[0] != HASH_SCHEME:
        return None
    try:
        iterations, salt, digest = int(parts[1]), bytes.fromhex(parts[2]), bytes.fromhex(parts[3])
    except ValueError:
        return None
    if not salt or len(digest) != 32:
        return None
    return iterations, salt, digest


def _iterations_allowed(iterations: int) -> bool:
    return MIN_HASH_ITERATIONS <= iterations <= MAX_HASH_ITERATIONS


def _is_loopback(address: str) -> bool:
    ip = _ip_address(address)
    return ip is not None and ip.is_loopback


def _ip_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A peer's address as an IP (IPv4 for ::ffff:127.0.0.1, as a dual-stack socket reports one); None if not one."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]").split("%")[0])
    except ValueError:
        return None
    return getattr(ip, "ipv4_mapped", None) or ip


def _is_loopback_host(host: str) -> bool:
    """Whether a Host header (name or address, with or without a port) names this machine's loopback."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8501
        name = host[1:].split("]")[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.rstrip(".")
    return name in LOOPBACK_HOST_NAMES or name.endswith(".localhost") or _is_loopback(name)
