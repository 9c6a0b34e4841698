"""Who started a run, as its job.json records it: how many runs a visitor may start, and who may stop or delete one.

A run's starter is recorded for two things: each visitor may start only so many runs an hour, and the
visitor who started a run may stop it. Neither needs to know who the visitor is, so job.json holds no
e-mail and no IP address. It holds a token: HMAC-SHA256 of the viewer's id (an e-mail, an address or a
session id: digitlab.ui.access decides) under a random key made once per deployment and kept beside the
runs folder, never in it. The same visitor gets the same token on every reload, so the quota and "stop
my own run" keep working; a run folder copied elsewhere names nobody; and without the key no one can
test guesses against a token (a plain hash of an IPv4 address is undone by trying all 2^32 of them).
A random id per browser session would name nobody too, but a reload would reset the quota.

The owner (and the local user of a `streamlit run` on one's own machine) may control every run; a
visitor only the runs their own token started. jobs checks it, so no page can forget to.

A class behind one school's router is one address: the quota is the class's (a fresh browser gains no
runs), but stopping and deleting a run is for the browser that started it. job.json also records, as a
token under the same key, the browser's own secret (config.access.browser_secret), and a visitor must
present both. A run recorded without one (started where the browser sent no secret) is its address's.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from digitlab.config.paths import runs_root
from digitlab.config.settings import Settings
from digitlab.store import run_folder as runs

LOCAL_USER = "local"  # the owner, a local user or the CLI: no quota, recorded as it is
TOKEN_PREFIX = "visitor:"
KEY_BYTES = 32
HOUR = 3600.0

_keys: dict[Path, bytes] = {}
_keys_lock = threading.Lock()


class NotYourRunError(RuntimeError):
    """Someone other than the owner or the run's starter asked to stop or delete it; the message says so."""


@dataclass(frozen=True)
class Requester:
    """Who asks to act on a run: the viewer's id as the page knows it, and whether they are the owner."""

    visitor_id: str  # digitlab.ui.access.viewer_id(): "local", or an e-mail, address or session id
    is_owner: bool = False
    browser: str | None = None  # the browser's secret (config.access.browser_secret), where it sent one

    @classmethod
    def owner(cls) -> "Requester":
        """The owner, or a process acting for them (the CLI, a test)."""
        return cls(LOCAL_USER, is_owner=True)


def visitor_key_path(root: Path) -> Path:
    """Where the deployment's key lives: beside the runs folder, so copying the runs folder leaves it behind."""
    root = Path(root).resolve()
    return root.parent / f".{root.name}-visitor-key"


def visitor_key(root: Path) -> bytes:
    """The deployment's random key for visitor tokens, made on first use (readable by this user only)."""
    path = visitor_key_path(root)
    with _keys_lock:
        if path in _keys:
            return _keys[path]
        key = _read_key(path)
        if key is None:
            key = _create_key(path)
        _keys[path] = key
        return key


def _read_key(path: Path) -> bytes | None:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return None
    return key if len(key) == KEY_BYTES else None


def _create_key(path: Path) -> bytes:
    # Written whole to a private temp file and linked into place: two servers starting at once agree on
    # one key (the second link fails and reads the first), and nobody ever reads half a key.
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_bytes(KEY_BYTES))
        try:
            os.link(temp, path)
        except FileExistsError:
            existing = _read_key(path)
            if existing is not None:
                return existing
            os.replace(temp, path)  # a damaged key file: replaced (earlier tokens no longer match, nothing worse)
        return path.read_bytes()
    finally:
        temp.unlink(missing_ok=True)


def visitor_token(visitor_id: str, root: Path) -> str:
    """What job.json records for this viewer: "local" as it is, anyone else as a keyed hash."""
    if visitor_id == LOCAL_USER or visitor_id.startswith(TOKEN_PREFIX):
        return visitor_id
    digest = hmac.new(visitor_key(root), visitor_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest[:32]


def browser_token(secret: str | None, root: Path) -> str:
    """What job.json records as the browser a run was started in: a keyed hash of its secret, "" for none."""
    return visitor_token(f"browser:{secret}", root) if secret else ""


def started_by_visitor(recorded: str, visitor_id: str, root: Path) -> bool:
    """Whether a run's recorded starter is this viewer: their token, or their plain id (from before tokens)."""
    if not recorded or not visitor_id:
        return False
    if recorded == visitor_id:
        return True
    try:
        return recorded == visitor_token(visitor_id, root)
    except OSError:  # no key and none can be made (a read-only disk): nobody is recognised, so nobody gains a right
        return False


def may_control(started_by: str, requester: Requester, root: Path, started_in: str = "") -> bool:
    """Whether requester may stop or delete a run its job.json says `started_by` started, in browser `started_in`."""
    if requester.is_owner:
        return True
    if started_by in ("", LOCAL_USER) or requester.visitor_id == LOCAL_USER:
        return False  # the owner's runs and the CLI's are the owner's to control
    if not started_by_visitor(started_by, requester.visitor_id, root):
        return False
    presented = f"browser:{requester.browser}" if requester.browser else ""  # as browser_token hashes it
    return not started_in or started_by_visitor(started_in, presented, root)


def check_may_control(run: runs.Run, requester: Requester, action: str) -> None:
    """Raise NotYourRunError unless requester may `action` ("stop", "delete") the run."""
    if not may_control(run.started_by, requester, Path(run.dir).parent, run.started_in):
        raise NotYourRunError(f"Run {run.title} was started by someone else: only the visitor who started it, or the "
                              f"owner of this deployment, can {action} it.")


def runs_started_recently(visitor_id: str, root: Path | None = None, within: float = HOUR) -> list[runs.Run]:
    """The runs this viewer started in the last `within` seconds, newest first."""
    root = root or runs_root()
    since = time.time() - within
    return [run for run in runs.list_runs(root) if run.job is not None and (run.job.launched_at or 0) >= since
            and started_by_visitor(run.started_by, visitor_id, root)]


def quota_refusal(settings: Settings, visitor_id: str, root: Path | None = None) -> str | None:
    """Why this viewer may not start another run now, or None (the local user and owners have no quota)."""
    if visitor_id == LOCAL_USER:
        return None
    recent = runs_started_recently(visitor_id, root)
    if len(recent) >= settings.max_runs_per_hour:
        oldest = min(run.job.launched_at or time.time() for run in recent)
        wait_minutes = max(1, int((oldest + HOUR - time.time()) // 60) + 1)
        return (f"You have started {len(recent)} runs in the last hour; this deployment allows "
                f"{settings.max_runs_per_hour} per visitor. You can start another in about {wait_minutes} min.")
    return None
