"""`python -m mtlib convert`: a checkpoint in the reference project's layout becomes an mtlib run
folder that computes what the reference model computed; a pickle that would run code is refused
without running."""

from __future__ import annotations

import argparse
import os
import random
import types

import numpy as np
import pytest
import torch

from mtlib.model.encoders import load_encoder
from mtlib.use.convert import convert
from mtlib.use.convert import main as convert_main
from mtlib.util.errors import CheckpointError

HIDDEN = 32  # the tiny random BERT
ENOSPC_FROM_TOKENIZERS = "No space left on device (os error 28)"  # tokenizers' Exception for a full disk


def reference_layout(encoder) -> dict[str, torch.Tensor]:
    """`encoder`'s weights under the names of minbert's BertModel (bert.py) and the reference's
    MultitaskBERT heads (linear_<task> ModuleLists, n_hidden_layers = 1), written out by hand."""
    hf = encoder.state_dict()
    ref = {
        "bert.word_embedding.weight": hf["embeddings.word_embeddings.weight"],
        "bert.pos_embedding.weight": hf["embeddings.position_embeddings.weight"],
        "bert.tk_type_embedding.weight": hf["embeddings.token_type_embeddings.weight"],
        "bert.embed_layer_norm.weight": hf["embeddings.LayerNorm.weight"],
        "bert.embed_layer_norm.bias": hf["embeddings.LayerNorm.bias"],
        "bert.position_ids": torch.arange(512)[None],
        "bert.pooler_dense.weight": hf["pooler.dense.weight"],
        "bert.pooler_dense.bias": hf["pooler.dense.bias"],
    }
    for i in range(encoder.config.num_hidden_layers):
        theirs = {
            "self_attention.query": "attention.self.query",
            "self_attention.key": "attention.self.key",
            "self_attention.value": "attention.self.value",
            "attention_dense": "attention.output.dense",
            "attention_layer_norm": "attention.output.LayerNorm",
            "interm_dense": "intermediate.dense",
            "out_dense": "output.dense",
            "out_layer_norm": "output.LayerNorm",
        }
        for name, hf_name in theirs.items():
            for p in ("weight", "bias"):
                ref[f"bert.bert_layers.{i}.{name}.{p}"] = hf[f"encoder.layer.{i}.{hf_name}.{p}"]
    gen = torch.Generator().manual_seed(0)
    for head, outputs in (("sentiment", 5), ("paraphrase", 1), ("similarity", 1)):
        ref[f"linear_{head}.0.weight"] = torch.randn(HIDDEN, HIDDEN, generator=gen) / 4
        ref[f"linear_{head}.0.bias"] = torch.randn(HIDDEN, generator=gen) / 4
        ref[f"linear_{head}.1.weight"] = torch.randn(outputs, HIDDEN, generator=gen) / 4
        ref[f"linear_{head}.1.bias"] = torch.randn(outputs, generator=gen) / 4
    return ref


def save_reference(path, state) -> None:
    """As the reference's save_model: the state dict with its optimizer, args, config and RNG states."""
    args = argparse.Namespace(option="finetune", use_amp=True, hidden_dropout_prob=0.2, n_hidden_layers=1, lr=1e-5)
    config = types.SimpleNamespace(hidden_dropout_prob=0.2, option="finetune", n_hidden_layers=1, hidden_size=768)
    saved = {
        "model": state,
        "optim": {"state": {}, "param_groups": [{"lr": 1e-5, "params": [0, 1]}]},
        "args": args,
        "model_config": config,
        "system_rng": random.getstate(),
        "numpy_rng": np.random.get_state(),
        "torch_rng": torch.random.get_rng_state(),
    }
    torch.save(saved, path)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("convert")
    encoder = load_encoder("tiny-random", seed=3).eval()
    state = reference_layout(encoder)
    save_reference(folder / "model.pt", state)
    assert convert_main([str(folder / "model.pt"), str(folder / "out"), "--tokenizer", "minilm-l6", "--num_attention_heads", "2"]) == 0
    return folder, encoder, state


