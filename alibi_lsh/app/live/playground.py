"""The cost playground: keys per query, multiply-adds and error of exact ALiBi, a window and the blocks.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from .component import compact_script

ESTIMATOR_ASSETS = ("blocks.js", "estimator.js")


@cache
def estimator_source() -> str:
    """blocks.js and estimator.js as one ES module (comments left out)."""
    files = resources.files(__package__)
    return compact_script("\n".join(files.joinpath(name).read_text(encoding="utf-8") for name in ESTIMATOR_ASSETS))
