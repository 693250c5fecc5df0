"""A few real training steps of the tiny random BERT on real task rows, for every stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mtlib.config.tasks import TASKS
from mtlib.run.pipeline import load_model, prepare, run
from mtlib.store.metrics_file import Dev, Train
from mtlib.store.metrics_file import read as read_metrics


def _train_losses(run_dir):
    rows = [r for r in read_metrics(run_dir) if isinstance(r, Train)]
    return rows


@pytest.mark.parametrize("option", ["finetune", "pretrain", "individual_pretrain"])
def test_each_option_lowers_the_training_loss(tiny_cfg, tmp_path, option):
    # 16 rows per task seen over and over: the loss must fall as the model fits them
    lr = 3e-3 if option == "finetune" else 2e-2  # heads alone on fixed features take a larger step
    cfg = tiny_cfg(option=option, max_train_examples=16, epochs=8, lr=lr, save_path=str(tmp_path / option), hidden_dropout_prob=0.0)
    results = run(cfg)
    rows = _train_losses(cfg.run.save_path)
    for task in TASKS:
        losses = [r.loss[task] for r in rows if task in r.loss]
        assert len(losses) >= 8, (task, len(losses))
        first, last = np.mean(losses[:3]), np.mean(losses[-3:])
        assert last < first, f"{option}/{task}: loss {first:.4f} -> {last:.4f} did not fall"
    assert set(results.dev) == set(TASKS)
    if option != "finetune":  # frozen encoder: the encoder weights must not move
        base, _ = load_model(cfg.run.save_path)
        fresh = prepare(tiny_cfg(save_path=str(tmp_path / "fresh"))).model
        for (name, a), (_, b) in zip(base.encoder.state_dict().items(), fresh.encoder.state_dict().items()):
            assert torch.equal(a, b), f"{option} changed encoder weight {name}"


def read_cs224n(path: str | Path) -> tuple[str, dict[str, float]]:
    """Parse a CS224N prediction file (the format the reference project graded): (header column, {id: value})."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = [h.strip() for h in lines[0].split("\t")]
    if header[0] != "id" or len(header) != 2:
        raise ValueError(f"{path}:1: header {lines[0]!r} is not 'id \\t Predicted_X'")
    values = {}
    for number, line in enumerate(lines[1:], start=2):
        parts = [p.strip() for p in line.rsplit(" , ", 1)]
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: row {line!r} is not 'id , value'")
        values[parts[0]] = float(parts[1])
    return header[1], values


def test_finetune_then_test_writes_six_prediction_files_and_round_trips(tiny_cfg, tmp_path):
    train_cfg = tiny_cfg(option="finetune", save_path=str(tmp_path / "train"))
    trained = run(train_cfg)
    test_cfg = tiny_cfg(option="test", pretrained_model_name=str(tmp_path / "train"), save_path=str(tmp_path / "test"))
    tested = run(test_cfg)
    # the checkpoint round trip gives identical dev predictions and scores
    for task in TASKS:
        assert tested.dev[task] == pytest.approx(trained.dev[task], abs=0)
        header, before = read_cs224n(tmp_path / "train" / "predictions" / f"{task}-dev-output.csv")
        _, after = read_cs224n(tmp_path / "test" / "predictions" / f"{task}-dev-output.csv")
        assert header == TASKS[task].prediction_header
        assert before == after and len(before) == 32
    files = sorted(p.name for p in (tmp_path / "test" / "predictions").glob("*-output.csv"))
    assert files == sorted(f"{t}-{s}-output.csv" for t in TASKS for s in ("dev", "test"))
    # the test-student files are predicted for every row (para test is absent from the mirror)
    _, sst_test = read_cs224n(tmp_path / "test" / "predictions" / "sst-test-output.csv")
    assert len(sst_test) == 32 and all(v in {0, 1, 2, 3, 4} for v in sst_test.values())
    _, sts_dev = read_cs224n(tmp_path / "test" / "predictions" / "sts-dev-output.csv")
    assert all(0.0 <= v <= 5.0 for v in sts_dev.values())


def test_predict_splits_choose_the_prediction_files(tiny_cfg, tmp_path):
    """A stage that predicts dev only (the workbook's stages), then a test stage that predicts
    the test split only (the workbook's `test` stage): no split is predicted twice."""
    trained = run(tiny_cfg(option="finetune", predict_splits="dev", save_path=str(tmp_path / "train")))
    assert sorted(p.name for p in (tmp_path / "train" / "predictions").glob("*-output.csv")) == sorted(f"{t}-dev-output.csv" for t in TASKS)
    assert set(trained.dev) == set(TASKS) and set(trained.predicted) == {f"{t}/dev" for t in TASKS}
    tested = run(
        tiny_cfg(option="test", predict_splits="test", pretrained_model_name=str(tmp_path / "train"), save_path=str(tmp_path / "test"))
    )
    assert sorted(p.name for p in (tmp_path / "test" / "predictions").glob("*-output.csv")) == sorted(f"{t}-test-output.csv" for t in TASKS)
    assert tested.dev == {} and tested.dev_mean is None and tested.predicted["sst/test"] == 32
    assert tested.checkpoint == str(tmp_path / "train" / "model.safetensors")


