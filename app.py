"""ALiBi as the average of random block masks: the teaching app.

Run with ``streamlit run app.py``. This file is the router: it sets up the page (toolbar,
projector layout in lecture mode), the navigation and the shared sidebar controls (mirrored into
the URL, so a link reproduces the exact state), then runs the selected page. Pages only read the
controls and lay out figures; all the computation lives in the ``alibi_lsh`` package.
"""

from __future__ import annotations

import streamlit as st

from alibi_lsh.app import server
from alibi_lsh.app.ui import navigation, page_setup, session

with server.script_run():
    page_setup.hide_developer_toolbar()
    page_setup.configure_page(lecture=session.current().lecture)
    page = navigation.build_navigation()
    controls = session.render_sidebar()
    session.lecture_switch()
    for message in session.messages():
        st.warning(message, icon=":material/warning:")
    session.sync_url(controls)
    with session.entry_point():
        page.run()
