"""``python -m alibi_lsh.hf`` on local checkpoints of each architecture (saved from tiny random models)."""

from __future__ import annotations

import re

import pytest

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from alibi_lsh.hf import main  # noqa: E402

from .test_hf_adapter import bloom, falcon, mpt  # noqa: E402

TEXT = "the quick brown fox jumps over the lazy dog "
LOSS = re.compile(r"^\s*(?P<label>.+?): loss (?P<loss>[0-9.]+)", re.MULTILINE)


def save_checkpoint(model, directory) -> str:
    """The model and a character-level tokenizer (ids 0..26 < the models' vocabulary of 101)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    model.save_pretrained(directory)
    vocab = {chr(97 + i): i for i in range(26)} | {"<unk>": 26}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>").save_pretrained(directory)
    return str(directory)


def losses(out: str) -> dict[str, float]:
    """Label -> loss of every scored line (the first label is 'N tokens; original model')."""
    return {m["label"].split("; ")[-1]: float(m["loss"]) for m in LOSS.finditer(out)}


@pytest.mark.parametrize("arch", ["bloom", "mpt", "falcon"])
def test_cli_scores_a_local_checkpoint_and_exact_mode_matches_it(arch, tmp_path, capsys):
    model = {"bloom": bloom, "mpt": mpt, "falcon": lambda: falcon(multi_query=True)}[arch]()
    text = tmp_path / "t.txt"
    text.write_text(TEXT * 3)
    argv = ["--model", save_checkpoint(model, tmp_path / arch), "--text", str(text), "--samples", "1", "8"]
    assert main(argv) == 0
    scored = losses(capsys.readouterr().out)
    assert list(scored) == ["original model", "exact", "lsh-binning R=1", "lsh-binning R=8"]
    assert abs(scored["exact"] - scored["original model"]) < 1e-4


def test_cli_takes_a_big_seed_on_a_real_model(tmp_path, capsys):
    """20000000000000 is a valid seed: no per-layer seed is derived from it, so nothing overflows."""
    text = tmp_path / "t.txt"
    text.write_text(TEXT)
    argv = ["--model", save_checkpoint(bloom(), tmp_path / "bloom"), "--text", str(text), "--samples", "4"]
    assert main([*argv, "--seed", "20000000000000"]) == 0
    big = losses(capsys.readouterr().out)["lsh-binning R=4"]
    assert main([*argv, "--seed", "0"]) == 0
    assert losses(capsys.readouterr().out)["lsh-binning R=4"] != big  # the seed is really used


def test_cli_scores_mpt_past_its_max_seq_len_and_says_so(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(TEXT * 2)  # 88 characters
    argv = ["--model", save_checkpoint(mpt(max_seq_len=32), tmp_path / "mpt"), "--text", str(text), "--samples", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "note: MPT's max_seq_len raised from 32 to 88" in out
    scored = losses(out)
    assert abs(scored["exact"] - scored["original model"]) < 1e-4


def test_cli_reports_bad_model_paths_without_traceback(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("hello")
    assert main(["--model", str(tmp_path / "missing"), "--text", str(text)]) == 2
    assert "model path not found" in capsys.readouterr().err
    # A directory without a model config.
    assert main(["--model", str(tmp_path), "--text", str(text)]) == 2
    assert "no Hugging Face model config" in capsys.readouterr().err
    # A real checkpoint of a model without ALiBi.
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_embd=8, n_head=2))
    gpt2.save_pretrained(tmp_path / "gpt2")
    assert main(["--model", str(tmp_path / "gpt2"), "--text", str(text)]) == 2
    err = capsys.readouterr().err
    assert "not an ALiBi model" in err and "Traceback" not in err
