"""Gradient methods through mtlib's plumbing, on hand-set per-task gradients and a tiny model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mtlib.store.checkpoints import load_state, save_state
from mtlib.train.gradients import cosine_matrix, make_method, per_task_gradients, set_flat_grad


def hand_set(params, grads_by_task):
    """A backward() that writes hand-chosen shared gradients for each task."""

    def backward(task):
        vector = grads_by_task[task]
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = vector[offset : offset + n].view_as(p).clone()
            offset += n

    return backward


def combine(method_name, grads, **kw):
    params = [nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(1))]  # 3 shared numbers in two tensors
    tasks = list(grads)
    method = make_method(method_name, tasks, **kw)
    rows = per_task_gradients(tasks, hand_set(params, grads), params)
    set_flat_grad(params, method.aggregate(rows, tasks))
    return torch.cat([p.grad.reshape(-1) for p in params]), method, rows


def test_pcgrad_removes_exactly_the_conflicting_component():
    g1, g2 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-1.0, 1.0, 0.0])
    out, _, _ = combine("pcgrad", {"a": g1, "b": g2})
    g1p = g1 - (g1 @ g2) / (g2 @ g2) * g2
    g2p = g2 - (g2 @ g1) / (g1 @ g1) * g1
    assert torch.allclose(out, g1p + g2p)
    assert torch.allclose(g1p @ g2, torch.tensor(0.0)) and torch.allclose(g2p @ g1, torch.tensor(0.0))


def test_pcgrad_leaves_a_non_conflicting_pair_alone():
    g1, g2 = torch.tensor([1.0, 0.5, 0.0]), torch.tensor([0.2, 1.0, 3.0])
    out, _, _ = combine("pcgrad", {"a": g1, "b": g2})
    assert torch.allclose(out, g1 + g2)


def _cos(x, y):
    return float(x @ y / (x.norm() * y.norm()))


def test_gradvac_raises_a_pair_below_target_to_the_target():
    g1, g2 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])  # cosine 0
    method = make_method("vaccine", ["a", "b"], beta=0.01)
    method.target[0, 1] = 0.5  # a's target with b
    method.target[1, 0] = -1.0  # b's target is never above its cosine: b stays as it is
    params = [nn.Parameter(torch.zeros(3))]
    rows = per_task_gradients(["a", "b"], hand_set(params, {"a": g1, "b": g2}), params)
    out = method.aggregate(rows, ["a", "b"])
    g1_new = out - g2
    assert _cos(g1_new, g2) == pytest.approx(0.5, abs=1e-6)
    assert g1_new.norm() > g1.norm()  # moved towards b, not shrunk
    # the EMA moved towards the observed cosine (0): 0.99 * 0.5
    assert float(method.target[0, 1]) == pytest.approx(0.99 * 0.5)


def test_gradvac_leaves_a_pair_above_target_alone():
    g1, g2 = torch.tensor([1.0, 1.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])  # cosine 0.707 > target 0
    out, method, _ = combine("vaccine", {"a": g1, "b": g2}, beta=0.01)
    assert torch.allclose(out, g1 + g2)
    assert float(method.target[0, 1]) == pytest.approx(0.01 * math.cos(math.pi / 4))


def test_gradvac_state_is_keyed_by_task_and_survives_a_checkpoint(tmp_path):
    method = make_method("vaccine", ["sst", "para", "sts"], beta=0.5)
    params = [nn.Parameter(torch.zeros(3))]
    grads = {"sst": torch.tensor([1.0, 0, 0]), "sts": torch.tensor([1.0, 1, 0])}
    rows = per_task_gradients(list(grads), hand_set(params, grads), params)
    method.aggregate(rows, list(grads))  # para absent from this update
    assert float(method.target[0, 2]) == pytest.approx(0.5 * math.cos(math.pi / 4))
    assert float(method.target[0, 1]) == 0.0  # pairs with the absent task untouched
    save_state(tmp_path / "state", {"method": method.state_dict()})
    restored = make_method("vaccine", ["sst", "para", "sts"], beta=0.5)
    restored.load_state_dict(load_state(tmp_path / "state")["method"])
    assert torch.equal(restored.target, method.target)


def test_mgda_min_norm_point_on_a_hand_made_case():
    # min over λ of |λ g1 + (1-λ) g2|² with g1=(2,0), g2=(0,1): λ = 1/5 -> (0.4, 0.8)
    out, _, _ = combine("mgda", {"a": torch.tensor([2.0, 0.0, 0.0]), "b": torch.tensor([0.0, 1.0, 0.0])})
    assert torch.allclose(out, torch.tensor([0.4, 0.8, 0.0]), atol=1e-3)


def test_upgrad_keeps_orthogonal_gradients_and_fixes_a_conflict():
    out, _, _ = combine("upgrad", {"a": torch.tensor([1.0, 0.0, 0.0]), "b": torch.tensor([0.0, 1.0, 0.0])})
    assert torch.allclose(out, torch.tensor([0.5, 0.5, 0.0]), atol=1e-4)  # the mean: nothing to project
    g1, g2 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-1.0, 1.0, 0.0])
    out, _, _ = combine("upgrad", {"a": g1, "b": g2})
    assert float(out @ g1) >= -1e-6 and float(out @ g2) >= -1e-6  # no task's loss goes up


def test_cosine_matrix():
    rows = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    assert torch.allclose(cosine_matrix(rows), torch.tensor([[1.0, 0, -1], [0, 1, 0], [-1, 0, 1]]))


def test_heads_and_pal_keep_their_own_task_gradient(tiny_cfg):
    """Through per_task_gradients on the real tiny model: each head's and PAL block's gradient is
    exactly the gradient of its own task's loss, while shared rows hold each task's own."""
    from mtlib.config.tasks import TASKS
    from mtlib.data.batching import collate
    from mtlib.model.task_outputs import task_loss
    from mtlib.run.pipeline import prepare

    p = prepare(tiny_cfg(use_pal=True, pal_size=8, pal_heads=2, encoder_dropout=0.0, hidden_dropout_prob=0.0))
    model = p.model
    with torch.no_grad():
        for block in model.pal.blocks.values():
            block.up.weight.normal_(0, 0.1)  # a fresh PAL adds zero; give it something to carry
    batches = {t: collate(p.data[t]["train"], list(range(8))) for t in TASKS}

    def loss_of(task):
        return task_loss(TASKS[task], model(task, **batches[task]), batches[task]["labels"])

    def backward(task):
        loss_of(task).backward()

    shared = model.shared_parameters()
    rows = per_task_gradients(list(TASKS), backward, shared)
    for i, task in enumerate(TASKS):
        own = model.task_parameters(task)
        expected = torch.autograd.grad(loss_of(task), own + shared)
        for param, grad in zip(own, expected[: len(own)]):
            assert torch.allclose(param.grad, grad, atol=1e-6)
        flat = torch.cat([g.reshape(-1) for g in expected[len(own) :]])
        assert torch.allclose(rows[i], flat, atol=1e-6)


@pytest.mark.parametrize("projection", ["pcgrad", "vaccine"])
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_projection_steps_under_amp_stay_finite(tiny_cfg, tmp_path, projection, amp):
    from mtlib.run.pipeline import run
    from mtlib.store.metrics_file import Conflict, Train
    from mtlib.store.metrics_file import read as read_metrics

    cfg = tiny_cfg(
        projection=projection,
        combine_strategy="force",
        batches_per_update=4,
        amp=amp,
        epochs=1,
        updates_per_epoch=4,
        save_path=str(tmp_path / "r"),
        conflict_every=2,
    )
    results = run(cfg)
    rows = read_metrics(tmp_path / "r")
    train = [r for r in rows if isinstance(r, Train)]
    assert len(train) == 4 and all(set(r.tasks) == {"sst", "para", "sts"} for r in train)
    assert all(math.isfinite(v) for r in train for v in r.loss.values())
    conflicts = [r for r in rows if isinstance(r, Conflict)]
    assert len(conflicts) == 2 and all(-1 <= v <= 1 for r in conflicts for v in r.cosine.values())
    assert all(math.isfinite(v) for v in results.dev.values())


def test_conflict_monitor_probes_when_an_update_holds_one_task(tiny_cfg, tmp_path):
    from mtlib.run.pipeline import run
    from mtlib.store.metrics_file import Conflict
    from mtlib.store.metrics_file import read as read_metrics

    run(tiny_cfg(task_scheduler="round_robin", num_batches_per_epoch=6, conflict_every=3, save_path=str(tmp_path / "r")))
    conflicts = [r for r in read_metrics(tmp_path / "r") if isinstance(r, Conflict)]
    assert [r.step for r in conflicts] == [1, 4]
    assert set(conflicts[0].cosine) == {"sst-para", "sst-sts", "para-sts"}
    assert all(-1 <= v <= 1 for r in conflicts for v in r.cosine.values())


def test_conflict_probes_leave_the_training_unchanged(tiny_cfg, tmp_path):
    """The probe runs forward passes with dropout; it must not shift training's random stream."""
    from mtlib.run.pipeline import run
    from mtlib.store.metrics_file import Conflict, Train
    from mtlib.store.metrics_file import read as read_metrics

    losses = {}
    for every in (0, 2):
        folder = tmp_path / f"every{every}"
        run(
            tiny_cfg(
                task_scheduler="round_robin", num_batches_per_epoch=6, conflict_every=every, encoder_dropout=0.3, save_path=str(folder)
            )
        )
        rows = read_metrics(folder)
        assert sum(isinstance(r, Conflict) for r in rows) == (3 if every else 0)
        losses[every] = [r.loss for r in rows if isinstance(r, Train)]
    assert len(losses[0]) == 6 and losses[2] == losses[0]
