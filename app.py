"""DigitLab: the entry point. Page config, navigation and the shared sidebar; the pages do the rest."""

from pathlib import Path

import streamlit as st

from digitlab.ui.page_memory import keep_remembered
from digitlab.ui.sidebar import model_sidebar

# The tab icon ships with the app: a ":material/...:" page icon is fetched from a Google fonts host on
# every page load, and DigitLab sends nothing to third parties. A local SVG is inlined as a data URL.
TAB_ICON = Path(__file__).parent / ".streamlit" / "favicon.svg"
st.set_page_config(page_title="DigitLab", page_icon=str(TAB_ICON), layout="wide")

pages = [
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:", url_path="", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/troubleshoot:", url_path="evaluate"),
    st.Page("pages/drawings.py", title="Drawings", icon=":material/gallery_thumbnail:", url_path="drawings"),
    st.Page("pages/class.py", title="Class", icon=":material/school:", url_path="class"),
]
navigation = st.navigation(pages)
keep_remembered()  # choices made on a page the visitor left, kept for their return
st.session_state["selected_model"] = model_sidebar()
navigation.run()