def test_the_weights_land_where_mtlib_reads_them(converted):
    from mtlib.run.pipeline import load_model

    folder, encoder, state = converted
    model, tokenizer = load_model(folder / "out")
    spec = model.spec
    assert (spec.pooling, spec.head_activation, spec.n_hidden_layers, spec.pair_encoding) == ("pooler", "relu", 1, "cross")
    assert spec.tasks == ["sst", "para", "sts"] and spec.hidden_dropout_prob == 0.2 and not spec.use_pal
    ours = model.encoder.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in encoder.state_dict().items())
    assert torch.equal(model.heads["sst"][1].weight, state["linear_sentiment.0.weight"])
    assert torch.equal(model.heads["sts"][4].bias, state["linear_similarity.1.bias"])
    # the reference's forward: pooler output -> (dropout) linear -> ReLU -> (dropout) linear
    batch = tokenizer(["a gripping , funny film", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        pooled = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).pooler_output
        hidden = torch.relu(pooled @ state["linear_sentiment.0.weight"].T + state["linear_sentiment.0.bias"])
        expected = hidden @ state["linear_sentiment.1.weight"].T + state["linear_sentiment.1.bias"]
        ours = model("sst", batch["input_ids"], batch["attention_mask"], torch.zeros_like(batch["input_ids"]))
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_the_readme_test_command_runs_on_the_converted_folder(converted, tmp_path, real_data_dir):
    """README lines 82-85, `--option test -n_hidden_layers 1 --pretrained_model_name ...`, on the CPU."""
    import json

    import yaml

    from mtlib.__main__ import main

    folder, _, _ = converted
    argv = ["--option", "test", "-n_hidden_layers", "1", "--pretrained_model_name", str(folder / "out"), "--save_path", str(tmp_path / "t")]
    assert main([*argv, "--device", "cpu", "--data_dir", str(real_data_dir), "--max_eval_examples", "8", "--no-progress"]) == 0
    recorded = yaml.safe_load((tmp_path / "t" / "config.yaml").read_text())
    assert recorded["data"]["max_length"] == 512 and recorded["model"]["pooling"] == "pooler"
    assert set(json.loads((tmp_path / "t" / "results.json").read_text())["dev"]) == {"sst", "para", "sts"}


def test_a_pt_file_given_to_mtlib_points_to_the_converter(converted, capsys):
    from mtlib.__main__ import main

    folder, _, _ = converted
    assert main(["--option", "test", "--pretrained_model_name", str(folder / "model.pt")]) == 2
    assert "python -m mtlib convert FILE.pt OUT/" in capsys.readouterr().err


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {_Boom.marker}",))


def test_a_pickle_that_runs_code_is_refused_without_running(tmp_path, capsys):
    marker = tmp_path / "pwned"
    _Boom.marker = marker
    torch.save({"model": {"bert.word_embedding.weight": torch.zeros(2, 2)}, "args": _Boom()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"refused by torch.load\(weights_only=True\).*system"):
        convert(tmp_path / "evil.pt", tmp_path / "out")
    assert convert_main([str(tmp_path / "evil.pt"), str(tmp_path / "out")]) == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_weights_without_an_mtlib_counterpart_are_refused_by_name(tmp_path):
    encoder = load_encoder("tiny-random")
    state = reference_layout(encoder)
    state["bert.bert_layers.0.task_attention.0.project_down.weight"] = torch.zeros(8, HIDDEN)
    save_reference(tmp_path / "pal.pt", state)
    with pytest.raises(CheckpointError, match="PAL blocks.*task_attention"):
        convert(tmp_path / "pal.pt", tmp_path / "out", tokenizer="minilm-l6")
    state = reference_layout(encoder)
    state["linear_paraphrase.1.weight"] = torch.zeros(1, 2 * HIDDEN)  # the baseline's head on [u; v]
    save_reference(tmp_path / "concat.pt", state)
    with pytest.raises(CheckpointError, match=r"head para layer 1 has shape \(1, 64\)"):
        convert(tmp_path / "concat.pt", tmp_path / "out", tokenizer="minilm-l6")


def _damaged(state, change):
    state = dict(state)
    change(state)
    return state


def _drop(prefix):
    return lambda s: [s.pop(k) for k in [k for k in s if k.startswith(prefix)]]


def _set(key, value):
    return lambda s: s.__setitem__(key, value)


DAMAGE = {  # what a damaged or foreign checkpoint does -> the one line convert answers
    "hidden size under 64, no --num_attention_heads": (None, ["--num_attention_heads", "0"], "cannot be split into 0 attention heads"),
    "--num_attention_heads 5": (None, ["--num_attention_heads", "5"], "cannot be split into 5 attention heads"),
    "--num_attention_heads -1": (None, ["--num_attention_heads", "-1"], "cannot be split into -1 attention heads"),
    "a head without its weight": (_drop("linear_sentiment.1.weight"), [], "head sst layer 1 has no weight"),
    "a head without its bias": (_drop("linear_similarity.0.bias"), [], "head sts layer 0 has no bias"),
    "a value that is not a tensor": (
        _set("bert.pooler_dense.bias", [0.0] * HIDDEN),
        [],
        "not named tensors: 'bert.pooler_dense.bias' (list)",
    ),
    "1-D word embeddings": (_set("bert.word_embedding.weight", torch.zeros(HIDDEN)), [], "word_embeddings table is of shape (32,)"),
    "no position embeddings": (_drop("bert.pos_embedding"), [], "position_embeddings table is missing"),
    "no layers": (_drop("bert.bert_layers."), [], "no transformer layers found"),
    "no intermediate layer": (_drop("bert.bert_layers.0.interm_dense.weight"), [], "layer 0 has no interm_dense.weight"),
    "a layer of another width": (_set("bert.bert_layers.1.out_dense.weight", torch.zeros(HIDDEN, 7)), [], "shapes differ"),
    "a layer missing a weight": (
        _drop("bert.bert_layers.1.self_attention.key.weight"),
        [],
        "missing ['encoder.encoder.layer.1.attention.self.key.weight']",
    ),
    "a layer norm of another size": (_set("bert.embed_layer_norm.bias", torch.zeros(HIDDEN + 1)), [], "shapes differ"),
    "a NaN weight": (
        _set("bert.bert_layers.0.interm_dense.weight", torch.full((4 * HIDDEN, HIDDEN), float("nan"))),
        [],
        "weight encoder.encoder.layer.0.intermediate.dense.weight holds NaN or infinite values",
    ),
    "one token type for pairs": (_set("bert.tk_type_embedding.weight", torch.zeros(1, HIDDEN)), [], "token type table has 1 row(s)"),
    "a vocabulary smaller than the tokenizer's": (
        lambda s: s.__setitem__("bert.word_embedding.weight", s["bert.word_embedding.weight"][:100]),
        [],
        "vocabulary has 100 rows, but tokenizer 'minilm-l6' has 30522 tokens",
    ),
}


@pytest.fixture(scope="module")
def reference_state():
    return reference_layout(load_encoder("tiny-random", seed=3))


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_or_foreign_checkpoint_is_one_line_and_nothing_is_written(case, reference_state, tmp_path, capsys):
    change, flags, said = DAMAGE[case]
    save_reference(tmp_path / "model.pt", _damaged(reference_state, change or (lambda s: None)))
    argv = [str(tmp_path / "model.pt"), str(tmp_path / "out"), "--tokenizer", "minilm-l6", "--num_attention_heads", "2", *flags]
    assert convert_main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and err.startswith("mtlib.convert: error:") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()  # checked before anything was built or written


def test_an_output_path_that_is_a_file_or_unwritable_is_one_line(reference_state, tmp_path, capsys):
    save_reference(tmp_path / "model.pt", reference_state)
    (tmp_path / "out.txt").write_text("keep me")
    base = [str(tmp_path / "model.pt"), "--tokenizer", "minilm-l6", "--num_attention_heads", "2"]
    assert convert_main([base[0], str(tmp_path / "out.txt"), *base[1:]]) == 2
    assert "out.txt is a file" in capsys.readouterr().err and (tmp_path / "out.txt").read_text() == "keep me"
    assert convert_main([base[0], "/sys/mtlib-convert-out", *base[1:]]) == 2  # not writable, even for root
    err = capsys.readouterr().err
    assert err.startswith("mtlib.convert: error: cannot write /sys/mtlib-convert-out") and err.count("\n") == 1


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_convert_writes_only_a_new_folder_or_with_overwrite_its_own_and_never_its_input(converted, tmp_path, capsys):
    """The one rule (docs/reliability.md): a finished workbook run, a CLI run folder and any
    other folder it did not make are refused with or without --overwrite, byte for byte kept;
    so are the folder holding its own input and a `.<out>.old` that is not its own; its own
    earlier output is replaced (whole) only with --overwrite."""
    import shutil

    folder, _, _ = converted
    source = str(folder / "model.pt")
    flags = ["--tokenizer", "minilm-l6", "--num_attention_heads", "2"]
    workbook = tmp_path / "runs" / "wb1"  # what a finished workbook run holds at its top
    for name, text in [(".mtlib-workbook", ""), ("config.yaml", "model: {}\n"), ("model.json", "{}"), ("results.json", "{}")]:
        (workbook / name).parent.mkdir(parents=True, exist_ok=True)
        (workbook / name).write_text(text)
    (workbook / "tokenizer").mkdir()
    (workbook / "tokenizer" / "vocab.txt").write_text("[PAD]\n")
    cli_run = tmp_path / "cli-run"
    cli_run.mkdir()
    (cli_run / ".mtlib-run").write_text("an mtlib run folder\n")
    (cli_run / "results.json").write_text("{}")
    own_input = tmp_path / "with-input"
    own_input.mkdir()
    shutil.copy(source, own_input / "model.pt")
    (own_input / ".mtlib-convert").write_text("")  # even marked: it holds the source
    kept = {f: _tree(f) for f in (workbook, cli_run, own_input)}
    for out, overwrite, said in [
        (workbook, [], "exists and is not a converted checkpoint (no .mtlib-convert), so nothing in it is deleted"),
        (workbook, ["--overwrite"], "--overwrite: not a converted checkpoint (no .mtlib-convert)"),
        (cli_run, ["--overwrite"], "--overwrite: not a converted checkpoint"),
        (own_input, ["--overwrite"], "holds what it reads"),
    ]:
        argv = [str(own_input / "model.pt") if out == own_input else source, str(out), *flags, *overwrite]
        assert convert_main(argv) == 2, (out, overwrite)
        err = capsys.readouterr().err
        assert err.startswith("mtlib.convert: error:") and said in err and err.count("\n") == 1, err
    assert {f: _tree(f) for f in kept} == kept
    earlier = tmp_path / "earlier"
    shutil.copytree(folder / "out", earlier)
    assert (earlier / ".mtlib-convert").is_file()  # convert marks what it writes
    assert convert_main([source, str(earlier), *flags]) == 2
    assert "pass --overwrite to replace it" in capsys.readouterr().err
    (earlier / "stray.txt").write_text("from before")
    stray_old = tmp_path / ".earlier.old"
    stray_old.mkdir()
    (stray_old / "notes.txt").write_text("mine")
    assert convert_main([source, str(earlier), *flags, "--overwrite"]) == 2
    assert "is in the way and is not a converted checkpoint" in capsys.readouterr().err and (stray_old / "notes.txt").is_file()
    shutil.rmtree(stray_old)
    assert convert_main([source, str(earlier), *flags, "--overwrite"]) == 0
    assert not (earlier / "stray.txt").exists() and _tree(earlier).keys() == _tree(folder / "out").keys()  # replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli-run", "earlier", "runs", "with-input"]  # no temporary folder left


def test_a_full_disk_while_convert_saves_the_tokenizer_is_one_line_exit_3_and_a_rerun_finishes(converted, tmp_path, monkeypatch, capsys):
    """tokenizers reports a full disk as a bare Exception holding the OS error's text."""
    from mtlib.model.encoders import load_tokenizer

    folder, _, _ = converted
    argv = [str(folder / "model.pt"), str(tmp_path / "out"), "--tokenizer", "minilm-l6", "--num_attention_heads", "2"]

    def disk_full(self, *args, **kwargs):
        raise Exception(ENOSPC_FROM_TOKENIZERS)  # what Tokenizer.save raised writing to /dev/full

    monkeypatch.setattr(type(load_tokenizer("minilm-l6")), "save_pretrained", disk_full)
    assert convert_main(argv) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"mtlib.convert: error: the disk is full: cannot write {tmp_path / 'out'}: No space left on device"), err
    assert err.count("\n") == 1 and "run the same command again" in err
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no temporary folder
    monkeypatch.undo()
    assert convert_main(argv) == 0 and _tree(tmp_path / "out").keys() == _tree(folder / "out").keys()
