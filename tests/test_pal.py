"""Projected Attention Layers: identity at start, gradients after a step, per-task isolation."""

from __future__ import annotations

import torch

from mtlib.config.tasks import TASKS
from mtlib.data.batching import collate
from mtlib.model.task_outputs import task_loss
from mtlib.run.pipeline import prepare


def _model(tiny_cfg, use_pal):
    p = prepare(tiny_cfg(use_pal=use_pal, pal_size=8, pal_heads=2, encoder_dropout=0.0, hidden_dropout_prob=0.0))
    return p, p.model


def test_fresh_pal_model_equals_the_plain_encoder(tiny_cfg):
    p, plain = _model(tiny_cfg, False)
    _, pal = _model(tiny_cfg, True)
    pal.eval(), plain.eval()
    assert pal.count_parameters()["pal"] > 0 and plain.count_parameters()["pal"] == 0
    for task in TASKS:
        batch = collate(p.data[task]["dev"], list(range(16)))
        assert torch.equal(plain(task, **batch), pal(task, **batch))


def test_pal_learns_and_tasks_stay_isolated(tiny_cfg):
    p, model = _model(tiny_cfg, True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = {t: [x.detach().clone() for x in model.pal.blocks[t].parameters()] for t in TASKS}

    def step(task):
        batch = collate(p.data[task]["train"], list(range(8)))
        optimizer.zero_grad(set_to_none=True)
        task_loss(TASKS[task], model(task, **batch), batch["labels"]).backward()
        optimizer.step()

    step("sts")  # up-projection starts at zero: it gets a gradient, the rest moves from step 2
    block = model.pal.blocks["sts"]
    assert block.up.weight.grad is not None and block.up.weight.grad.abs().sum() > 0
    step("sts")
    assert block.down.weight.grad.abs().sum() > 0 and block.attention[0].qkv.weight.grad.abs().sum() > 0
    for task in ("sst", "para"):  # untouched by sts-only steps
        for old, new in zip(before[task], model.pal.blocks[task].parameters()):
            assert torch.equal(old, new) and new.grad is None
    assert any(not torch.equal(o, n) for o, n in zip(before["sts"], block.parameters()))


def test_pal_checkpoint_without_pal_loads_with_fresh_blocks(tiny_cfg, tmp_path):
    from mtlib.run.pipeline import run

    run(tiny_cfg(save_path=str(tmp_path / "plain"), num_batches_per_epoch=1))
    results = run(
        tiny_cfg(
            save_path=str(tmp_path / "pal"),
            use_pal=True,
            pal_size=8,
            pal_heads=2,
            pretrained_model_name=str(tmp_path / "plain"),
            num_batches_per_epoch=1,
        )
    )
    assert any("newly initialised" in n and "pal." in n for n in results.notes)
