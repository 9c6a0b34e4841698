"""A student's own view, on the Draw page: the class they are in, their nickname, and how the model read them.

Only this session's drawings in this class are counted (its session tag and the class joined): a
student never sees another student's drawings or another class.
"""

from __future__ import annotations

import streamlit as st

from typing import TYPE_CHECKING

from digitlab.ui.bank import session_tag
from digitlab.ui.class_join import (NICKNAME_POPOVER_KEY, joined_class, join_class_from_link, leave_class,
                                    nickname_box, nickname_label, nickname_problem)
from digitlab.ui.formatting import counted, percent

if TYPE_CHECKING:  # the Draw page imports no SQLAlchemy until a class is joined
    from digitlab.bank.class_summary import ClassSummary

HARDEST_SHOWN = 3  # digits named as the hardest for the model


def class_for_this_session() -> None:
    """Join the class a ?class= link names; for a student in a class, a bar with their own counts."""
    join_class_from_link()
    joined = joined_class()
    if joined is None:
        return
    with st.container(border=True, key="class_student_panel"):
        row = st.container(horizontal=True, vertical_alignment="center", gap="small")
        row.markdown(f":material/school: You are in the class **{joined['name']}**", width="content")
        with row.popover(nickname_label(), icon=":material/badge:", key=NICKNAME_POPOVER_KEY, on_change="rerun"):
            nickname_box()
        row.button("Leave the class", key="class_leave", on_click=leave_class, type="tertiary",
                   help="Your drawings from now on are not part of the class.")
        nickname_problem()
        st.markdown(own_progress(joined["id"]))


def own_progress(class_id: int) -> str:
    """One line: how many this student drew, how often the model read them right, and their hardest digits."""
    from digitlab.bank.class_summary import summarise_class
    from digitlab.bank.engine import DrawingBankError
    from digitlab.ui.bank import drawing_bank

    try:
        summary = summarise_class(drawing_bank(), class_id, session=session_tag())
    except DrawingBankError as error:
        return f"Your drawings cannot be counted just now: {error}"
    if summary.drawn == 0:
        return "Draw a digit and answer **Right** or **Wrong**: the drawings you answer go to your teacher."
    line = f"You drew {counted(summary.drawn, 'digit', bold=True)} in this class."
    if summary.read:
        line += (f" The model read **{summary.read_right} of {summary.read}** right "
                 f"({percent(summary.read_right / summary.read)}).")
    struggles = describe_struggles(summary, HARDEST_SHOWN)
    return line + (f" Hardest for it: {struggles}." if struggles else "")


def describe_struggles(summary: "ClassSummary", most: int | None = None) -> str:
    """The digits the model misread at least once, hardest first: "**4** (1 of 2 right), **9** (2 of 3 right)"."""
    struggles = [item for item in summary.hardest_digits if item.read_right < item.drawn][:most]
    return ", ".join(f"**{item.digit}** ({item.read_right} of {item.drawn} right)" for item in struggles)
