"""`--compile`: padded widths, the resolved mode, the CUDA-graph step marker, and compiled training
that matches eager training (inductor on this machine's CPU, with its gcc)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mtlib.data.batching import Encoded, collate
from mtlib.data.task_files import Examples
from mtlib.model.amp import Precision
from mtlib.model.compiling import PAD_MULTIPLE, _new_graph_step, pad_multiple, resolve_compile


def _encoded(lengths: list[int]) -> Encoded:
    rows = [[101] + [7] * (n - 2) + [102] for n in lengths]
    ex = Examples("sst", "train", "x.csv", [str(i) for i in range(len(rows))], [("s",)] * len(rows), np.zeros(len(rows), dtype=np.int64))
    return Encoded(ex, rows, [[0] * len(r) for r in rows], 0)


def test_widths_are_padded_to_multiples_of_16_only_when_compiled():
    enc = _encoded([5, 17])
    assert collate(enc, [0, 1])["input_ids"].shape == (2, 17)
    batch = collate(enc, [0, 1], multiple=PAD_MULTIPLE)
    assert batch["input_ids"].shape == (2, 32)
    assert batch["attention_mask"].sum(1).tolist() == [5, 17]  # padding is masked
    assert collate(enc, [0], multiple=PAD_MULTIPLE)["input_ids"].shape == (1, 16)
    eager = Precision(torch.device("cpu"), "off", torch.amp.GradScaler("cpu", enabled=False), "off")
    compiled = Precision(torch.device("cpu"), "off", torch.amp.GradScaler("cpu", enabled=False), "default")
    assert eager.batch(enc, [0, 1])["input_ids"].shape[1] == 17
    assert compiled.batch(enc, [0, 1])["input_ids"].shape[1] == 32


def test_auto_compiles_nothing_until_cuda_graphs_have_trained_on_a_gpu():
    assert resolve_compile("auto", torch.device("cpu")) == "off"
    assert resolve_compile("auto", torch.device("cuda")) == "off"
    assert resolve_compile("reduce-overhead", torch.device("cuda")) == "reduce-overhead"
    assert pad_multiple("off") == 1 and pad_multiple("default") == PAD_MULTIPLE
    assert Precision.create("cpu", "off", "auto").compile == "off"


def test_the_graph_step_marker_fires_only_without_gradients(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: calls.append(1))
    _new_graph_step(torch.nn.Identity(), ())
    assert calls == []  # training: CUDA-graph trees end a step when its backward has run
    with torch.no_grad():
        _new_graph_step(torch.nn.Identity(), ())
    assert calls == [1]


def _losses(run_dir) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r.get("kind") == "train"]


@pytest.mark.slow
def test_compiled_training_gives_the_losses_of_eager_training(tiny_cfg, tmp_path):
    """Projection (one backward per task), PAL, accumulation and bi-encoded pairs, compiled with
    inductor and eager, dropout off (compiled dropout draws other random numbers): every logged
    loss within 1e-3 relative, and the same dev scores to 3 decimals."""
    from mtlib.run.pipeline import run

    common = dict(
        projection="vaccine", combine_strategy="encourage", batches_per_update=4, use_pal=True, pal_size=16, pal_heads=2,
        pair_encoding="bi", max_batch_size_sst=4, epochs=1, num_batches_per_epoch=8, encoder_dropout=0.0,
        max_train_examples=24, max_eval_examples=16, threads=1,
    )  # fmt: skip
    dev = {}
    losses = {}
    for mode in ("off", "default"):
        cfg = tiny_cfg(save_path=str(tmp_path / mode), compile=mode, **common)
        cfg.update({"head_dropout": 0.0})
        result = run(cfg)
        dev[mode] = result["dev"] if isinstance(result, dict) else result.dev
        losses[mode] = _losses(tmp_path / mode)
    assert len(losses["off"]) == 2 and len(losses["default"]) == 2
    for eager, compiled in zip(losses["off"], losses["default"]):
        assert eager.keys() == compiled.keys()
        for task in eager:
            assert compiled[task] == pytest.approx(eager[task], rel=1e-3)
    assert {t: round(v, 3) for t, v in dev["off"].items()} == {t: round(v, 3) for t, v in dev["default"].items()}


def test_compiling_keeps_parameter_names_so_checkpoints_and_resume_are_unchanged(tiny_cfg):
    from mtlib.model.compiling import compile_encoder
    from mtlib.model.encoders import load_tokenizer
    from mtlib.run.loading import build_model

    model, _ = build_model(tiny_cfg(use_pal=True, pal_size=16, pal_heads=2), load_tokenizer("tiny-random"))
    before = list(model.state_dict())
    compile_encoder(model, "default")  # lazy: nothing compiles before the first call
    assert list(model.state_dict()) == before
    assert not any("_orig_mod" in name for name in before)
