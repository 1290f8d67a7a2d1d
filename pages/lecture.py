"""Lecture: a guided tour of the story, one step (one figure, two or three sentences) at a time.

The step is in the URL (``/lecture?step=3``) with the shared controls, so a bookmark reopens the
exact slide; Previous / Next also answer PageUp / PageDown and the arrow keys.
"""

from __future__ import annotations

from alibi_lsh.app.ui import session, tour_steps

session.ensure_entry_point()
controls = session.current()
step = tour_steps.current_step()
tour_steps.navigation_row(step)
tour_steps.show_step(step, controls)
