"""`--compile`: padded widths, the resolved mode, the accumulation-safe CUDA-graph path driven on the
CPU, and compiled training that matches eager training (inductor on this machine's CPU, with its gcc)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mtlib.data.batching import Encoded, collate
from mtlib.data.task_files import Examples
from mtlib.model.amp import Precision
from mtlib.model.compiling import PAD_MULTIPLE, pad_multiple, resolve_compile


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


def test_auto_compiles_nothing_on_cuda_until_cuda_graphs_have_trained_on_a_gpu():
    from mtlib.model.cpu_kind import auto_choice

    assert resolve_compile("auto", torch.device("cpu")) == auto_choice().compile  # on a CPU: what its kind's records chose
    assert resolve_compile("auto", torch.device("cuda")) == "off"
    assert resolve_compile("reduce-overhead", torch.device("cuda")) == "reduce-overhead"
    assert pad_multiple("off") == 1 and pad_multiple("default") == PAD_MULTIPLE
    assert Precision.create("cpu", "off", "auto").compile == auto_choice().compile


def test_cuda_graphs_make_every_encoder_call_a_graph_step(tiny_cfg):
    from mtlib.model.compiling import compile_encoder, new_graph_step
    from mtlib.model.encoders import load_tokenizer
    from mtlib.run.loading import build_model

    for mode, step in (("reduce-overhead", new_graph_step), ("default", None), ("off", None)):
        model, _ = build_model(tiny_cfg(), load_tokenizer("tiny-random"))
        compile_encoder(model, mode)  # lazy: nothing compiles before the first call
        assert model.graph_step is step
    assert Precision.create("cpu", "off", "reduce-overhead").graph_safe and not Precision.create("cpu", "off", "default").graph_safe


def _accumulating_update(tiny_cfg, graph_safe: bool, pool: bool) -> tuple[dict[str, torch.Tensor], int]:
    """One task's gradients over 2 batches of 6 rows in micro-batches of 2 (6 compiled calls
    and backwards accumulating into one update), through `mtlib.train.update.task_backward`.
    `pool`: a stand-in for the CUDA-graph pool, on the CPU: a gradient a backward created is
    graph memory unless `Precision.backward` has copied it out (owned), and the next graph step
    overwrites it (NaN), as a replay would. Returns the gradients and the steps."""
    from mtlib.config.tasks import TASKS
    from mtlib.data import load_task, resolve_data_dir
    from mtlib.data.batching import encode
    from mtlib.model import compiling
    from mtlib.model.encoders import load_tokenizer
    from mtlib.run.loading import build_model
    from mtlib.train.update import UpdateContext, task_backward

    cfg = tiny_cfg(encoder_dropout=0.0, head_dropout=0.0, max_batch_size_sst=2)
    tokenizer = load_tokenizer("tiny-random")
    model, _ = build_model(cfg, tokenizer)
    rows, _ = load_task(TASKS["sst"], resolve_data_dir(cfg.data.data_dir), ("dev",))
    data = {"sst": {"train": encode(rows["dev"].subset(range(12)), tokenizer, 32, "cross")}}
    precision = Precision(
        torch.device("cpu"), "off", torch.amp.GradScaler("cpu", enabled=False), "reduce-overhead" if graph_safe else "off"
    )
    steps = []

    def graph_step() -> None:  # a replay overwrites the graph memory of the last step: every gradient not owned
        steps.append(1)
        for p in model.parameters():
            if p.grad is not None and not getattr(p.grad, compiling.OWNED, False):
                p.grad.fill_(float("nan"))

    if pool:
        model.graph_step = graph_step
    bench = UpdateContext(cfg, model, precision, data, tokenizer.pad_token_id)
    task_backward(bench, "sst", [np.arange(6), np.arange(6, 12)], 2)
    graph_step() if pool else None  # the next update's first call
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, len(steps)


def test_accumulated_gradients_survive_a_graph_pool_that_each_step_overwrites(tiny_cfg):
    """The CPU run of the CUDA-graph path (mtlib.model.compiling): a step before every encoder
    call and each new gradient copied out of graph memory give the eager gradients (to float rounding),
    where leaving the gradients in graph memory (as before) loses them."""
    eager, _ = _accumulating_update(tiny_cfg, graph_safe=False, pool=False)
    safe, steps = _accumulating_update(tiny_cfg, graph_safe=True, pool=True)
    unsafe, _ = _accumulating_update(tiny_cfg, graph_safe=False, pool=True)
    assert steps == 6 + 1  # one step per micro-batch's encoder call, and the next update's
    assert eager.keys() == safe.keys() and any("encoder" in n for n in eager)
    for name in eager:
        torch.testing.assert_close(safe[name], eager[name], rtol=1e-5, atol=1e-7)  # the embedding's backward sums in any order
    assert any(torch.isnan(g).any() for g in unsafe.values())  # the H200's failure, reproduced


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
