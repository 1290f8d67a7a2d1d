"""What the entry script sets up before any page: the browser tab, the toolbar, the projector layout.

Lecture mode is a layout for a 1280 x 720 (or 1024 x 768) projector: the sidebar starts folded
(navigation and the shared controls stay one click away in it), text is larger, the page's top
margin and title are smaller, and pages fold their explanations, so that every page's main figure
starts in the first screen. Lecture mode's own switch sits in the top bar (session.lecture_switch),
so the way back to the full layout is in sight.
"""

from __future__ import annotations

import functools

import streamlit as st
from PIL import Image

PAGE_TITLE = "ALiBi as random block masks"
ICON_BLOCKS = (0, 3, 5, 9, 12, 16)  # the block starts of the tab icon's mask, on a 16 x 16 grid
ICON_COLOR = (8, 48, 107)  # the masks' dark blue (figures.style.UNIT_COLORSCALE at 1)
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
/* Captions under figures: at least 16 px on a projector (Streamlit's 0.875rem is 15.75 px here). */
[data-testid="stCaptionContainer"] { font-size: 0.9rem; }
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
/* Overview's live figure: its four square panels grow with the width; on a 1280 x 720 screen
   they are kept to what ends in the first screen (about 235 px each instead of 290). */
.st-key-overview_live .alibi-live { max-width: calc(4 * (100vh - 490px) + 40px); margin-inline: auto; }
</style>
"""


# A displayed formula wider than a phone's column scrolls sideways inside its own box instead of
# being cut off (KaTeX's display block; on a projector or a laptop every formula fits).
PAGE_CSS = """
<style>
.katex-display { overflow-x: auto; overflow-y: hidden; }
/* No keyboard hints where there is no keyboard (a phone, a tablet). */
@media (hover: none) and (pointer: coarse) { .st-key-tour_keys_hint { display: none; } }
/* A phone: a page's title in two short lines, not four tall ones above the figure. */
@media (max-width: 640px) { [data-testid="stMainBlockContainer"] h1 { font-size: 1.9rem; padding-bottom: 0.5rem; } }
/* A phone: the tour's Previous / title / Next stay one row, and a step's figure comes right under
   them, before its sentences (a wide figure is laid out after them for a projector). */
@media (max-width: 640px) {
  .st-key-tour_nav [data-testid="stHorizontalBlock"] { flex-wrap: nowrap; gap: 0.5rem; }
  .st-key-tour_nav [data-testid="stColumn"] { min-width: 0 !important; width: auto !important; flex: 1 1 0 !important; }
  .st-key-tour_nav [data-testid="stColumn"]:nth-child(2) { flex: 2.2 1 0 !important; }
  .st-key-tour_nav h3 { font-size: 1rem; }
  .st-key-tour_nav button p { display: none; }
  [data-testid="stVerticalBlock"] > :has(> .st-key-tour_nav), .st-key-tour_nav { order: -2; }
  [data-testid="stVerticalBlock"] > :has(> [class*="st-key-tour_wide_"]), [class*="st-key-tour_wide_"] { order: -1; }
  /* The scaling step's numbers, above its chart on a projector, after it on a phone. */
  [data-testid="stVerticalBlock"] > :has(> .st-key-tour_scaling_numbers), .st-key-tour_scaling_numbers { order: 1; }
}
/* The scaling step: its numbers stand close to the chart they describe (half the usual gap), so
   that the chart ends 16 px above a 1280 x 720 projector's fold rather than 7. */
.st-key-tour_figure_scaling { gap: 0.5rem; }
/* A chart drawn twice (display.by_screen): the wide one where Streamlit lays columns out in a row,
   the narrow one (legends under the plots, panels stacked) where it stacks them, under 640 px. */
@media (max-width: 640px) { [class*="st-key-wide_screen_"] { display: none; } }
@media (min-width: 641px) { [class*="st-key-narrow_screen_"] { display: none; } }
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
        page_icon=tab_icon(),
        layout="wide",
        initial_sidebar_state="collapsed" if lecture else "auto",
    )
    st.html(PAGE_CSS)
    if lecture:
        st.html(LECTURE_CSS)


@functools.cache
def tab_icon(size: int = 64) -> Image.Image:
    """The tab icon: one random block mask (dark squares on the diagonal), drawn here and served by
    the app itself. A ``:material/...:`` or emoji icon would make every browser fetch it from a font
    server or a CDN, which fails in a lecture hall without internet and tells a third party."""
    cell = size // ICON_BLOCKS[-1]
    icon = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    for start, end in zip(ICON_BLOCKS, ICON_BLOCKS[1:]):
        icon.paste(ICON_COLOR + (255,), (start * cell, start * cell, end * cell, end * cell))
    return icon
