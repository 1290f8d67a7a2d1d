"""ALiBi as the average of random block masks: the teaching app.

Run with ``streamlit run app.py``. This file is the entry point: it sets up the page (toolbar,
projector layout in lecture mode), the navigation and the shared sidebar controls (mirrored into
the URL, so a link reproduces the exact state), then runs the selected page. Pages only read the
controls and lay out figures; all the computation lives in the ``alibi_lsh`` package.
"""

from __future__ import annotations

import streamlit as st
import torch

from alibi_lsh.app import server as memory
from alibi_lsh.app.ui import navigation, page_setup, session

# Every interactive computation here is small; one thread per computation keeps several students
# on one server from oversubscribing the CPU (measured: 5-10x faster under load than the default).
torch.set_num_threads(1)
memory.start_janitor()  # gives freed memory back to the system after students leave
memory.note_activity()  # the caches are in use; an idle minute later the janitor drops them

page_setup.hide_developer_toolbar()
page_setup.configure_page(lecture=session.current().lecture)
page = navigation.build_navigation()
controls = session.render_sidebar()
session.lecture_switch()
for message in session.messages():
    st.warning(message, icon=":material/warning:")
session.sync_url(controls)
try:
    with session.entry_point():
        page.run()
finally:
    # Modules imported by this run go to the collector's permanent generation: the full
    # collections after later runs then skip them (120 ms per run otherwise; alibi_lsh.app.server).
    memory.freeze_imports()
