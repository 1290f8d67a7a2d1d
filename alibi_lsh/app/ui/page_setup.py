"""What the entry script sets up before any page: the browser tab, the toolbar, the projector layout.

Lecture mode is a layout for a 1280 x 720 (or 1024 x 768) projector: the sidebar starts folded
(navigation and the shared controls stay one click away in it), text is larger, the page's top
margin and title are smaller, and pages fold their explanations, so that every page's main figure
starts in the first screen. Lecture mode's own switch sits in the top bar (session.lecture_switch),
so the way back to the full layout is in sight.
"""

from __future__ import annotations

import streamlit as st

PAGE_TITLE = "ALiBi as random block masks"
PAGE_ICON = ":material/grid_on:"
TOOLBAR_MODE = "viewer"  # no Deploy button and no developer menu (rerun, clear cache) for visitors

# Streamlit sizes text and spacing in rem, so the root size scales both; headings are then
# brought back down, since a lecture needs the figure, not a large title.
LECTURE_CSS = """
<style>
html { font-size: 18px; }
[data-testid="stMainBlockContainer"] { padding: 4rem 1.5rem 2rem 1.5rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 1.7rem; padding: 0 0 0.2rem 0; }
[data-testid="stMainBlockContainer"] h2 { font-size: 1.4rem; }
[data-testid="stMainBlockContainer"] h3 { font-size: 1.2rem; }
/* Lecture mode's own switch, pinned in the empty middle of the top bar, left of the menu; its
   wrapper leaves the page's flow, so the switch costs the page no height. */
[data-testid="stLayoutWrapper"]:has(> .st-key-lecture_switch) { position: absolute; }
.st-key-lecture_switch {
  position: fixed; top: 1.1rem; right: 3.5rem; left: auto; width: max-content !important; z-index: 999991;
  gap: 0.8rem; padding: 0 0.5rem; background: var(--st-background-color, #fff);
}
.st-key-lecture_switch [data-testid="stCaptionContainer"] { margin: 0; }
.st-key-lecture_switch [data-testid="stCaptionContainer"] p { margin: 0; white-space: nowrap; }
@media (max-width: 640px) { .st-key-lecture_switch [data-testid="stCaptionContainer"] { display: none; } }
</style>
"""


# A displayed formula wider than a phone's column scrolls sideways inside its own box instead of
# being cut off (KaTeX's display block; on a projector or a laptop every formula fits).
PAGE_CSS = """
<style>
.katex-display { overflow-x: auto; overflow-y: hidden; }
</style>
"""


def hide_developer_toolbar() -> None:
    """Set Streamlit's client toolbar to viewer mode, whatever directory the app was started from
    (``.streamlit/config.toml`` is only read from the working directory).

    The option reaches the browser with the next run's session message, so the first run of a
    process that finds it unset sets it and reruns once.
    """
    if st.get_option("client.toolbarMode") != TOOLBAR_MODE:
        st.set_option("client.toolbarMode", TOOLBAR_MODE)
        st.rerun()


def configure_page(lecture: bool) -> None:
    """Tab title and icon, the wide layout, and in lecture mode the folded sidebar and larger text."""
    st.set_page_config(
        page_title=PAGE_TITLE,
        page_icon=PAGE_ICON,
        layout="wide",
        initial_sidebar_state="collapsed" if lecture else "auto",
    )
    st.html(PAGE_CSS)
    if lecture:
        st.html(LECTURE_CSS)
