"""The text the language model is trained and evaluated on, as bytes.

The corpus is a snapshot of Python's own standard-library sources (PSF License 2.0), stored in
``data/python-stdlib/`` as two plain-text files, ``train.txt`` and ``val.txt``. The held-out
split is by file, so no module appears on both sides. ``make_snapshot`` rebuilds both files
deterministically from an interpreter's ``lib/python3.X`` directory (see ``data/README.md``).

Tokenisation is byte-level: token id = byte value, vocabulary size 256, so no tokenizer files
are needed and any pasted text can be scored.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data" / "python-stdlib"

# Snapshot recipe: top-level modules sorted by name, sized between MIN and MAX bytes (skipping
# tiny stubs and the few very large modules so no single file dominates), until TOTAL bytes.
MIN_FILE_BYTES = 2_000
MAX_FILE_BYTES = 100_000
TOTAL_BYTES = 2_600_000
VAL_EVERY = 10  # every 10th selected file goes to the held-out split
SEPARATOR = "\n# ===== {name} =====\n"


def encode(text: str) -> torch.Tensor:
    """UTF-8 bytes of ``text`` as a (n,) int64 tensor of token ids in [0, 256)."""
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def decode(ids: torch.Tensor | list[int]) -> str:
    """Inverse of ``encode``; invalid UTF-8 (a cut multi-byte character) is replaced."""
    return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


def load_split(split: str, data_dir: Path = DATA_DIR) -> torch.Tensor:
    """The ``"train"`` or ``"val"`` split as a (n,) uint8 tensor of byte ids."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    path = Path(data_dir) / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(
            f"Text snapshot not found: {path}. Rebuild it with `python -m alibi_lsh.lm snapshot` (see data/README.md)."
        )
    return torch.from_numpy(np.fromfile(path, dtype=np.uint8).copy())


def select_files(stdlib_dir: Path) -> list[Path]:
    """The deterministic list of modules that make up the snapshot (recipe in the constants)."""
    chosen, total = [], 0
    for path in sorted(Path(stdlib_dir).glob("*.py")):
        if path.name.startswith("_sysconfigdata"):  # generated per build: machine paths, not source
            continue
        size = path.stat().st_size
        if not MIN_FILE_BYTES <= size <= MAX_FILE_BYTES:
            continue
        if total + size > TOTAL_BYTES:
            break
        chosen.append(path)
        total += size
    return chosen


def plan_snapshot(stdlib_dir: Path | None = None) -> dict[str, list[Path]]:
    """The source files of each split, ``{"train": [...], "val": [...]}``, before anything is written.

    Defaults to the running interpreter's standard library. Every VAL_EVERY-th selected file is
    held out, so fewer than VAL_EVERY files would leave the validation split empty: FileNotFoundError
    when there are none, ValueError when there are too few.
    """
    stdlib_dir = Path(stdlib_dir or sysconfig.get_paths()["stdlib"])
    files = select_files(stdlib_dir)
    if not files:
        raise FileNotFoundError(f"No Python sources found in {stdlib_dir}")
    if len(files) < VAL_EVERY:
        raise ValueError(
            f"{stdlib_dir} has {len(files)} Python sources of {MIN_FILE_BYTES}..{MAX_FILE_BYTES} bytes; a snapshot "
            f"needs at least {VAL_EVERY} (every {VAL_EVERY}th is held out), or its validation split would be empty"
        )
    splits: dict[str, list[Path]] = {"train": [], "val": []}
    for index, path in enumerate(files):
        splits["val" if index % VAL_EVERY == VAL_EVERY - 1 else "train"].append(path)
    return splits


def make_snapshot(stdlib_dir: Path | None = None, out_dir: Path = DATA_DIR) -> dict[str, list[str]]:
    """Write ``train.txt`` / ``val.txt`` from the standard-library sources in ``stdlib_dir``.

    Defaults to the running interpreter's standard library. Returns the file names per split.
    Raises as :func:`plan_snapshot` does, before writing anything; ``out_dir`` is created if
    missing, but not its parent.
    """
    plan = plan_snapshot(stdlib_dir)
    texts = {
        split: "".join(SEPARATOR.format(name=path.name) + path.read_text(encoding="utf-8") for path in paths)
        for split, paths in plan.items()
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(exist_ok=True)
    for split, text in texts.items():
        (out_dir / f"{split}.txt").write_text(text, encoding="utf-8")
    return {split: [path.name for path in paths] for split, paths in plan.items()}


def random_batch(
    data: torch.Tensor, batch_size: int, length: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random training windows: inputs x and next-byte targets y, both (batch_size, length) int64."""
    starts = torch.randint(len(data) - length - 1, (batch_size,), generator=generator)
    offsets = torch.arange(length + 1)
    windows = data[starts[:, None] + offsets].long()
    return windows[:, :-1], windows[:, 1:]


def eval_windows(data: torch.Tensor, length: int, num_windows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed held-out windows, evenly spaced over ``data``: x, y of shape (num_windows, length).

    Deterministic (no randomness), so every attention variant is scored on the same bytes and
    perplexity differences between variants are paired comparisons.
    """
    span = len(data) - length - 1
    if span < 0:
        raise ValueError(f"held-out text has {len(data)} bytes, fewer than length {length} + 1")
    starts = torch.linspace(0, span, num_windows).long()
    offsets = torch.arange(length + 1)
    windows = data[starts[:, None] + offsets].long()
    return windows[:, :-1], windows[:, 1:]


def sample_text(num_bytes: int = 320, data_dir: Path = DATA_DIR) -> str:
    """A readable excerpt of the held-out split (starting at a ``def``), for demos."""
    text = (Path(data_dir) / "val.txt").read_text(encoding="utf-8")
    start = text.find("\n    def ", len(text) // 3) + 1
    excerpt = text[start : start + num_bytes]
    return excerpt[: excerpt.rfind("\n") + 1] or excerpt
