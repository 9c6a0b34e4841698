"""Joining a class by its link (?class=CODE), a student's nickname, and what their drawings carry into the bank.

A student who opens the link is in that class for the browser session: no account, no name needed.
The code is checked through a throttle like the owner's password (per session and per address, and a
cap for the whole server), so codes cannot be guessed at speed. The class joined is kept in the
session's state on the server, never taken from the browser again: a student cannot say which class
their drawings go into, only the link they opened can.

SQLAlchemy is imported only when a link is opened: the Draw page of a visitor with no class needs none.
"""

from __future__ import annotations

import streamlit as st

from digitlab.bank.writer_tags import reserved_tag_form
from digitlab.config.sign_in_throttle import SignInThrottle
from digitlab.ui.access import client_key
from digitlab.ui.bank import session_tag
from digitlab.ui.formatting import plain_markdown

CLASS_PARAMETER = "class"  # ?class=CODE in the link a teacher shares
JOINED_KEY = "class_joined"  # {"id", "name"}: the class this session draws in
NICKNAME_KEY = "class_nickname"  # the nickname checked and kept for this session's class drawings
NICKNAME_INPUT_KEY = "class_nickname_input"
NICKNAME_PROBLEM_KEY = "class_nickname_problem"  # why the nickname last typed was not kept
NICKNAME_POPOVER_KEY = "class_nickname_popover"  # the popover holding the box: open or not
TRIED_KEY = "class_link_tried"  # the code this session last tried, so a rerun does not try it again
CLOSED_LINK_KEY = "class_link_closed"  # the closed class this session's link named: its drawings are not saved
WRONG_CODE = "This class link is not valid (the code may be mistyped or replaced). Ask your teacher for the link again."
# A lookup is one indexed query, not a password hash: a whole class joining at once must not wait on the cap.
JOIN_CHECKS_PER_MINUTE = 600
CLASS_JOIN_THROTTLE = SignInThrottle(server_checks_per_minute=JOIN_CHECKS_PER_MINUTE)  # one per server process


def join_class_from_link() -> None:
    """Join the class the page's ?class= link names, once per code; say why not when it cannot be joined.

    Once joined, the student's panel (ui.class_student) says so: no notice pushes the canvas further down a phone.
    """
    code = st.query_params.get(CLASS_PARAMETER)
    if code and code != st.session_state.get(TRIED_KEY):
        st.session_state[TRIED_KEY] = code
        refusal = join_class(code)
        if refusal:
            st.error(refusal, icon=":material/school:")


def join_class(code: str) -> str | None:
    """Check a join code (throttled) and, if it names an open class, put this session in it; else why not."""
    from digitlab.bank.classes import ClassBook
    from digitlab.bank.engine import DrawingBankError
    from digitlab.ui.bank import drawing_bank

    found = {}

    def check() -> bool:
        found["class"] = ClassBook(drawing_bank()).find_by_code(code)
        return found["class"] is not None

    try:
        attempt = CLASS_JOIN_THROTTLE.attempt((f"session:{session_tag()}", f"client:{client_key()}"), check)
    except DrawingBankError as error:
        return f"The class cannot be joined just now: {error}"
    if attempt.throttled:
        st.session_state.pop(TRIED_KEY, None)  # not checked: the same link is tried again on the next run
        return f"Too many tries to join a class just now. {attempt.retry_message()}"
    school_class = found.get("class")
    if not attempt.accepted or school_class is None:
        return WRONG_CODE
    if not school_class.is_open:
        # A student who came to draw for their teacher must not end up in the bank every visitor sees: the
        # drawings keep the closed class, which the bank refuses, so nothing from this link is saved.
        st.session_state[CLOSED_LINK_KEY] = school_class.id
        return (f"The class {school_class.name} is closed: it takes no more drawings, and nothing drawn from this "
                "link is saved. Ask your teacher for a new link.")
    st.session_state[JOINED_KEY] = {"id": school_class.id, "name": school_class.name}
    return None


def joined_class() -> dict | None:
    """The class this session draws in ({"id", "name"}), or None."""
    return st.session_state.get(JOINED_KEY)


def class_fields() -> dict:
    """What a drawing saved now carries: its class and nickname (nothing outside a class; a closed class's link
    keeps that class, so the bank refuses the drawing)."""
    joined = joined_class()
    if joined is None:
        closed = st.session_state.get(CLOSED_LINK_KEY)
        return {} if closed is None else {"class_id": closed, "nickname": None}
    return {"class_id": joined["id"], "nickname": st.session_state.get(NICKNAME_KEY)}


def leave_class() -> None:
    for key in (JOINED_KEY, NICKNAME_KEY, NICKNAME_PROBLEM_KEY, TRIED_KEY, CLOSED_LINK_KEY):  # the link joins again
        st.session_state.pop(key, None)
    st.query_params.pop(CLASS_PARAMETER, None)


def nickname_box() -> None:
    """The optional nickname: checked when typed, kept only if it passes (nickname_problem says why not)."""
    st.text_input("Nickname (optional)", value=st.session_state.get(NICKNAME_KEY) or "", key=NICKNAME_INPUT_KEY,
                  on_change=_remember_nickname, max_chars=24, placeholder="no name needed",
                  help="Shown to your teacher beside your drawings. Up to 24 letters, digits, spaces, - or _.")


def nickname_label() -> str:
    """The nickname popover's label: the nickname in use, so a student sees it was taken without opening it."""
    nickname = st.session_state.get(NICKNAME_KEY)
    return f"Nickname: {plain_markdown(nickname)}" if nickname else "Nickname"


def nickname_problem() -> None:
    """Why the nickname last typed was not kept, until a good one is typed; drawn outside the box, which sits in a
    popover: a refusal said only there is gone once the popover closes."""
    problem = st.session_state.get(NICKNAME_PROBLEM_KEY)
    if not problem:
        return
    kept = st.session_state.get(NICKNAME_KEY)
    still = (f"Your drawings keep the nickname {plain_markdown(kept)}." if kept
             else "Your drawings go on without a nickname.")
    st.error(f"{plain_markdown(problem)} {still}", icon=":material/badge:")  # it quotes what was typed


def _remember_nickname() -> None:
    from digitlab.bank.drawing_checks import DrawingRejectedError, check_nickname

    # A nickname typed closes its popover, which covered the class bar: the bar's button names the nickname taken,
    # and a refusal is said under it (nickname_problem).
    st.session_state[NICKNAME_POPOVER_KEY] = False
    try:
        nickname = check_nickname(st.session_state.get(NICKNAME_INPUT_KEY))
    except DrawingRejectedError as error:
        st.session_state[NICKNAME_PROBLEM_KEY] = str(error)
        return
    # The class's table names imported pen-digit writers pen-07 and nameless students by their browser's tag:
    # a student nicknamed so would read as one of them.
    whose = reserved_tag_form(nickname) if nickname else None
    if whose:
        st.session_state[NICKNAME_PROBLEM_KEY] = f"The nickname {nickname!r} is the form kept for {whose}."
        return
    st.session_state[NICKNAME_KEY] = nickname
    st.session_state.pop(NICKNAME_PROBLEM_KEY, None)
