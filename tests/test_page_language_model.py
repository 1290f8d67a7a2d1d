"""The "Language model" page, run headless with Streamlit's AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alibi_lsh.lm import DEFAULT_WEIGHTS

# AppTest resolves relative paths against this file, so name the entry script from the repository root.
APP = str(Path(__file__).resolve().parents[1] / "app.py")
pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped weights not trained yet")


def open_page(**params: str) -> AppTest:
    """The page inside the app (navigation, shared controls), as a visitor opens it."""
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/language_model.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app() -> AppTest:
    return open_page()


def test_default_view_shows_results_losses_and_heatmaps(app):
    assert app.title[0].value == "Language model"
    headers = [s.value for s in app.subheader]
    assert headers == ["Held-out perplexity against R", "Your text: per-byte loss and attention"]
    assert not app.error
    labels = [m.label for m in app.metric]
    assert "Loss, exact (nats/byte)" in labels and "Loss, LSH binning R=8" in labels
    # The exact vs approximate heatmaps, twice (one shown by the screen's width): side by side, and
    # one under the other for a phone.
    assert [chart.key for chart in app.get("plotly_chart")] == ["fig_lm_attention_maps", "fig_lm_attention_maps_phone"]
    assert len(app.get("vega_lite_chart")) >= 2  # perplexity chart + per-byte loss chart
    # Every figure has its CSV: perplexity, per-layer error (folded), per-byte losses, attention maps.
    downloads = [b.proto.label for b in app.get("download_button")]
    assert downloads.count("Download the data (CSV)") == 4
    # Heads are numbered from 1, like the sidebar; the last one is the default.
    assert app.selectbox(key="lm_head").options[0].startswith("1 (slope")
    assert app.selectbox(key="lm_head").value == 8 and app.selectbox(key="lm_layer").value == 1


def test_too_long_text_gets_a_clear_message(app):
    app.text_area(key="lm_text").set_value("x" * 600).run()
    assert not app.exception
    assert "600 bytes long; the limit is 512 bytes" in app.error[0].value
    assert not app.get("plotly_chart")


def test_changing_layer_head_and_r(app):
    app.select_slider(key="lm_R").set_value(2).run()
    app.selectbox(key="lm_layer").set_value(3).run()
    app.selectbox(key="lm_head").set_value(1).run()
    assert not app.exception
    assert "Loss, LSH binning R=2" in [m.label for m in app.metric]
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"].startswith("Layer 3, head 1:")


def test_lecture_mode_uses_lecture_fonts():
    at = open_page(lecture="1")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["font"]["size"] >= 20
    chart = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert chart["config"]["axis"]["labelFontSize"] >= 16


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
        at = open_page()
        assert not at.exception
        assert "Model weights not found" in at.error[0].value
        assert not at.metric
    finally:
        st.cache_resource.clear()


def test_attention_heatmaps_send_8_bit_colours_with_the_upper_triangle_blank():
    import numpy as np
    import torch

    from alibi_lsh.lm.figures import attention_heatmaps

    causal = torch.ones(40, 40, dtype=torch.bool).tril()
    scores = torch.randn(40, 40, generator=torch.Generator().manual_seed(0))
    weights = torch.softmax(scores.masked_fill(~causal, -1e9), -1)
    figure = attention_heatmaps(weights, weights, "LSH R=4")
    codes = np.asarray(figure.data[0].z)
    assert codes.dtype == np.uint8 and (codes[~causal.numpy()] == 0).all()  # code 0: white, the masked keys
    top = float(torch.quantile(torch.cat([weights[causal]] * 2), 0.99))  # over both panels, as the figure
    decoded = (codes[causal.numpy()].astype(float) - 1) / 254 * top
    expected = weights[causal].clamp(max=top).numpy()
    np.testing.assert_allclose(decoded, expected, atol=0.5 / 254 * top + 1e-7)  # within half a colour level
    assert figure.data[0].colorscale[0][1] == "#ffffff"