def test_run_folder_records_how_to_recreate_the_run(tiny_cfg, tmp_path):
    import json
    import shlex

    from mtlib.config.command_line import parse_args
    from mtlib.util import paths
    from mtlib.workbook.figures.error_plots import RECORDERS

    cfg = tiny_cfg(save_path=str(tmp_path / "r"), lr=2e-3, task_scheduler="random")
    run(cfg, RECORDERS)  # the workbook's figures, hung off the core's loop
    folder = tmp_path / "r"
    for name in ("config.yaml", "command.txt", "manifest.json", "metrics.jsonl", "model.safetensors", "model.json", "results.json"):
        assert (folder / name).is_file(), name
    command = (folder / "command.txt").read_text().strip()
    argv = shlex.split(command)[3:]
    again = parse_args(argv)
    # the run folder, outside the project, is recorded from itself (issue 25: no absolute path of it)
    assert again.run.save_path == "." and str(tmp_path) not in command
    # the data folder is recorded from the project root when under it (the command runs there)
    same = {"overwrite": True, "save_path": ".", "data_dir": str(paths.from_root(cfg.data.data_dir).resolve())}
    assert str(paths.from_root(again.data.data_dir).resolve()) == same["data_dir"]
    assert again.to_flat() | same == cfg.to_flat() | same
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["device"] == "cpu" and "torch" in manifest["versions"]
    assert any("md5 split" in n for n in manifest["data"]["notes"])
    files = manifest["data"]["files"]
    assert any(f.endswith("quora-dev.csv") and v["md5"] == "b7990635a450e3402919bdd80d719157" for f, v in files.items() if f != "splits")
    events = list((folder / "tb").glob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    for task in ("SST", "PARA", "STS"):
        assert f"Loss [{task}]" in tags["scalars"] and f"Dev accuracy [{task}]" in tags["scalars"]
        assert f"Specific Loss [{task}]" in tags["scalars"] and f"[EPOCH] Loss [{task}]" in tags["scalars"]
    assert "Dev accuracy mean" in tags["scalars"]
    assert {"Confusion Matrix [SST]", "Confusion Matrix [PARA]"} <= set(tags["images"])


def test_gradient_accumulation_matches_the_full_batch(tiny_cfg, tmp_path):
    """Micro-batches of *different* examples, weighted by their share, give the full-batch update."""
    common = dict(hidden_dropout_prob=0.0, encoder_dropout=0.0, epochs=1, num_batches_per_epoch=3)
    full = run(tiny_cfg(save_path=str(tmp_path / "full"), **common))
    split = run(tiny_cfg(save_path=str(tmp_path / "split"), **common, max_micro_batch={"sst": 3, "para": 4, "sts": 5}))
    a, _ = load_model(tmp_path / "full")
    b, _ = load_model(tmp_path / "split")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.allclose(x, y, atol=2e-5), name
    assert full.dev == pytest.approx(split.dev, abs=1e-3)


def test_bi_encoded_pairs_train_and_the_test_stage_reads_them_as_the_checkpoint_says(tiny_cfg, tmp_path):
    # the checkpoint records the pair encoding; the test stage follows it whatever its own setting
    trained = run(tiny_cfg(option="finetune", pair_encoding="sts=bi", save_path=str(tmp_path / "train")))
    model, _ = load_model(tmp_path / "train")
    assert model.spec.pair_encoding == "sts=bi" and model.bi_encoded("sts") and not model.bi_encoded("para")
    tested = run(tiny_cfg(option="test", pretrained_model_name=str(tmp_path / "train"), save_path=str(tmp_path / "test")))
    assert tested.dev == pytest.approx(trained.dev, abs=0)


def test_an_epoch_that_does_not_improve_still_prints_its_dev_line(tiny_cfg, tmp_path, monkeypatch, capsys):
    """Every epoch prints its dev scores; the best one is marked (the reference printed every epoch too)."""
    from mtlib.train import loop as train

    means = iter([0.5, 0.4])
    monkeypatch.setattr(train, "summary", lambda scores: next(means))
    run(tiny_cfg(epochs=2, num_batches_per_epoch=1, save_path=str(tmp_path / "r")))
    lines = [line for line in capsys.readouterr().out.splitlines() if ": dev " in line and "epoch" in line]
    assert len(lines) == 2, lines
    assert "epoch 1/2: dev" in lines[0] and "mean 0.500" in lines[0] and "* best, saved" in lines[0]
    assert "epoch 2/2: dev" in lines[1] and "mean 0.400" in lines[1] and "(best 0.500)" in lines[1] and "saved" not in lines[1]
    assert [r.best for r in read_metrics(tmp_path / "r") if isinstance(r, Dev)] == [True, False]
