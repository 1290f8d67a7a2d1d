"""Command lines write where the user says, or into the working directory: never over the shipped
weights, results or text snapshot unless those paths are named (``--out``, ``snapshot --force``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import torch

from alibi_lsh.lm import DEFAULT_WEIGHTS, ModelConfig, TrainConfig
from alibi_lsh.lm import __main__ as lm_cli
from alibi_lsh.lm.data import DATA_DIR
from alibi_lsh.lm.evaluate import RESULTS_DIR, EvalConfig
from alibi_lsh.lm.train import train

SHIPPED_DIRS = (RESULTS_DIR, DEFAULT_WEIGHTS.parent, DATA_DIR)


def shipped_files() -> dict[Path, tuple[str, int]]:
    """Every shipped output file with its content hash and modification time (ns)."""
    return {
        path: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for directory in SHIPPED_DIRS
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def in_tmp_cwd(tmp_path, monkeypatch):
    """Run in an empty working directory; restore torch's thread count, which the commands set."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    yield tmp_path
    torch.set_num_threads(threads)


@pytest.fixture
def shipped_backup():
    """The shipped files as they were; put back if a regression overwrites them during a test."""
    before = shipped_files()
    contents = {path: path.read_bytes() for path in before}
    yield before
    for path, data in contents.items():
        if path.read_bytes() != data:
            path.write_bytes(data)


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped weights not trained yet")
def test_lm_eval_quick_leaves_the_shipped_results_untouched(shipped_backup, in_tmp_cwd):
    assert any(path.parent == RESULTS_DIR for path in shipped_backup)
    assert lm_cli.main(["eval", "--quick"]) == 0
    assert shipped_files() == shipped_backup
    written = in_tmp_cwd / lm_cli.EVAL_OUT
    assert {p.name for p in written.iterdir()} >= {"perplexity.csv", "perplexity_runs.csv", "attention_error.csv",
                                                  "perplexity.png", "attention_error.png"}  # fmt: skip
    runs = pd.read_csv(written / "perplexity_runs.csv")
    assert set(runs.seed[runs.method == "lsh"]) == {0}  # the quick run's one seed, not the shipped three


def test_train_and_eval_default_to_the_working_directory(in_tmp_cwd):
    parser = lm_cli.build_parser()
    for argv in (["train"], ["eval"]):
        out = parser.parse_args(argv).out
        assert not out.is_absolute() and out.resolve().parent == in_tmp_cwd.resolve()


def test_train_saves_only_where_asked(shipped_backup, in_tmp_cwd):
    text = torch.randint(256, (4096,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    tiny = ModelConfig(context_length=16, n_layer=1, n_head=2, n_embd=16)
    cfg = TrainConfig(steps=2, batch_size=2, eval_every=2, eval_windows=2)
    train(tiny, cfg, train_data=text, val_data=text, progress=False)
    assert shipped_files() == shipped_backup and list(in_tmp_cwd.iterdir()) == []
    train(tiny, cfg, out=in_tmp_cwd / "w.safetensors", train_data=text, val_data=text, progress=False)
    assert (in_tmp_cwd / "w.safetensors").stat().st_size > 0


def test_library_configs_refuse_counts_that_would_drop_results():
    with pytest.raises(ValueError, match="TrainConfig.steps must be an integer >= 1"):
        train(ModelConfig(n_layer=1), TrainConfig(steps=0), out=None)
    with pytest.raises(ValueError, match="EvalConfig.seeds must not be empty"):
        EvalConfig(seeds=())
    with pytest.raises(ValueError, match="EvalConfig.tokens must be an integer >= 1"):
        EvalConfig(tokens=-7)


def test_snapshot_overwrites_only_with_force(in_tmp_cwd, capsys):
    out = in_tmp_cwd / "snapshot"
    assert lm_cli.main(["snapshot", "--out", str(out)]) == 0
    train_text = (out / "train.txt").read_bytes()
    assert len(train_text) > 100_000
    (out / "train.txt").write_bytes(b"edited")
    capsys.readouterr()
    assert lm_cli.main(["snapshot", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and (out / "train.txt").read_bytes() == b"edited"
    assert lm_cli.main(["snapshot", "--out", str(out), "--force"]) == 0
    assert (out / "train.txt").read_bytes() == train_text  # the recipe is deterministic


def test_snapshot_of_too_few_sources_writes_nothing(tmp_path):
    """3 sources: every 10th is held out, so the validation file would be empty; refused before
    any folder or file is made, from the command line and from the library alike."""
    from alibi_lsh.lm.data import make_snapshot

    sources = tmp_path / "sources"
    sources.mkdir()
    for index in range(3):
        (sources / f"module{index}.py").write_text("x = 1\n" * 1000, encoding="utf-8")
    out = tmp_path / "snapshot"
    assert lm_cli.main(["snapshot", "--stdlib", str(sources), "--out", str(out)]) == 2
    with pytest.raises(ValueError, match="validation split would be empty"):
        make_snapshot(sources, out)
    assert not out.exists()
    for index in range(3, 10):  # ten sources: one held out
        (sources / f"module{index}.py").write_text("y = 2\n" * 1000, encoding="utf-8")
    splits = make_snapshot(sources, out)
    assert (len(splits["train"]), len(splits["val"])) == (9, 1)
    assert (out / "val.txt").read_text(encoding="utf-8").startswith("\n# ===== module9.py =====\n")
    with pytest.raises(FileNotFoundError):  # only the last folder is created
        make_snapshot(sources, tmp_path / "missing" / "snapshot")


def readme_outputs() -> set[str]:
    """Top-level names that README's example commands write into the checkout: the values of
    --out and --charts in its bash blocks and the working-directory defaults it names (./NAME)."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    commands = "\n".join(re.findall(r"```bash\n(.*?)```", readme, flags=re.S))
    named = re.findall(r"--(?:out|charts) (\S+)", commands) + re.findall(r"into \./([\w.-]+)", commands)
    return {name.split("/")[0] for name in named}


def test_gitignore_covers_what_readme_commands_write():
    root = Path(__file__).resolve().parents[1]
    patterns = {line.strip().rstrip("/") for line in (root / ".gitignore").read_text().splitlines()}
    outputs = readme_outputs()
    assert {"results.csv", "charts", "gpu", "lm-results", "alibi-gpt-stdlib.safetensors"} <= outputs
    assert not [name for name in outputs if f"/{name}" not in patterns]
