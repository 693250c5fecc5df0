"""Bad input gives one clear message; runs survive kills; nothing is unpickled; runs repeat."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mtlib.__main__ import main
from mtlib.config.command_line import parse_args
from mtlib.config.config import Config
from mtlib.util.errors import CheckpointError, ConfigError

ROOT = Path(__file__).resolve().parent.parent


def cli_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task_scheduler", "nope"], "invalid choice: 'nope'"),
        (["--projection", "nope"], "invalid choice: 'nope'"),  # --help lists the projections
        (["--combine_strategy", "force"], "--combine_strategy force only applies with a gradient projection"),
        (
            ["--task_scheduler", "pal", "--projection", "vaccine"],
            "needs a combine strategy, else updates drawn from the scheduler miss tasks",
        ),
        (["--batch_size", "0"], "--batch_size must be at least 1"),
        (["--lr", "0"], "--lr must be in (0, 1]"),
        (["--lr=-1e-5"], "--lr must be in (0, 1]"),
        (["--patience=-1"], "--patience must be 0 (off) or more"),
        (
            ["--batch_size", "16", "--max_batch_size_sst", "32"],
            "--max_micro_batch sst=32 (--max_batch_size_sst) is larger than --batch_size (16)",
        ),
        (["--option", "test"], "--option test needs a checkpoint"),
        (["--tasks", "sst,foo"], "unknown task(s) ['foo']"),
        (["--lr", "fast"], "setting 'lr' expects float, got 'fast'"),
        (["--predict_splits", "dev,train"], "--predict_splits must be dev, test or dev,test (got 'dev,train')"),
    ],
)
def test_bad_config_values(capsys, argv, message):
    assert message in cli_error(capsys, argv)


def test_unknown_yaml_key_and_bad_yaml(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("lr: 1e-5\nepoch: 3\n")
    assert "unknown setting 'epoch'; did you mean epochs" in cli_error(capsys, ["--config", str(tmp_path / "a.yaml")])
    (tmp_path / "b.yaml").write_text("lr: [1,\n")
    assert "b.yaml:2:1: not valid YAML" in cli_error(capsys, ["--config", str(tmp_path / "b.yaml")])


def test_debug_shows_the_traceback():
    with pytest.raises(ConfigError):
        main(["--lr", "0", "--debug"])


def test_cli_yaml_and_papermill_feed_one_config(tmp_path):
    (tmp_path / "p.yaml").write_text("train:\n  lr: 1.0e-4\nepochs: 2\nuse_pal: true\nstages:\n  s2: {lr: 3.0e-5, task_scheduler: pal}\n")
    cfg = parse_args(["--config", str(tmp_path / "p.yaml"), "--stage", "s2", "--epochs", "4", "--no-use_pal"])
    assert (cfg.train.lr, cfg.train.epochs, cfg.model.use_pal, cfg.multitask.task_scheduler) == (3e-5, 4, False, "pal")
    same = Config.from_profile(str(tmp_path / "p.yaml"), "s2", epochs=4, use_pal="false", encoder="")
    assert same.to_flat() == cfg.to_flat()
    legacy = parse_args(["--use_gpu", "--use_amp"])
    assert (legacy.train.device, legacy.train.amp) == ("cuda", "auto_fp16")


def test_missing_and_empty_data_folder(tmp_path, capsys):
    err = cli_error(capsys, ["--encoder", "tiny-random", "--data_dir", str(tmp_path / "none"), "--save_path", str(tmp_path / "r")])
    assert "data folder" in err and "does not exist" in err and "make data" in err
    (tmp_path / "empty").mkdir()
    err = cli_error(capsys, ["--encoder", "tiny-random", "--data_dir", str(tmp_path / "empty"), "--save_path", str(tmp_path / "r2")])
    assert "is empty" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_for_without_cuda(capsys, tmp_path):
    err = cli_error(capsys, ["--device", "cuda", "--encoder", "tiny-random", "--save_path", str(tmp_path / "r")])
    assert "no CUDA device; use --device cpu" in err


def test_offline_hub_id_names_the_packaged_alias(tmp_path, real_data_dir):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # read by huggingface_hub at import: needs a fresh process
    argv = [
        sys.executable,
        "-m",
        "mtlib",
        "--encoder",
        "bert-base-uncased",
        "--data_dir",
        str(real_data_dir),
        "--save_path",
        str(tmp_path / "r"),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "could not load 'bert-base-uncased'" in done.stderr and "--encoder minilm-l6" in done.stderr


def test_existing_run_folder_is_not_overwritten(tiny_cfg, tmp_path):
    from mtlib.run.pipeline import run

    cfg = tiny_cfg(save_path=str(tmp_path / "r"), num_batches_per_epoch=1)
    run(cfg)
    cfg.run.overwrite = False
    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        run(cfg)


def test_checkpoint_that_does_not_fit(tiny_cfg, tmp_path):
    from mtlib.run.pipeline import run

    run(tiny_cfg(save_path=str(tmp_path / "base"), num_batches_per_epoch=1))
    with pytest.raises(CheckpointError, match="does not fit this model.*n_hidden_layers"):
        run(tiny_cfg(save_path=str(tmp_path / "r1"), pretrained_model_name=str(tmp_path / "base"), n_hidden_layers=1))
    with pytest.raises(CheckpointError, match="was trained from encoder 'tiny-random'"):
        run(tiny_cfg(save_path=str(tmp_path / "r2"), pretrained_model_name=str(tmp_path / "base"), encoder="minilm-l6"))
    run(tiny_cfg(save_path=str(tmp_path / "pal"), num_batches_per_epoch=1, use_pal=True, pal_size=8, pal_heads=2))
    with pytest.raises(CheckpointError, match="has PAL blocks: add --use_pal"):
        run(tiny_cfg(save_path=str(tmp_path / "r3"), pretrained_model_name=str(tmp_path / "pal")))


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {_Boom.marker}",))


def test_a_pickle_that_runs_code_is_refused_without_running(tmp_path):
    from mtlib.store.checkpoints import load_tensors, resolve_checkpoint

    marker = tmp_path / "pwned"
    _Boom.marker = marker
    for name in ("model.bin", "model.pt"):
        evil = tmp_path / name
        evil.write_bytes(pickle.dumps({"w": _Boom()}))
        with pytest.raises(CheckpointError, match="never pickles"):
            resolve_checkpoint(evil)
        with pytest.raises(CheckpointError, match="never pickles"):
            load_tensors(evil)
    # a pickle renamed to .safetensors is not a readable safetensors file either
    disguised = tmp_path / "model.safetensors"
    disguised.write_bytes(pickle.dumps({"w": _Boom()}))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_tensors(disguised)
    assert not marker.exists()
    source = "\n".join(p.read_text() for p in (ROOT / "mtlib").rglob("*.py"))
    assert "pickle.load" not in source and "eval(" not in source.replace("model.eval(", "").replace(".eval()", "")
    assert "torch.load(" not in source or "weights_only=True" in source


def test_prediction_writer_escapes_hostile_text(tmp_path):
    import numpy as np
    from test_training import read_cs224n

    from mtlib.train.evaluate import Predictions, read_detailed, write_predictions

    texts = [("tab\there", 'quote " and ""double""'), ("new\nline", "comma, , and \\ back")]
    pred = Predictions("para", "dev", ["a\tb", "c,d"], texts, np.array([1.0, 0.0]), np.array([0.9, 0.1]), np.array([1.0, 0.0]))
    path = write_predictions(tmp_path, pred)
    _, values = read_cs224n(path)
    assert list(values.values()) == [1.0, 0.0] and len(values) == 2
    table = read_detailed(tmp_path / "para-dev-detailed.tsv")
    assert list(table["sentence1"]) == ["tab\there", "new\nline"] and list(table["sentence2"]) == [t[1] for t in texts]
    assert list(table["id"]) == ["a\tb", "c,d"]


def test_non_finite_losses_are_skipped_then_stop_the_run(tiny_cfg, tmp_path, monkeypatch):
    from mtlib.config.tasks import TASKS
    from mtlib.run.pipeline import run
    from mtlib.store.metrics_file import Skipped
    from mtlib.store.metrics_file import read as read_metrics
    from mtlib.train import update
    from mtlib.util.errors import TrainingError

    real_loss = update.task_loss
    calls = {"n": 0}

    def flaky(spec, output, labels, **options):
        calls["n"] += 1
        value = real_loss(spec, output, labels, **options)
        return value * float("nan") if spec.name == "sts" else value

    monkeypatch.setattr(update, "task_loss", flaky)
    # sst and sts alternate: each bad sts step is skipped and counted, the good ones go on
    results = run(
        tiny_cfg(save_path=str(tmp_path / "a"), max_bad_steps=2, tasks="sst,sts", task_scheduler="round_robin", num_batches_per_epoch=6)
    )
    skipped = [r for r in read_metrics(tmp_path / "a") if isinstance(r, Skipped)]
    assert results.skipped_steps == 3 and [r.step for r in skipped] == [2, 4, 6]
    # sts alone: three bad steps in a row stop the run, naming the step and the task
    with pytest.raises(TrainingError, match=r"3 non-finite losses in a row, the last at step 3 on task\(s\) sts"):
        run(tiny_cfg(save_path=str(tmp_path / "b"), max_bad_steps=3, tasks="sts", num_batches_per_epoch=30))
    assert calls["n"] > 0 and TASKS["sts"].name == "sts"


def test_same_seed_same_metrics(tiny_cfg, tmp_path):
    from mtlib.run.pipeline import run

    a = run(tiny_cfg(save_path=str(tmp_path / "a"), task_scheduler="random", num_batches_per_epoch=6, epochs=2))
    b = run(tiny_cfg(save_path=str(tmp_path / "b"), task_scheduler="random", num_batches_per_epoch=6, epochs=2))
    assert a.dev == b.dev and a.history == b.history
    c = run(tiny_cfg(save_path=str(tmp_path / "c"), task_scheduler="random", num_batches_per_epoch=6, epochs=2, seed=1))
    assert c.dev != a.dev


# ---- kill and resume -------------------------------------------------------------------------
def _cli(run_dir, data_dir, *extra):
    return [
        sys.executable,
        "-m",
        "mtlib",
        "--encoder",
        "tiny-random",
        "--data_dir",
        str(data_dir),
        "--device",
        "cpu",
        "--max_length",
        "32",
        "--batch_size",
        "8",
        "--max_train_examples",
        "64",
        "--max_eval_examples",
        "32",
        "--epochs",
        "2",
        "--updates_per_epoch",
        "12",
        "--task_scheduler",
        "random",
        "--projection",
        "vaccine",
        "--combine_strategy",
        "encourage",
        "--batches_per_update",
        "4",
        "--lr",
        "1e-3",
        "--save_every",
        "1",
        "--threads",
        "1",
        "--no-progress",
        "--save_path",
        str(run_dir),
        *extra,
    ]


def _weights(run_dir):
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model.safetensors"))


@pytest.mark.parametrize("save_every", ["1", "0"], ids=["save-every-update", "epoch-only-rewind"])
def test_sigkill_then_resume_ends_bit_for_bit_like_an_uninterrupted_run(tmp_path, real_data_dir, save_every):
    """With --save_every 0 the kill lands mid-epoch with only the last epoch's state saved: the
    resume rewinds to that epoch's start and must still end bit for bit the same."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full = tmp_path / "full"
    subprocess.run(_cli(full, real_data_dir, "--save_every", save_every), check=True, env=env, capture_output=True, timeout=300)
    killed = tmp_path / "killed"
    target = random.Random(os.getpid()).randint(14, 20) if save_every == "0" else random.Random(os.getpid()).randint(3, 20)
    proc = subprocess.Popen(
        _cli(killed, real_data_dir, "--save_every", save_every), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        metrics = killed / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count('"kind": "train"') >= target:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    resumed = subprocess.run(
        [sys.executable, "-m", "mtlib", "--resume", str(killed), "--threads", "1"], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = json.loads((full / "results.json").read_text()), json.loads((killed / "results.json").read_text())
    assert a["dev"] == b["dev"], (target, a["dev"], b["dev"])
    wa, wb = _weights(full), _weights(killed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    from mtlib.store.metrics_file import Train
    from mtlib.store.metrics_file import read as read_metrics

    steps = [r.step for r in read_metrics(killed) if isinstance(r, Train)]
    assert steps == list(range(1, 25)), "metrics.jsonl should hold each update once after the resume"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(killed / "tb"))
    events.Reload()
    logged = [e.step for e in events.Scalars("Learning rate")]
    assert logged == list(range(1, 25)), "TensorBoard should drop the events after the saved step (purge_step), as metrics.jsonl does"


def test_sigterm_saves_state_and_says_how_to_resume(tmp_path, real_data_dir):
    run_dir = tmp_path / "r"
    proc = subprocess.Popen(_cli(run_dir, real_data_dir, "--save_every", "0"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count('"kind": "train"') >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err  # 128 + SIGTERM, as a shell reports it
    assert f"--resume {run_dir}" in err
    assert (run_dir / "state" / "trainer.json").is_file()
    resumed = subprocess.run([sys.executable, "-m", "mtlib", "--resume", str(run_dir)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    from mtlib.store.metrics_file import Train
    from mtlib.store.metrics_file import read as read_metrics

    steps = [r.step for r in read_metrics(run_dir) if isinstance(r, Train)]
    assert steps == list(range(1, 25)) and (run_dir / "results.json").is_file()
    assert not (run_dir / "state").exists(), "a finished run drops its training state"
