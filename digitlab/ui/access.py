"""Who is looking at the page (digitlab.config.access), this deployment's configuration, and the owner's sign-in."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from digitlab.config.access import (BROWSER_COOKIE_NAME, OWNER_EMAILS_VAR, OWNER_PASSWORD_HASH_VAR, AccessPolicy,
                                    browser_secret, client_address, is_same_machine)
from digitlab.config.deployment import WHILE_BROKEN, Deployment, read_deployment
from digitlab.config.sign_in_throttle import SignInThrottle
from digitlab.config.owner_tokens import COOKIE_NAME, LIFETIME_SECONDS, OwnerTokens
from digitlab.training.jobs import LOCAL_USER

PASSWORD_ACCEPTED_KEY = "owner_password_accepted"
OWNER_ONLY_NOTE = "Only the owner of this deployment can do this. Sign in as the owner in the sidebar."
OWNER_PASSWORD_THROTTLE = SignInThrottle()  # one per server process: every session's owner-password attempts
OWNER_TOKENS = OwnerTokens()  # one per server process: the owner sign-ins a reloaded page may come back with
OWNER_TOKEN_KEY = "owner_token"  # this session's token, also kept in the browser's cookie
# Sets or deletes the sign-in cookie in the page itself (a components v2 script runs in the app's document):
# SameSite=Strict so no other site's request carries it, Secure where the app is served over https.
_OWNER_COOKIE_SCRIPT = """
export default function ({ data }) {
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  const value = data.token ? data.token : "";
  const age = data.token ? data.max_age : 0;
  document.cookie = `${data.name}=${value}; Path=/; Max-Age=${age}; SameSite=Strict${secure}`;
}
"""
_owner_cookie = st.components.v2.component("digitlab.owner_cookie", js=_OWNER_COOKIE_SCRIPT, isolate_styles=False)
HOW_TO_NAME_AN_OWNER = (f"To name one, set {OWNER_PASSWORD_HASH_VAR} (make it with `python -m digitlab "
                        f"owner-password`), or {OWNER_EMAILS_VAR} with an [auth] section for Streamlit's sign-in, "
                        "in the environment or the secrets.")


def current_deployment() -> Deployment:
    """This deployment's configuration: the secrets files Streamlit reads (`secrets.files`) and the environment."""
    return read_deployment(st.get_option("secrets.files"))


def client_connection() -> tuple[str | None, Iterable[tuple[str, str]]]:
    """This session's peer address and request headers, as the server received them; (None, ()) when unknown.

    The raw peer, not st.context.ip_address, which reports a loopback peer as None, the same as unknown.
    """
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    if context is None or not runtime.exists():
        return None, ()
    client = runtime.get_instance().get_client(context.session_id)
    connection = getattr(client, "client_context", None)
    if connection is None:
        return None, ()
    return connection.remote_ip, tuple(connection.headers)


def client_key() -> str:
    """The client as a throttle counts it: its address (config.access.client_address), else "unknown"."""
    return client_address(*client_connection()) or "unknown"


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    return context.session_id if context else "unknown"


def _signed_in_email() -> str | None:
    try:
        if st.user.is_logged_in:
            email = st.user.get("email")
            return str(email) if email else None
    except (AttributeError, KeyError):
        pass
    return None


def viewer_on_server_machine() -> bool:
    """Whether this browser runs on the server's own machine (loopback, not relayed by a proxy)."""
    return is_same_machine(*client_connection())


def viewer_is_owner() -> bool:
    """Whether this session may change what everyone gets (promote, set the default, delete)."""
    deployment = current_deployment()
    return deployment.is_owner(_signed_in_email(), _password_sign_in_holds(deployment.access.owner_password_hash),
                               same_machine=not deployment.access.owner_configured and viewer_on_server_machine())


def _password_sign_in_holds(password_hash: str | None) -> bool:
    """Whether this session entered the owner password, or is a reload of one that did (its browser's token).

    A session's own token is checked every time too, so signing out in any tab, or the token's expiry,
    ends the sign-in everywhere it was used.
    """
    token = st.session_state.get(OWNER_TOKEN_KEY)
    if token is not None:
        if OWNER_TOKENS.check(token, password_hash):
            return True
        st.session_state.pop(OWNER_TOKEN_KEY, None)
        st.session_state.pop(PASSWORD_ACCEPTED_KEY, None)
        return False
    if st.session_state.get(PASSWORD_ACCEPTED_KEY):
        return True
    presented = presented_owner_token()
    if presented is None or not OWNER_TOKENS.check(presented, password_hash):
        return False
    st.session_state[OWNER_TOKEN_KEY] = presented
    st.session_state[PASSWORD_ACCEPTED_KEY] = True
    return True


