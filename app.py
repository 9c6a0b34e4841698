"""DigitLab: the entry point. Page config, navigation and the shared sidebar; the pages do the rest."""

import streamlit as st

from digitlab.ui.sidebar import model_sidebar

st.set_page_config(page_title="DigitLab", page_icon=":material/draw:", layout="wide")

pages = [
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:", url_path="", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/troubleshoot:", url_path="evaluate"),
    st.Page("pages/drawings.py", title="Drawings", icon=":material/gallery_thumbnail:", url_path="drawings"),
]
navigation = st.navigation(pages)
st.session_state["selected_model"] = model_sidebar()
navigation.run()
