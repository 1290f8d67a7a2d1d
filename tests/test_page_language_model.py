"""The "Language model" page, run headless with Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alibi_lsh.lm import DEFAULT_WEIGHTS

# AppTest resolves relative paths against this file, so name the page from the repository root.
PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "language_model.py")
pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped weights not trained yet")


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_default_view_shows_results_losses_and_heatmaps(app):
    assert app.title[0].value == "Language model"
    headers = [s.value for s in app.subheader]
    assert headers == ["Held-out perplexity against R", "Your text: per-byte loss and attention"]
    assert not app.error
    labels = [m.label for m in app.metric]
    assert "Loss, exact (nats/byte)" in labels and "Loss, LSH binning R=8" in labels
    assert len(app.get("plotly_chart")) == 1  # the exact vs approximate heatmaps
    assert len(app.get("vega_lite_chart")) >= 2  # perplexity chart + per-byte loss chart


def test_too_long_text_gets_a_clear_message(app):
    app.text_area(key="lm_text").set_value("x" * 600).run()
    assert not app.exception
    assert "600 bytes long; the limit is 512 bytes" in app.error[0].value
    assert not app.get("plotly_chart")


def test_changing_layer_head_and_r(app):
    app.select_slider(key="lm_R").set_value(2).run()
    app.selectbox(key="lm_layer").set_value(3).run()
    app.selectbox(key="lm_head").set_value(0).run()
    assert not app.exception
    assert "Loss, LSH binning R=2" in [m.label for m in app.metric]
    assert len(app.get("plotly_chart")) == 1


def test_quick_run_computes_perplexity_on_demand(app):
    app.radio(key="lm_source").set_value("Compute a quick run now").run()
    app.multiselect(key="lm_samples").set_value([1, 4]).run()
    app.button(key="lm_run").click().run()
    assert not app.exception
    frames = app.dataframe
    assert frames and len(frames[-1].value) == 3  # exact + R=1 + R=4


def test_missing_weights_show_a_message_not_a_traceback(monkeypatch, tmp_path):
    import streamlit as st

    import alibi_lsh.lm.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "DEFAULT_WEIGHTS", tmp_path / "missing.safetensors")
    st.cache_resource.clear()  # the model is cached per process
    try:
        at = AppTest.from_file(PAGE, default_timeout=60).run()
        assert not at.exception
        assert "Model weights not found" in at.error[0].value
        assert not at.metric
    finally:
        st.cache_resource.clear()
