"""Every page of the app, run headless with Streamlit's AppTest through the entry point app.py.

Each page is run with its defaults, then with its main controls changed, then with bad URL values;
the assertions look at what is shown (titles, warnings, number of charts), not only at "no error".
Small n and R keep the whole file fast. AppTest starts every run the way a fresh server serves a
bookmarked sub-page (Streamlit's old pages/ layout, before any st.navigation call), so every page
test here also goes through alibi_lsh.app.ui.session.ensure_entry_point.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alibi_lsh import alibi_kernel, alibi_slopes, mask_running_mean, spectral_norm_error

APP = Path(__file__).resolve().parent.parent / "app.py"
SMALL = {"n": "48", "R": "8"}
REPORTS = itertools.count()  # the browser numbers its reports: the same settings reported again are news


def open_page(page: str | None = None, **params: str) -> AppTest:
    """Run app.py with URL ``params``, then switch to ``page`` (a path under pages/)."""
    at = AppTest.from_file(str(APP), default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def plotly(at: AppTest) -> list:
    return at.get("plotly_chart")


def altair(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def heatmap_count(element) -> int:
    return sum(trace["type"] == "heatmap" for trace in json.loads(element.proto.spec)["data"])


def panel_count(element) -> int:
    """Panels (traces) of a plotly figure: heatmaps, or the filled squares of a mask each."""
    return len(json.loads(element.proto.spec)["data"])


def live_figures(at: AppTest) -> list[dict]:
    """The live masks figures on the page: the settings each was mounted with (its JSON data)."""
    return [json.loads(e.proto.json) for e in at.get("bidi_component") if e.proto.component_name.endswith("live_masks")]


def report_from_browser(at: AppTest, **changes) -> AppTest:
    """Run ``at`` as after a drag let go in its live figure: the browser's report of the settings it
    draws (those it was mounted with, with ``changes``), sent as the component's widget state.

    AppTest has no browser and no way to set a custom component's state, so the report is added to
    the widget states of the next run by hand, in the form the browser sends (a JSON map of the
    component's state values).
    """
    element = next(e for e in at.get("bidi_component") if e.proto.component_name.endswith("live_masks"))
    data = json.loads(element.proto.json)
    view = {name: data[name] for name in ("n", "slope", "samples", "scheme", "seed", "head")}
    view |= {"basis": data["basis"], "report": str(next(REPORTS)), "max_norm_error": 0.5} | changes
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = element.proto.id
    state.json_value = json.dumps({"view": view, "layout": None})
    at._run(states)
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return " | ".join(e.value for e in elements)


# --- entry point and shared controls --------------------------------------------------------


def test_overview_default_run():
    at = open_page(**SMALL)
    assert at.title[0].value == "ALiBi is an average of random block masks"
    # The claim's two formulas; the live figure; the diagonals.
    assert len(at.latex) == 2 and len(live_figures(at)) == 1 and len(altair(at)) == 1
    live = live_figures(at)[0]
    assert (live["n"], live["samples"], live["scheme"], live["seed"], live["head"]) == (48, 8, "binning", "0", 3)
    assert [m.label for m in at.metric] == [
        "max-norm error",
        "its bound (95%)",
        "spectral-norm error",
        "its bound (95%)",
    ]
    # The numbers are the library's for the masks drawn (n = 48, m = 1/16, R = 8, head index 3).
    mean = mask_running_mean(48, 1 / 16, 8, "binning", 0, checkpoints=[8], head=3)[0][0]
    assert at.metric[2].value == f"{float(spectral_norm_error(mean, alibi_kernel(48, [1 / 16])[0])):.4g}"
    assert len(at.get("page_link")) == 7
    assert not at.warning and not at.error
    assert at.query_params["n"] == ["48"] or at.query_params["n"] == "48"


def test_sidebar_controls_change_the_figure_and_url():
    at = open_page(**SMALL)
    at.slider(key="w_n").set_value(32).run()
    assert live_figures(at)[0]["n"] == 32 and "n = 32," in texts(at.caption)
    at.slider(key="w_samples").set_value(4).run()
    assert "R = 4 binning masks" in texts(at.caption)
    at.selectbox(key="w_scheme").set_value("cuts").run()
    at.number_input(key="w_seed").set_value(5).run()
    at.number_input(key="w_head").set_value(2).run()
    assert "n = 32, m = 0.25, R = 4 cuts masks, seed 5, head index 1" in texts(at.caption)
    assert at.selectbox(key="w_preset").value == "custom"
    assert not at.exception and len(altair(at)) == 1


def test_custom_slope_zero_or_negative_is_clamped_with_a_warning():
    at = open_page(**SMALL)
    at.radio(key="w_slope_mode").set_value("custom").run()
    at.number_input(key="w_custom_slope").set_value(-1.0).run()
    assert "slope=-1 is not allowed" in texts(at.warning) and "using slope=0.001" in texts(at.warning)
    assert live_figures(at)[0]["slope"] == 0.001 and "m = 0.001," in texts(at.caption)
    assert len(altair(at)) == 1


def test_preset_and_lecture_mode():
    at = open_page()
    at.selectbox(key="w_preset").set_value("small blocks").run()
    assert at.slider(key="w_n").value == 64 and at.slider(key="w_samples").value == 16
    at.toggle(key="w_lecture").set_value(True).run()
    assert [e.label for e in at.expander] == ["About this page"]  # explanation folded, no "Show the code"
    assert not [s for s in at.selectbox if s.key == "w_scheme"]  # secondary controls hidden
    at.toggle(key="w_lecture").set_value(False).run()
    assert at.selectbox(key="w_scheme").value == "binning"  # hidden values survived


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": "99999", "R": "4"}, "n=99999 is above the cap 1024 (dense n x n pages); using n=1024."),
        ({"n": "48", "R": "5000"}, "using R=1024"),
        ({"n": "48", "R": "4", "slope": "0"}, "slope=0 is not allowed"),
        ({"n": "48", "R": "4", "seed": "-1"}, "using seed=0"),
        ({"n": "abc", "R": "4"}, "n='abc' is not a whole number; using n=256."),
    ],
)
def test_bad_url_values_are_clamped_and_named(params, message):
    at = open_page(**params)
    assert message in texts(at.warning)
    assert len(live_figures(at)) == 1 and len(altair(at)) == 1 and not at.error


# --- pages ----------------------------------------------------------------------------------


def test_masks_page():
    at = open_page("pages/masks.py", **SMALL)
    assert at.title[0].value == "Random block masks"
    assert panel_count(plotly(at)[0]) == 8 and len(altair(at)) == 1 and len(at.dataframe) == 1
    assert len(at.dataframe[0].value) == 8 and len(live_figures(at)) == 1 and len(at.metric) == 4
    at.select_slider(key="masks_count").set_value(4).run()
    assert panel_count(plotly(at)[0]) == 4
    at.button(key="masks_resample").click().run()
    assert "seed **1**" in " ".join(m.value for m in at.markdown)
    at.selectbox(key="w_scheme").set_value("cuts").run()
    assert "geometric" in " ".join(m.value for m in at.markdown)
    assert not at.exception


def test_masks_page_bad_url():
    at = open_page("pages/masks.py", n="4", R="8", scheme="bogus")
    assert "using n=8" in texts(at.warning) and "using scheme=binning" in texts(at.warning)
    assert len(plotly(at)) == 1


def vega_panels(element) -> list[str]:
    """Titles of the panels of a horizontally concatenated Vega-Lite chart."""
    return [panel["title"] for panel in json.loads(element.proto.spec)["hconcat"]]


def test_convergence_page():
    at = open_page("pages/convergence.py", **SMALL)
    assert at.title[0].value == "Convergence: averaging more masks"
    # The live figure (the running mean, drawn in the browser) with its numbers; per-head heatmaps and bars.
    assert len(live_figures(at)) == 1 and len(at.metric) == 4
    assert len(plotly(at)) == 1 and heatmap_count(plotly(at)[0]) == 16
    # The error-against-R comparison is drawn at once, each bound with why it is loose.
    assert len(altair(at)) == 2 and vega_panels(altair(at)[0]) == ["max-norm", "relative Frobenius"]
    assert "Max-norm bound, why loose:" in texts(at.markdown) and "Spectral bound" not in texts(at.markdown)
    at.toggle(key="conv_spectral").set_value(True).run()
    assert vega_panels(altair(at)[0]) == ["max-norm", "spectral", "relative Frobenius"]
    assert "Spectral bound, why loose:" in texts(at.markdown)
    at.multiselect(key="conv_schemes").set_value(["qmc"]).run()
    assert len(altair(at)) == 2
    at.multiselect(key="conv_schemes").set_value([]).run()
    assert "Pick at least one scheme" in texts(at.info)
    at.multiselect(key="conv_schemes").set_value(["binning", "cuts"]).run()
    at.slider(key="w_samples").set_value(40).run()  # while on, the curves follow the sidebar
    assert live_figures(at)[0]["samples"] == 40
    curves = json.loads(altair(at)[0].proto.spec)
    assert curves["hconcat"][0]["layer"][0]["encoding"]["x"]["axis"]["values"] == [1, 2, 4, 8, 16, 32, 40]
    assert not at.exception


def test_error_curves_fragment_reruns_alone():
    """Changing a control of the error section reruns only that fragment: the page above is untouched."""
    at = open_page("pages/convergence.py", **SMALL)
    heads = plotly(at)[0].proto.spec
    at.toggle(key="conv_spectral").set_value(True).run()
    assert plotly(at)[0].proto.spec == heads and len(altair(at)) == 2 and not at.exception


def test_convergence_page_bad_url():
    at = open_page("pages/convergence.py", n="32", R="0", heads="99")
    assert "R=0 is below the minimum 1; using R=1." in texts(at.warning)
    assert "heads=99 is above the cap 64" in texts(at.warning)
    assert "showing the first 16" in texts(at.warning)  # the per-head view's own cap


def without_legends(node):
    """A Vega-Lite dict without its legends, config and sizes (what a phone's copy may change)."""
    if isinstance(node, dict):
        dropped = {"legend", "config", "width", "height", "autosize", "datasets"}
        return {key: without_legends(value) for key, value in node.items() if key not in dropped}
    if isinstance(node, list):
        return [without_legends(item) for item in node]
    return node


def test_attention_page():
    at = open_page("pages/attention.py", **SMALL)
    assert at.title[0].value == "Attention: exact, approximate, window"
    # The row's weights, every head's error, how the blocks compute the row (twice: legends at the
    # right, and under the panels for a phone; the screen's width shows one).
    assert len(altair(at)) == 4
    wide, phone = (json.loads(chart.proto.spec) for chart in altair(at)[2:])
    assert without_legends(phone) == without_legends(wide)  # the same panels, data and encodings
    channels = [e for p in phone["vconcat"] for e in p["encoding"].values() if isinstance(e, dict)]
    legends = [channel["legend"] for channel in channels if channel.get("legend")]
    assert len(legends) == 2 and all(legend["orient"] == "bottom" for legend in legends)
    at.slider(key="att_scale").set_value(3.0).run()
    at.toggle(key="att_causal").set_value(False).run()
    at.selectbox(key="att_head").set_value(7).run()
    assert "Head 7 (m = 0.0078" in at.subheader[0].value
    at.button(key="att_check").click().run()
    assert "differs from the bars' dense mean-of-masks computation by at most" in at.success[0].value
    assert not at.exception and len(altair(at)) == 4


def test_attention_page_bad_url():
    at = open_page("pages/attention.py", n="48", R="4", heads="40")
    assert "this page uses H = 16" in texts(at.warning)
    assert len(altair(at)) == 4


def test_scaling_page(monkeypatch, tmp_path):
    from alibi_lsh.classroom import bench_gate

    # A lock of its own: a benchmark run elsewhere on this machine must not make this one "busy".
    monkeypatch.setenv(bench_gate.LOCK_DIR_ENV, str(tmp_path))
    at = open_page("pages/scaling.py", **SMALL)
    assert at.title[0].value == "Scaling with the context length"
    try:
        import alibi_lsh.bench  # noqa: F401
    except ImportError:
        assert "alibi_lsh.bench is not available" in at.error[0].value
        return
    assert "Press **Run**" in texts(at.info)
    # The page opens with the stored results, drawn at once, and says where they come from; each
    # chart comes twice, one shown by the screen's width: side by side, and stacked for a phone.
    assert len(altair(at)) == 2 and "Stored results (cpu): measured on" in texts(at.caption)
    stored, phone = (json.loads(chart.proto.spec) for chart in altair(at))
    assert stored["hconcat"][0]["title"] == "time" and stored["hconcat"][1]["title"] == "error against exact (float64)"
    assert [row["hconcat"][0]["title"] for row in phone["vconcat"]] == ["time", "error against exact (float64)"]
    at.multiselect(key="scale_cases_cpu").set_value(["dense"]).run()
    at.multiselect(key="scale_cases_cpu").set_value([]).run()
    assert "Pick at least one method to draw." in texts(at.info) and not altair(at)
    at.multiselect(key="scale_cases_cpu").set_value(["dense", "lsh binning R=16"]).run()
    at.select_slider(key="scale_cap_cpu").set_value(512).run()
    at.multiselect(key="scale_methods").set_value(["dense", "lsh"]).run()
    at.multiselect(key="scale_samples").set_value([4]).run()
    at.select_slider(key="scale_repeat").set_value(1).run()
    at.button(key="scale_run").click().run()
    assert not at.exception, at.exception
    assert len(altair(at)) == 4 and len(at.dataframe) == 2  # the stored results and this run, each twice


def test_scaling_run_is_capped_and_one_at_a_time_for_students(monkeypatch, tmp_path):
    from alibi_lsh.classroom import bench_gate

    pytest.importorskip("alibi_lsh.bench")
    monkeypatch.delenv(bench_gate.INSTRUCTOR_ENV, raising=False)
    monkeypatch.setenv(bench_gate.LOCK_DIR_ENV, str(tmp_path))
    at = open_page("pages/scaling.py", heads="64", **SMALL)
    assert at.select_slider(key="scale_cap_cpu").options[-1] == "4096"  # students: n up to 4096
    assert "ALIBI_LSH_INSTRUCTOR=1" in texts(at.caption)
    at.select_slider(key="scale_cap_cpu").set_value("4096").run()
    at.button(key="scale_run").click().run()  # 64 heads x 4096^2 float32 = 4 GiB of dense bias
    assert "Not run: the dense bias at n=4096 with H=64 heads takes 4.00 GiB, above the cap 1 GiB" in at.error[0].value
    at.select_slider(key="scale_cap_cpu").set_value("512").run()
    with bench_gate.exclusive_run():  # another visitor's measurement is running
        at.run()
        assert "Busy: another visitor's measurement is running" in texts(at.info)
        at.button(key="scale_run").click().run()
        assert "Busy: another visitor's measurement is running on this server" in texts(at.warning)
        assert len(altair(at)) == 2 and not at.exception  # the stored results stay (wide and for a phone)


def test_scaling_in_instructor_mode_has_no_caps(monkeypatch):
    from alibi_lsh.classroom import bench_gate

    pytest.importorskip("alibi_lsh.bench")
    monkeypatch.setenv(bench_gate.INSTRUCTOR_ENV, "1")
    at = open_page("pages/scaling.py", **SMALL)
    assert at.select_slider(key="scale_cap_cpu").options[-1] == "16384"
    assert "ALIBI_LSH_INSTRUCTOR" not in texts(at.caption)


def test_theory_page():
    at = open_page("pages/theory.py", **SMALL)
    assert at.title[0].value == "Theory, with live checks"
    assert len(at.latex) >= 5 and len(altair(at)) == 2 and len(at.dataframe) == 2
    at.slider(key="theory_power").set_value(2.0).run()
    assert not at.exception and len(altair(at)) == 2
    assert len(at.expander) == 1 and "def width_pmf" in at.expander[0].code[0].value


def test_theory_page_bad_url():
    at = open_page("pages/theory.py", n="100000", R="4")
    assert "using n=1024" in texts(at.warning) and not at.error


def test_two_sessions_do_not_share_controls():
    first, second = open_page(**SMALL), open_page(**SMALL)
    first.slider(key="w_n").set_value(24).run()
    second.run()
    assert live_figures(first)[0]["n"] == 24 and "n = 24," in texts(first.caption)
    assert live_figures(second)[0]["n"] == 48 and "n = 48," in texts(second.caption)


def test_a_phone_gets_one_head_at_a_time_in_the_per_head_grid():
    """When the live figure reports a phone's layout, the per-head grid draws one head (kernel and
    mean) chosen in a menu instead of all 2H panels in one column; the bars still cover every head."""
    at = open_page("pages/convergence.py", **SMALL)
    heads = int(at.query_params["heads"][0] if isinstance(at.query_params["heads"], list) else at.query_params["heads"])
    assert [panel_count(p) for p in plotly(at)] == [2 * heads]  # a wide screen: every head
    at.session_state["convergence_live"] = {"layout": "single"}  # what the browser reports on a phone
    at.run()
    assert not at.exception and [panel_count(p) for p in plotly(at)] == [2]
    head = at.selectbox(key="conv_head_shown")
    titles = [a["text"] for a in json.loads(plotly(at)[0].proto.spec)["layout"]["annotations"]]
    assert all(f"head {head.value}" in t for t in titles if t.startswith("head")), titles
    head.set_value(2).run()
    titles = [a["text"] for a in json.loads(plotly(at)[0].proto.spec)["layout"]["annotations"]]
    assert any(t.startswith("head 2, m=1/4") for t in titles), titles
    assert len(altair(at)) >= 1  # the per-head error bars, every head


def test_a_phone_gets_one_mask_at_a_time_in_the_masks_grid():
    """When the live figure reports a phone's layout, the Masks grid draws one mask, chosen in a
    menu, instead of all of them in one long column; the table of draws still lists every mask."""
    at = open_page("pages/masks.py", **SMALL)
    assert [panel_count(p) for p in plotly(at)] == [8] and not [s for s in at.selectbox if s.key == "masks_shown"]
    at.session_state["masks_live"] = {"layout": "single"}  # what the browser reports on a phone
    at.run()
    assert not at.exception and [panel_count(p) for p in plotly(at)] == [1]
    assert len(at.dataframe[0].value) == 8
    shown = at.selectbox(key="masks_shown")
    assert shown.value == 1 and shown.label == "Mask shown (of 8)"
    shown.set_value(5).run()
    spec = json.loads(plotly(at)[0].proto.spec)
    # The fifth mask as on a wide screen: its title (the draw W, s) and its squares (the blocks).
    at.session_state["masks_live"] = {"layout": "wide"}
    at.run()
    wide = json.loads(plotly(at)[0].proto.spec)
    title = spec["layout"]["annotations"][0]["text"]
    assert title.startswith("5: W=") and title == wide["layout"]["annotations"][4]["text"]
    assert wide["data"][4]["x"] == spec["data"][0]["x"] and wide["data"][4]["y"] == spec["data"][0]["y"]
    at.session_state["masks_live"] = {"layout": "single"}
    at.select_slider(key="masks_count").set_value(4).run()  # fewer masks than the one shown: the last
    assert not at.exception and at.selectbox(key="masks_shown").value == 4


# --- lecture mode and the toolbar -------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "controls"),
    [
        # Overview and Convergence: R and the head are the live figure's own controls (one of each on screen).
        (None, ["p_n"]),
        ("pages/convergence.py", ["p_n"]),
        ("pages/theory.py", ["p_samples", "p_head"]),
        ("pages/masks.py", ["p_scheme"]),
        ("pages/attention.py", ["p_samples"]),
    ],
)
def test_lecture_mode_puts_the_page_controls_at_hand(page, controls):
    at = open_page(page, lecture="1", **SMALL)
    on_page = [w.key for kind in ("select_slider", "selectbox") for w in at.main.get(kind) if w.key.startswith("p_")]
    assert sorted(on_page) == sorted(controls)
    labels = [e.label for e in at.expander]
    assert labels[0] == "About this page" and "Show the code" not in labels  # the explanation is folded
    assert not [w for w in at.sidebar.get("selectbox") if w.key == "w_scheme"]  # secondary sidebar controls hidden


def test_lecture_mode_folds_the_overview_formulas_beside_the_controls():
    """On a projector the claim's formulas are folded with the explanation, in the row of the controls."""
    at = open_page(lecture="1", **SMALL)
    assert len(at.expander[0].latex) == 2 and len(at.latex) == 2
    assert not at.main.subheader or "Live in your browser" not in texts(at.main.subheader)


@pytest.mark.parametrize("page", [None, "pages/masks.py", "pages/lecture.py"])
def test_lecture_mode_shows_its_own_way_out(page):
    """In lecture mode the switch is on the page (pinned in the top bar), not only in the folded
    sidebar; switching it off leaves lecture mode, on this page and in the URL."""
    at = open_page(page, lecture="1", **SMALL)
    switch = at.main.toggle(key="p_lecture")
    assert switch.value is True and switch.label == "Lecture mode"
    assert "at the top left" in texts(at.main.caption)  # where the pages and the other controls went
    switch.set_value(False).run()
    assert not at.exception
    assert at.query_params.get("lecture") in (None, "0", ["0"]), dict(at.query_params)
    assert at.toggle(key="w_lecture").value is False
    assert not [t for t in at.main.get("toggle") if t.key == "p_lecture"]  # the full layout has it in the sidebar
    assert at.selectbox(key="w_scheme").value == "binning"  # and every control back


def test_a_control_on_the_page_is_the_shared_control():
    at = open_page("pages/theory.py", lecture="1", **SMALL)
    at.select_slider(key="p_samples").set_value(16).run()
    assert at.slider(key="w_samples").value == 16 and at.query_params["R"] in ("16", ["16"])
    at.slider(key="w_samples").set_value(4).run()  # and the other way round
    assert at.select_slider(key="p_samples").value == 4
    # The live figure follows the shared R (the folded sidebar keeps R in lecture mode).
    at = open_page("pages/convergence.py", lecture="1", **SMALL)
    at.slider(key="w_samples").set_value(16).run()
    assert live_figures(at)[0]["samples"] == 16 and at.query_params["R"] in ("16", ["16"])


@pytest.mark.parametrize("page", [None, "pages/convergence.py"])
def test_a_drag_in_the_live_figure_sets_the_shared_controls(page):
    """R, the seed and the scheme dragged in the live figure (reported when let go) become the shared
    controls: the page's R, the sidebar's and the URL show them, and the figure and the exact numbers
    beside it are drawn from them; one value of R on screen, and a bookmark that reopens it."""
    at = open_page(page, lecture="1", n="64", R="16")
    report_from_browser(at, samples=200, seed="7", scheme="cuts")
    assert at.slider(key="w_samples").value == 200
    assert not [w for w in at.main.get("select_slider") if w.key == "p_samples"]  # the figure has the one R
    assert (at.query_params["R"], at.query_params["seed"], at.query_params["scheme"]) in (
        ("200", "7", "cuts"),
        (["200"], ["7"], ["cuts"]),
    )
    live = live_figures(at)[0]
    assert (live["samples"], live["seed"], live["scheme"], live["n"]) == (200, "7", "cuts", 64)
    assert "R = 200 cuts masks, seed 7," in texts(at.caption)
    # The numbers beside the figure are the library's for those masks.
    mean, _ = mask_running_mean(64, live["slope"], 200, "cuts", seed=7, head=live["head"], checkpoints=[200])
    kernel = alibi_kernel(64, [live["slope"]])[0]
    assert at.metric[2].value == f"{float(spectral_norm_error(mean, kernel)[0]):.4g}"
    # The bookmark reopens the same state in a fresh session.
    again = open_page(page, **{k: v[-1] if isinstance(v, list) else v for k, v in at.query_params.items()})
    assert live_figures(again)[0] | {"basis": None} == live | {"basis": None}
    # Moving the shared R afterwards wins again, and the same drag reported again is news.
    at.slider(key="w_samples").set_value(16).run()
    assert live_figures(at)[0]["samples"] == 16
    report_from_browser(at, samples=200, seed="7", scheme="cuts")
    assert at.slider(key="w_samples").value == 200


def test_a_head_or_a_slope_chosen_in_the_live_figure_is_the_shared_head_or_custom_slope():
    at = open_page(n="64", R="16", heads="8", head="4")
    report_from_browser(at, head=5, slope=float(alibi_slopes(8)[5]))  # the figure's head menu: head 6
    assert at.number_input(key="w_head").value == 6 and at.query_params["head"] in ("6", ["6"])
    assert live_figures(at)[0]["head"] == 5
    # A dragged slope is a custom slope (head index 0, as the app draws one), kept as the URL writes it.
    dragged = 2**-4.015625  # a position of the figure's slope slider (steps of 2^(1/64))
    report_from_browser(at, head=0, slope=dragged)
    assert at.radio(key="w_slope_mode").value == "custom" and at.query_params["slope"] in ("0.0618268", ["0.0618268"])
    live = live_figures(at)[0]
    assert (live["slope"], live["head"]) == (0.0618268, 0) and abs(dragged - 0.0618268) < 1e-7
    # A seed above the sidebar's field (the figure's text field stops there too) is clamped, with a message.
    report_from_browser(at, seed=str(2**60))
    assert live_figures(at)[0]["seed"] == str(2**53 - 1) and "using seed=9007199254740991" in texts(at.warning)


def test_a_stale_report_of_the_live_figure_is_ignored():
    """A report made for settings the page has since left (the sidebar moved first) changes nothing."""
    at = open_page(n="64", R="16")
    element = next(e for e in at.get("bidi_component") if e.proto.component_name.endswith("live_masks"))
    stale_basis = json.loads(element.proto.json)["basis"]
    at.slider(key="w_n").set_value(32).run()
    report_from_browser(at, samples=100, basis=stale_basis)
    assert at.slider(key="w_samples").value == 16 and live_figures(at)[0]["samples"] == 16


def test_the_app_hides_the_developer_toolbar_whatever_its_config():
    import streamlit as st

    st.set_option("client.toolbarMode", "auto")  # as when started outside the repository (no config.toml)
    at = open_page(**SMALL)
    assert st.get_option("client.toolbarMode") == "viewer"
    assert at.title[0].value == "ALiBi is an average of random block masks" and len(altair(at)) == 1
