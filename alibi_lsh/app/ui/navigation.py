"""The app's pages, in the order of the sidebar; ``app.py`` and the pages build navigation from here.

Paths are relative to the entry script (``app.py`` at the repository root); each page's URL is
its file name (``/masks``) unless ``url_path`` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    url_path: str | None = None
    default: bool = False


PAGES = (
    PageSpec("pages/overview.py", "Overview", ":material/home:", default=True),
    PageSpec("pages/lecture.py", "Lecture (guided tour)", ":material/slideshow:", url_path="lecture"),
    PageSpec("pages/masks.py", "Masks", ":material/grid_view:"),
    PageSpec("pages/convergence.py", "Convergence", ":material/trending_down:"),
    PageSpec("pages/attention.py", "Attention", ":material/visibility:"),
    PageSpec("pages/scaling.py", "Scaling", ":material/speed:"),
    PageSpec("pages/playground.py", "Cost playground", ":material/tune:"),
    PageSpec("pages/theory.py", "Theory", ":material/functions:"),
    PageSpec("pages/language_model.py", "Language model", ":material/description:"),
)


def build_navigation():
    """``st.navigation`` over :data:`PAGES` (in the sidebar); returns the page to run."""
    pages = [
        st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path, default=spec.default)
        for spec in PAGES
    ]
    return st.navigation(pages)