def presented_owner_token() -> str | None:
    """The sign-in token this browser sent with the page's connection, if any."""
    try:
        return st.context.cookies.get(COOKIE_NAME)
    except (AttributeError, RuntimeError):  # no connection (a bare script run)
        return None


def browser_key() -> str | None:
    """This browser's own secret, the same on every reload (config.access.browser_secret); None if it sent none.

    A run records it (as a token) so that only this browser, not a classmate at the same address, can stop it.
    """
    try:
        return browser_secret(st.context.cookies.get(BROWSER_COOKIE_NAME))
    except (AttributeError, RuntimeError):  # no connection (a bare script run)
        return None


def _keep_owner_cookie() -> None:
    """Make the browser's sign-in cookie match this session: its token, or none (deleted) after signing out."""
    token = st.session_state.get(OWNER_TOKEN_KEY)
    if token is None and presented_owner_token() is None:
        return  # nothing to keep and nothing to delete
    _owner_cookie(key="owner-cookie", data={"name": COOKIE_NAME, "token": token, "max_age": LIFETIME_SECONDS},
                  width="content", height="content")


def viewer_id() -> str:
    """Who this visitor is, for per-visitor caps: the owner and a local user are "local"."""
    if viewer_is_owner():
        return LOCAL_USER
    email = _signed_in_email()
    if email:
        return f"user:{email.lower()}"
    address = client_address(*client_connection())
    if address and not is_same_machine(address):  # a browser on the server's machine has no address to count by
        return f"ip:{address}"
    return f"session:{_session_id()}"


def deployment_notice() -> None:
    """For everyone, when the configuration is broken: what is wrong and what is off (never a secret's value)."""
    deployment = current_deployment()
    if deployment.broken:
        st.error("This deployment's configuration is broken:\n\n"
                 + "\n".join(f"- {problem}" for problem in deployment.problems) + f"\n\n{WHILE_BROKEN}",
                 icon=":material/lock:")


def owner_sidebar_section() -> None:
    """The sidebar's sign-in for the owner, or who is signed in, or how to name an owner."""
    deployment = current_deployment()
    if deployment.broken:
        return  # deployment_notice says why nobody can be the owner
    policy = deployment.access
    if not policy.owner_configured:
        if viewer_is_owner():
            st.caption("No owner is configured, and this browser is on the server's machine: you can promote "
                       "models and delete runs.")
        else:
            st.caption(f"No owner is configured, so only a browser on the server's own machine can promote models "
                       f"or delete runs. {HOW_TO_NAME_AN_OWNER}")
        return
    owner = viewer_is_owner()  # first: a reloaded page's token becomes this session's before the cookie is kept
    if policy.owner_password_hash:
        _keep_owner_cookie()
    if owner:
        st.caption("Signed in as the owner.")
        if st.session_state.get(PASSWORD_ACCEPTED_KEY):
            if st.button("Sign out", key="owner-sign-out"):
                OWNER_TOKENS.revoke(st.session_state.pop(OWNER_TOKEN_KEY, None))  # this browser's reloads end too
                st.session_state.pop(PASSWORD_ACCEPTED_KEY, None)
                st.rerun()
        elif _signed_in_email():
            st.button("Sign out", key="owner-log-out", on_click=st.logout)
        return
    with st.expander("Owner sign-in"):
        if policy.login_configured and policy.owner_emails:
            st.button("Sign in with your account", key="owner-login", on_click=st.login)
        if policy.owner_password_hash:
            _password_form(policy)


def _password_form(policy: AccessPolicy) -> None:
    with st.form("owner-password-form", border=False, enter_to_submit=True):
        password = st.text_input("Owner password", type="password", key="owner-password")
        submitted = st.form_submit_button("Sign in as owner")
    if not submitted:
        return
    if not password:
        st.error("Enter the owner's password.")
        return
    keys = (f"session:{_session_id()}", f"client:{client_key()}")
    attempt = OWNER_PASSWORD_THROTTLE.attempt(keys, lambda: policy.check_password(password))
    if attempt.accepted:
        st.session_state[PASSWORD_ACCEPTED_KEY] = True
        st.session_state[OWNER_TOKEN_KEY] = OWNER_TOKENS.issue(policy.owner_password_hash)  # kept by the browser
        st.rerun()
    elif attempt.throttled:
        st.error(f"Too many sign-in attempts just now. {attempt.retry_message()}")
    else:
        st.error("That is not the owner's password.")
