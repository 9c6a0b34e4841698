"""DigitLab: the entry point. Page config, navigation and the shared sidebar; the pages do the rest."""

import streamlit as st

from digitlab.ui.sidebar import model_sidebar

st.set_page_config(page_title="DigitLab", page_icon="✍️", layout="wide")

pages = [
    st.Page("pages/draw.py", title="Draw", icon="✏️", url_path="", default=True),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    st.Page("pages/evaluate.py", title="Evaluate", icon="🔍", url_path="evaluate"),
]
navigation = st.navigation(pages)
st.session_state["selected_model"] = model_sidebar()
navigation.run()
