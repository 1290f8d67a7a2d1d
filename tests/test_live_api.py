"""The Python side of the live masks component: argument checks, the data sent to the browser, the
handling of what the browser reports (client input: checked, never trusted), packaging, and a run
of the test page under Streamlit's AppTest (no browser: the component returns the settings asked)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from fnmatch import fnmatch
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alibi_lsh import alibi_kernel, alibi_slopes, mask_running_mean, max_norm_error
from alibi_lsh.app.live import component
from alibi_lsh.app.live.component import (
    basis_of,
    checked_view,
    compact_script,
    component_data,
    component_source,
    reported_view,
)

ROOT = Path(__file__).resolve().parent.parent
ASKED = checked_view(n=96, slope=0.1, samples=24, scheme="qmc", seed=2**53 + 1, head=5)


def report(**changes) -> dict:
    """A well-formed report of the browser for the settings ASKED, with ``changes``."""
    state = {"basis": basis_of(ASKED), "n": 96, "slope": 0.05, "samples": 30, "scheme": "cuts", "seed": str(2**63 - 1)}
    return state | {"head": 2, "max_norm_error": 0.21} | changes


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n": 1}, "n must be an integer >= 2 and <= 1024, got 1"),
        ({"n": 4096}, "n must be an integer >= 2 and <= 1024, got 4096"),
        ({"slope": -0.5}, "slope must be a finite number >= 0, got -0.5"),
        ({"slope": math.nan}, "slope must be a finite number >= 0"),
        ({"samples": 0}, "samples must be an integer >= 1 and <= 512, got 0"),
        ({"samples": 600}, "samples must be an integer >= 1 and <= 512, got 600"),
        ({"scheme": "grid"}, "scheme must be one of"),
        ({"seed": 2**63}, "seed must be an integer >= 0 and <= 9223372036854775807"),
        ({"head": -1}, "head must be an integer >= 0 and <= 4294967295, got -1"),
        ({"max_samples": 2048}, "max_samples must be an integer >= 1 and <= 1024, got 2048"),
    ],
)
def test_arguments_out_of_range_are_refused_by_name(arguments, message):
    settings = {"n": 64, "slope": 0.1, "samples": 8, "scheme": "binning", "seed": 0, "head": 0, "max_samples": 512}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        checked_view(**(settings | arguments))


def test_the_browser_gets_the_seed_as_a_string_and_the_library_slopes_of_the_head_menu():
    data = component_data(ASKED, heads=12, max_samples=512, lecture=False, error_range=0.25, reported=None)
    assert data["seed"] == str(2**53 + 1)  # a JavaScript number would round it to 2^53
    assert data["heads"] == [float(m) for m in alibi_slopes(12)]  # float32 values, carried exactly
    assert (data["n"], data["slope"], data["samples"], data["scheme"], data["head"]) == (96, 0.1, 24, "qmc", 5)
    assert "view" not in data and json.loads(data["basis"])["seed"] == str(2**53 + 1)
    with pytest.raises(ValueError, match="error_range must be a number in"):
        component_data(ASKED, heads=8, max_samples=512, lecture=False, error_range=1.5, reported=None)
    with pytest.raises(ValueError, match="heads must be an integer >= 1 and <= 64"):
        component_data(ASKED, heads=0, max_samples=512, lecture=False, error_range=0.25, reported=None)


def test_a_well_formed_report_for_the_settings_asked_is_returned():
    view = reported_view(report(), ASKED, max_samples=512)
    assert view == replace(checked_view(96, 0.05, 30, "cuts", 2**63 - 1, 2), max_norm_error=0.21, from_browser=True)
    assert view.mask_arguments() == {
        "n": 96,
        "slope": 0.05,
        "num_samples": 30,
        "scheme": "cuts",
        "seed": 2**63 - 1,
        "head": 2,
    }
    # A remounted component is told what it last reported, so it shows what the server believes.
    data = component_data(ASKED, heads=8, max_samples=512, lecture=False, error_range=0.25, reported=view)
    assert data["view"] == {"n": 96, "slope": 0.05, "samples": 30, "scheme": "cuts", "seed": str(2**63 - 1), "head": 2}


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "a string",
        report(basis=basis_of(replace(ASKED, n=128))),  # stale: made before a page control moved
        report(n=128),
        report(samples=513),  # above max_samples
        report(samples=2.5),
        report(slope=-1.0),
        report(slope=9.0),  # beyond the slider
        report(scheme="grid"),
        report(seed="-3"),
        report(seed="12abc"),
        report(head=2**32),
        report(max_norm_error=math.nan),
        report(max_norm_error=1.5),
        {key: value for key, value in report().items() if key != "max_norm_error"},
    ],
)
def test_a_stale_or_malformed_report_is_ignored(bad):
    assert reported_view(bad, ASKED, max_samples=512) is None


def test_the_assets_ship_as_package_data_and_form_one_module():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = package_data["alibi_lsh.app.live"]
    assets = [p.name for p in (ROOT / "alibi_lsh" / "app" / "live").iterdir() if p.suffix in {".js", ".css", ".html"}]
    assert sorted(assets) == [
        "blocks.js", "canvas.js", "estimator.js", "live_masks.css", "live_masks.html", "live_masks.js",
        "playground.css", "playground.html", "playground.js",
        "query_row.css", "query_row.html", "query_row.js",
    ]  # fmt: skip
    assert all(any(fnmatch(name, pattern) for pattern in patterns) for name in assets)
    source = component_source()
    assert source["js"].count("export default function") == 1 and "import " not in source["js"]  # no network
    assert 'class="alibi-live"' in source["html"] and "http" not in source["js"] + source["css"]


def test_compacted_script_keeps_every_line_of_code():
    source = "// a comment\n/**\n * docs\n */\nexport const a = 1; // kept\n\n  const b = `*/`;\n"
    assert compact_script(source) == "export const a = 1; // kept\nconst b = `*/`;"


def test_the_test_page_runs_under_apptest_with_the_settings_asked():
    """Without a browser nothing reports, so the page's numbers are those of the arguments."""
    at = AppTest.from_file(str(ROOT / "tests" / "live_masks_app.py"), default_timeout=60)
    at.query_params.update({"n": "48", "slope": "0.2", "R": "12", "scheme": "cuts", "seed": "7", "head": "3"})
    at.run()
    assert not at.exception
    shown = json.loads(at.code[0].value)
    assert shown | {"server_max_norm_error": None} == {
        "n": 48,
        "slope": 0.2,
        "samples": 12,
        "scheme": "cuts",
        "seed": "7",
        "head": 3,
        "max_norm_error": None,
        "from_browser": False,
        "layout": None,  # nothing measured the width either
        "server_max_norm_error": None,
    }
    means, _ = mask_running_mean(48, 0.2, 12, "cuts", seed=7, head=3, checkpoints=[12])
    assert shown["server_max_norm_error"] == float(max_norm_error(means[0], alibi_kernel(48, [0.2])[0]))


def test_the_component_is_registered_without_style_isolation(monkeypatch):
    registered = {}

    def fake_component(name, **kwargs):
        registered.update(kwargs, name=name)
        return lambda **mount: None

    import streamlit as st

    monkeypatch.setattr(st.components.v2, "component", fake_component)
    component._mount.cache_clear()
    try:
        component._mount()
    finally:
        component._mount.cache_clear()
    assert registered["isolate_styles"] is False and registered["name"] == component.COMPONENT_NAME
    assert registered["js"] == component_source()["js"]
