"""Charts of a benchmark frame (altair), exported to PNG/SVG offline with vl-convert.

Each function takes the frame of :func:`alibi_lsh.bench.run_benchmark` and returns an altair
chart; rows whose status is not "ok" are left out. Axes are logarithmic: time and error span
several decades.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

_TOOLTIP = ["label", "n", "time_ms", "rel_error", "peak_mem_mb", "gflops"]


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"].copy()


def _against_n(data: pd.DataFrame, column: str, title: str, axis_title: str) -> alt.Chart:
    """One line per method case of ``column`` against n, both axes logarithmic."""
    return (
        alt.Chart(data, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("n:Q", scale=alt.Scale(type="log", base=2), title="context length n"),
            y=alt.Y(f"{column}:Q", scale=alt.Scale(type="log"), title=axis_title),
            color=alt.Color("label:N", title="method"),
            tooltip=_TOOLTIP,
        )
        .properties(width=420, height=300)
    )


def time_chart(df: pd.DataFrame) -> alt.Chart:
    """Median wall time (ms) against n, log-log, one line per method case."""
    return _against_n(_ok(df), "time_ms", "Wall time against context length", "median wall time (ms)")


def error_chart(df: pd.DataFrame) -> alt.Chart:
    """Relative output error ||O_hat - O|| / ||O|| against n, one line per approximate method."""
    data = _ok(df)
    data = data[data["rel_error"] > 0]  # exact rows have no error to draw on a log axis
    return _against_n(data, "rel_error", "Relative error against the float64 exact reference", "relative error")


def pareto_chart(df: pd.DataFrame, n: int) -> alt.Chart:
    """Error against time at one n: every method case is a point; lower-left wins."""
    data = _ok(df)
    data = data[data["n"] == n]
    # Points of one method share a colour and a scheme a shape, so R alone labels the lsh points.
    data["tag"] = [f"R={r}" if m == "lsh" else m for m, r in zip(data["method"], data["samples"])]
    base = alt.Chart(data, title=f"Error against time at n = {n} (lower left is better)").encode(
        x=alt.X("time_ms:Q", scale=alt.Scale(type="log"), title="median wall time (ms)"),
        y=alt.Y("rel_error:Q", scale=alt.Scale(type="log"), title="relative error"),
        tooltip=_TOOLTIP,
    )
    points = base.mark_point(size=80, filled=True).encode(
        color=alt.Color("method:N", title="method"),
        shape=alt.Shape("scheme:N", title="lsh scheme (blank: exact/window)"),
    )
    labels = base.mark_text(align="left", dx=6, dy=-4, fontSize=9).encode(text="tag:N")
    return (points + labels).properties(width=420, height=300)


def save_chart(chart: alt.Chart, path_stem: Path | str, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Write ``chart`` as path_stem.png / .svg (vl-convert, no browser); returns the paths."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        chart.save(str(path), format=fmt, **({"scale_factor": 1.0} if fmt == "png" else {}))
        paths.append(path)
    return paths


def save_all(df: pd.DataFrame, directory: Path | str, pareto_n: int | None = None) -> list[Path]:
    """time, error and (if its n was measured) pareto charts under ``directory``."""
    directory = Path(directory)
    paths = save_chart(time_chart(df), directory / "time") + save_chart(error_chart(df), directory / "error")
    ok_n = set(_ok(df)["n"])
    if pareto_n is None and ok_n:
        pareto_n = max(ok_n)
    if pareto_n in ok_n:
        paths += save_chart(pareto_chart(df, pareto_n), directory / f"pareto_n{pareto_n}")
    return paths
