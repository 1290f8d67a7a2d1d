"""Project-level promises: README's test command is what CI runs, and the public API is complete."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import alibi_lsh

ROOT = Path(__file__).resolve().parent.parent

PUBLIC_API = [
    "alibi_slopes", "alibi_bias", "alibi_kernel", "PositionalKernel", "make_sampler", "Partition",
    "sample_partitions", "sample_masks", "mask_running_mean", "max_norm_error", "spectral_norm_error",
    "relative_frobenius_error", "max_norm_bound", "spectral_norm_bound", "block_size_bound",
    "alibi_attention", "lsh_alibi_attention", "window_alibi_attention",
]


def readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    commands = [line for line in lines if "pytest" in line and not line.startswith("#")]
    assert len(commands) == 1, commands
    return commands[0].strip()


def test_ci_runs_exactly_the_readme_test_command():
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert readme_test_command() in ci_script.splitlines()


def test_public_api_is_exported_and_documented():
    for name in PUBLIC_API:
        obj = getattr(alibi_lsh, name)
        assert inspect.getdoc(obj), f"{name} has no docstring"
    for name in ("alibi_attention", "lsh_alibi_attention", "window_alibi_attention", "alibi_kernel"):
        assert "(B, H, n, d" in inspect.getdoc(getattr(alibi_lsh, name)) or "(H, n, n)" in inspect.getdoc(
            getattr(alibi_lsh, name)
        ), name


def test_each_public_name_has_one_import_path():
    # The package root is the one place that gathers the public API; no other package re-exports
    # a name defined outside itself (no shims, no chains of re-exports).
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(alibi_lsh.__path__, "alibi_lsh."):
        if not info.ispkg:
            continue
        try:
            package = importlib.import_module(info.name)
        except ImportError:  # an optional dependency (transformers) is missing
            continue
        for name, obj in vars(package).items():
            defined_in = getattr(obj, "__module__", None)
            if name.startswith("_") or inspect.ismodule(obj) or defined_in is None:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert defined_in.startswith(info.name + ".") or defined_in == info.name, (
                    f"{info.name} re-exports {name} from {defined_in}"
                )
