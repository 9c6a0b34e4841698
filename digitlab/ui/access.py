"""Who is looking at the page (digitlab.config.access), and the sidebar's owner sign-in."""

from __future__ import annotations

import streamlit as st

from digitlab.config.access import AccessPolicy, load_access_policy
from digitlab.training.jobs import LOCAL_USER
from digitlab.config.settings import SettingsError

PASSWORD_ACCEPTED_KEY = "owner_password_accepted"


def access_policy() -> AccessPolicy:
    """This deployment's policy; with a malformed setting nobody is the owner (and the sidebar says why)."""
    try:
        secrets = dict(st.secrets)
    except FileNotFoundError:  # no secrets file, or one that does not parse
        secrets = {}
    try:
        return load_access_policy(secrets)
    except SettingsError:
        # Fail closed: a typo in the owner's hash must not make every visitor the owner.
        return AccessPolicy(owner_password_hash="invalid")


def _signed_in_email() -> str | None:
    try:
        if st.user.is_logged_in:
            email = st.user.get("email")
            return str(email) if email else None
    except (AttributeError, KeyError):
        pass
    return None


def viewer_is_owner() -> bool:
    """Whether this session may change what everyone gets (promote, set the default, delete)."""
    return access_policy().is_owner(_signed_in_email(), bool(st.session_state.get(PASSWORD_ACCEPTED_KEY)))


def viewer_id() -> str:
    """Who this visitor is, for per-visitor caps: the owner and a local user are "local"."""
    if viewer_is_owner():
        return LOCAL_USER
    email = _signed_in_email()
    if email:
        return f"user:{email.lower()}"
    address = getattr(st.context, "ip_address", None)
    if address:
        return f"ip:{address}"
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    return f"session:{context.session_id if context else 'unknown'}"


OWNER_ONLY_NOTE = "Only the owner of this deployment can do this. Sign in as the owner in the sidebar."


def owner_sidebar_section() -> None:
    """The sidebar's sign-in for the owner, or who is signed in; nothing to do on a local run."""
    policy = access_policy()
    if policy.owner_password_hash == "invalid":
        st.caption("The owner's password setting is malformed: owner actions are off until it is fixed.")
        return
    if not policy.owner_configured:
        st.caption("Running without an owner configured: you can promote models and delete runs.")
        return
    if viewer_is_owner():
        st.caption("Signed in as the owner.")
        if st.session_state.get(PASSWORD_ACCEPTED_KEY):
            if st.button("Sign out", key="owner-sign-out"):
                st.session_state.pop(PASSWORD_ACCEPTED_KEY, None)
                st.rerun()
        elif _signed_in_email():
            st.button("Sign out", key="owner-log-out", on_click=st.logout)
        return
    with st.expander("Owner sign-in"):
        if policy.login_configured and policy.owner_emails:
            st.button("Sign in with your account", key="owner-login", on_click=st.login)
        if policy.owner_password_hash:
            with st.form("owner-password-form", border=False, enter_to_submit=True):
                password = st.text_input("Owner password", type="password", key="owner-password")
                submitted = st.form_submit_button("Sign in as owner")
            if submitted:
                if policy.check_password(password):
                    st.session_state[PASSWORD_ACCEPTED_KEY] = True
                    st.rerun()
                else:
                    st.error("That is not the owner's password.")
