"""ALiBi as the average of random block masks: the teaching app.

Run with ``streamlit run app.py``. This file is the entry point: it sets up the page, the
navigation and the shared sidebar controls (mirrored into the URL, so a link reproduces the exact
state), then runs the selected page. Pages only read the controls and lay out figures; all the
computation lives in the ``alibi_lsh`` package.
"""

from __future__ import annotations

import streamlit as st
import torch

from alibi_lsh.app import app_state

st.set_page_config(page_title="ALiBi as random block masks", page_icon=":material/grid_on:", layout="wide")

# Every interactive computation here is small; one thread per computation keeps several students
# on one server from oversubscribing the CPU (measured: 5-10x faster under load than the default).
torch.set_num_threads(1)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/masks.py", title="Masks", icon=":material/grid_view:"),
    st.Page("pages/convergence.py", title="Convergence", icon=":material/trending_down:"),
    st.Page("pages/attention.py", title="Attention", icon=":material/visibility:"),
    st.Page("pages/scaling.py", title="Scaling", icon=":material/speed:"),
    st.Page("pages/theory.py", title="Theory", icon=":material/functions:"),
    st.Page("pages/language_model.py", title="Language model", icon=":material/description:"),
]

# Lecture mode: bigger text everywhere (Streamlit sizes text in rem, so the root size scales it).
LECTURE_CSS = """
<style>
html { font-size: 21px; }
[data-testid="stSidebar"] { min-width: 360px; }
</style>
"""

page = st.navigation(PAGES)
controls = app_state.render_sidebar()
if controls.lecture:
    st.markdown(LECTURE_CSS, unsafe_allow_html=True)
for message in app_state.messages():
    st.warning(message, icon=":material/warning:")
app_state.sync_url(controls)
page.run()
