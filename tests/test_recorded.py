"""`--option test` reads a checkpoint as it was trained; old run folders are read as they trained."""

from __future__ import annotations

import json

import pytest
import yaml

from mtlib.__main__ import main
from mtlib.config.config import Config
from mtlib.run.pipeline import run
from mtlib.store.recorded_config import recorded_config


@pytest.fixture(scope="module")
def data():
    from conftest import data_dir

    return data_dir()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """A tiny checkpoint trained with settings other than the defaults: max length 24, PAL, cls pooling."""
    folder = tmp_path_factory.mktemp("trained") / "run"
    cfg = Config.from_dict(
        dict(
            encoder="tiny-random", data_dir=str(data), device="cpu", amp="off", max_length=24, batch_size=8,
            max_train_examples=32, max_eval_examples=32, epochs=1, num_batches_per_epoch=2, lr=1e-3, progress=False,
            use_pal=True, pal_size=8, pal_heads=2, pooling="cls", n_hidden_layers=1, head_activation="relu",
            predict_splits="dev", save_path=str(folder),
        )
    )  # fmt: skip
    return folder, run(cfg)


def _test(folder, out, data_dir, *flags):
    return main(
        ["--option", "test", "--pretrained_model_name", str(folder), "--data_dir", str(data_dir), "--device", "cpu"]
        + ["--max_eval_examples", "32", "--predict_splits", "dev", "--no-progress", "--save_path", str(out), *flags]
    )


def test_the_test_stage_reads_the_checkpoint_as_it_was_trained(trained, tmp_path, data):
    folder, results = trained
    assert _test(folder, tmp_path / "t", data) == 0
    recorded = yaml.safe_load((tmp_path / "t" / "config.yaml").read_text())
    assert recorded["data"]["max_length"] == 24 and recorded["train"]["amp"] == "off"
    model = recorded["model"]
    assert (model["use_pal"], model["pal_size"], model["pooling"], model["n_hidden_layers"], model["head_activation"]) == (
        True,
        8,
        "cls",
        1,
        "relu",
    )
    # the same inputs as at training time, so the same dev scores
    assert json.loads((tmp_path / "t" / "results.json").read_text())["dev"] == results.dev
    # naming a setting the checkpoint has is accepted
    assert _test(folder, tmp_path / "t2", data, "--max_length", "24", "--use_pal", "-n_hidden_layers", "1") == 0


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max_length", "64"], "--max_length 64 given, 24 in the checkpoint"),
        (["--amp", "bf16"], "--amp 'bf16' given, 'off' in the checkpoint"),
        (["--no-use_pal"], "--use_pal False given, True in the checkpoint"),
        (["--pooling", "mean"], "--pooling 'mean' given, 'cls' in the checkpoint"),
        (["-n_hidden_layers", "2"], "--n_hidden_layers 2 given, 1 in the checkpoint"),
    ],
)
def test_a_setting_that_contradicts_the_checkpoint_is_refused(trained, tmp_path, data, capsys, flags, message):
    folder, _ = trained
    assert _test(folder, tmp_path / "t", data, *flags) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "t").exists()  # refused before the run folder is made


def _as_recorded_before(cfg: Config, num_batches_per_epoch: int) -> dict:
    """`cfg` as an mtlib that counted epochs in updates wrote its config.yaml."""
    values = cfg.to_dict()
    del values["train"]["lr_schedule"], values["train"]["updates_per_epoch"], values["model"]["head_activation"]
    values["train"]["num_batches_per_epoch"] = num_batches_per_epoch
    return values


@pytest.mark.parametrize("stage, updates", [("finetune", None), ("finetune_vaccine", 10)])
def test_runs_recorded_before_read_as_they_trained(tmp_path, stage, updates):
    """A `cpu` run written by an older mtlib: linear schedule, and stage 3's epoch (10 updates of
    3 batches) counted in updates.
    Read back, it matches the profile, so the workbook reuses it rather than refusing it."""
    profile = Config.from_profile("cpu", stage)
    updates = updates or profile.train.num_batches_per_epoch  # stage 2: one batch per update, as the profile has it
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_as_recorded_before(profile, updates)))
    recorded = recorded_config(tmp_path)
    assert recorded.train.lr_schedule == "linear" and recorded.train.weight_decay == 0.01
    assert recorded.differences(profile) == {}
    if stage == "finetune_vaccine":
        assert (recorded.train.updates_per_epoch, recorded.train.num_batches_per_epoch) == (10, 0)


def test_an_old_projection_run_without_batches_per_update_had_16(tmp_path):
    values = _as_recorded_before(Config.from_dict({"projection": "pcgrad", "combine_strategy": "force"}), 10)
    values["multitask"]["batches_per_update"] = 0
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(values))
    recorded = recorded_config(tmp_path)
    assert (recorded.multitask.batches_per_update, recorded.train.updates_per_epoch) == (16, 10)
