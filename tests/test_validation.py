"""Issue 34, items 3 and 4: every parameter is validated before anything is deleted or trained,
and every value read back (trainer.json, a checkpoint's weights, a run's config.yaml, WordNet,
a YAML file) is checked where it is read. A problem is one line naming the file or setting and
what to do, exit 2. Each test here failed on the code before its fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


def _files(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


def _one_line(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, (code, err)
    return err


def _no(what: str):
    def refuse(*args, **kwargs):
        pytest.fail(f"{what} ran")

    return refuse


# ---- a YAML key given twice ------------------------------------------------------------------------
def test_a_yaml_key_given_twice_is_refused_with_file_line_and_key(tmp_path, capsys):
    """`lr: 1e-3` then `lr: 1e-2` trained with 1e-2 and said nothing."""
    from mtlib.__main__ import main
    from mtlib.config.yaml_files import load_yaml
    from mtlib.util.errors import ConfigError

    path = tmp_path / "twice.yaml"
    path.write_text("train:\n  lr: 0.001\n  epochs: 1\n  lr: 0.01\n")
    with pytest.raises(ConfigError, match=r"twice.yaml:4:\d+: .*the key 'lr' is given twice \(first at line 2\)"):
        load_yaml(path)
    path.write_text("encoder: tiny-random\nepochs: 1\nencoder: minilm-l6\n")
    err = _one_line(capsys, main(["--config", str(path), "--save_path", str(tmp_path / "run")]))
    assert "twice.yaml:3:" in err and "'encoder' is given twice" in err
    assert not (tmp_path / "run").exists()
    path.write_text("stages:\n  finetune: {lr: 0.001}\n  individual_pretrain: {lr: 0.01}\n")  # the same key in two mappings is fine
    assert load_yaml(path)["stages"]["finetune"] == {"lr": 0.001}


# ---- benchmarks/baselines.py --minutes -------------------------------------------------------------
@pytest.mark.parametrize("minutes", ["nan", "inf", "-inf", "-1"])
def test_baseline_minutes_must_be_finite_and_positive(minutes, capsys):
    """`--minutes nan` recorded budget_minutes NaN and exited 0; `--minutes inf` was an OverflowError traceback."""
    from benchmarks import baselines

    with pytest.raises(SystemExit) as stop:
        baselines.parse_args(["trainer", f"--minutes={minutes}"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--minutes" in err and "finite, positive" in err and "Traceback" not in err


# ---- values read back from a run: trainer.json, the weights, config.yaml ---------------------------
def _copy(run: Path, tmp_path: Path, name: str = "kept") -> Path:
    return Path(shutil.copytree(run, tmp_path / name, ignore=shutil.ignore_patterns(".lock")))


def _set_loop(trainer: Path, **values) -> None:
    saved = json.loads(trainer.read_text())  # {"__dict__": [[key, value], ...]} (mtlib.store.checkpoints.split_state)
    loop = dict(saved["__dict__"])["loop"]["__dict__"]
    for key, value in values.items():
        loop[[k for k, _ in loop].index(key)][1] = value
    trainer.write_text(json.dumps(saved))


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"epoch": 1, "update": 1000}, "update"),  # the attacker's: resumed silently, ended at step 61 of 90
        ({"epoch": 1, "update": 2}, "global_step"),  # counters that disagree with each other
        ({"skipped_steps": 10_000}, "skipped_steps"),
        ({"task_steps": {"sst": 8, "imdb": 3}}, "task_steps"),
    ],
)
def test_every_trainer_json_value_is_checked_against_the_run(kept_run, tmp_path, capsys, values, key):
    from mtlib.__main__ import main

    folder = _copy(kept_run, tmp_path)
    trainer = folder / "state" / "trainer.json"
    _set_loop(trainer, **values)
    before = _files(folder)
    err = _one_line(capsys, main(["--resume", str(folder)]))
    assert f"{trainer}: loop.{key} is " in err and "start the run again with --overwrite" in err
    assert _files(folder) == before  # nothing trained, nothing rewritten (metrics.jsonl included)


def _poison(weights: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    name = next(k for k in tensors if k.startswith("heads."))
    tensors[name][0] = float("nan")
    save_file(tensors, str(weights))


def test_a_nan_weight_in_a_loaded_checkpoint_is_one_line_naming_the_file(kept_run, tmp_path, capsys):
    """mtlib.load, predict and a stage starting from the run all computed with the NaN weight."""
    import mtlib
    from mtlib.__main__ import main
    from mtlib.util.errors import CheckpointError

    folder = _copy(kept_run, tmp_path)
    weights = folder / "model.safetensors"
    _poison(weights)
    with pytest.raises(CheckpointError, match="holds NaN or infinite values"):
        mtlib.load(folder, device="cpu")
    err = _one_line(capsys, main(["predict", "--run", str(folder), "--task", "sst", "--text", "A fine film.", "--device", "cpu"]))
    assert f"{weights}: weight heads." in err and "holds NaN or infinite values" in err
    config = ["--config", str(folder / "config.yaml"), "--save_path", str(tmp_path / "next")]
    err = _one_line(capsys, main([*config, "--pretrained_model_name", str(folder)]))
    assert f"{weights}: weight heads." in err and not (tmp_path / "next").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--head_rnn_hidden", "100000000", "--head_rnn_hidden must be in [1, 8192]"),  # 11 GB, then SystemError
        ("--n_hidden_layers", "100000", "--n_hidden_layers must be in [0, 64]"),
        ("--max_length", "999999", "--max_length must be in [8, 8192]"),
    ],
)
def test_sizes_have_upper_bounds(tmp_path, capsys, flag, value, message):
    from mtlib.__main__ import main

    argv = ["--encoder", "tiny-random", "--head_rnn", "lstm", flag, value, "--save_path", str(tmp_path / "run")]
    assert message in _one_line(capsys, main(argv)) and not (tmp_path / "run").exists()


def test_predict_refuses_a_runs_max_length_past_the_model_and_a_line_too_long(kept_run, tmp_path, capsys):
    """A run whose config.yaml says max_length 100000 was a traceback; a 94 MB line took the
    tokenizer to 10.9 GB and an abort (exit 134)."""
    from mtlib.__main__ import main
    from mtlib.use.inputs import MAX_TEXT_CHARS

    folder = _copy(kept_run, tmp_path)
    config = folder / "config.yaml"
    config.write_text(config.read_text().replace("max_length: 48", "max_length: 100000"))
    predict = ["predict", "--run", str(folder), "--task", "sst", "--device", "cpu"]
    err = _one_line(capsys, main([*predict, "--text", "A fine film."]))
    assert f"{config}: max_length 100000 is more than the model reads" in err
    lines = tmp_path / "lines.txt"
    lines.write_text("A fine film.\n" + "x" * (MAX_TEXT_CHARS + 1) + "\n")
    err = _one_line(capsys, main([*predict, "--input", str(lines)]))
    assert f"{lines}:2: a text of {MAX_TEXT_CHARS + 1:,} characters" in err
    err = _one_line(capsys, main([*predict, "--text", "y" * (MAX_TEXT_CHARS + 1)]))
    assert "--text:1: a text of" in err


# ---- the workbook: every notebook's parameters, before anything is deleted -------------------------
@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("bootstrap_resamples=0", "-p bootstrap_resamples=0: must be in [100, 100000]"),  # notebook 04: IndexError after retraining
        ("n_errors=-1", "-p n_errors=-1: must be in [0, 1000]"),
        ("sample_rows=-5", "-p sample_rows=-5: must be 0 (all) or more"),
        ("seed=-2", "-p seed=-2: must be in [0, 4.29497e+09)"),
        ("max_length=999999", "--max_length must be in [8, 8192]"),  # recorded, yet notebooks 02-03 never got it
        (
            "checkpoint=/elsewhere/other/stages/finetune",
            "-p checkpoint=/elsewhere/other/stages/finetune: the workbook analyses a stage of run k60",
        ),
        ("recorded=true", "no notebook declares the parameter(s) ['recorded'] among those the workbook runs (01, 02, 03, 04)"),  # 05's
    ],
)
def test_every_notebooks_parameters_are_checked_before_anything_is_deleted(tmp_path, monkeypatch, capsys, param, message):
    from test_reliability_runs import _finished_workbook_run

    from mtlib.workbook.notebooks import runner

    monkeypatch.setattr(runner, "execute", _no("a notebook"))
    monkeypatch.setattr(runner, "run_test_stage", _no("the test stage"))
    runs = tmp_path / "runs"
    before = _finished_workbook_run(runs / "k60")
    code = runner.main(["--profile", "smoke", "--run", "k60", "--runs_dir", str(runs), "--overwrite", "--quiet", "-p", param])
    assert message in _one_line(capsys, code)
    assert _files(runs / "k60") == before


def test_a_checkpoint_of_this_run_is_accepted(tmp_path):
    from mtlib.workbook.notebooks.parameters import check_checkpoint

    folder = tmp_path / "runs" / "k60"
    check_checkpoint(str(folder / "stages" / "finetune"), folder)
    check_checkpoint(str(folder / "stages" / "finetune" / "model.safetensors"), folder)


def test_every_setting_the_workbook_records_reaches_each_notebook_that_trains_its_stage():
    """`-p max_length=256` was recorded in the run's command, yet notebooks 02 and 03 trained with the profile's."""
    from mtlib.util import paths
    from mtlib.workbook.notebooks.execute import declared_parameters
    from mtlib.workbook.notebooks.runner import NOTEBOOK_STAGES, NOTEBOOKS
    from mtlib.workbook.training.stages import NOTEBOOK_SETTINGS

    declared = {n[:2]: declared_parameters(paths.notebooks_dir() / f"{n}.ipynb") for n in NOTEBOOKS}
    missing = [
        (name, key) for name, (stages, _, _) in NOTEBOOK_SETTINGS.items()
        for key, trained in NOTEBOOK_STAGES.items() if set(stages) & set(trained) and name not in declared[key]
    ]  # fmt: skip
    assert not missing


def test_one_map_of_notebook_parameters_to_stage_settings():
    """Issue 36: notebook 03 mapped finetune_lr in its own cell and again in the runner's table; one map
    now, "the profile's" values setting nothing, and the retired pal_lr refused by name."""
    from mtlib.util.errors import ConfigError
    from mtlib.workbook.training.stages import notebook_settings

    common, per_stage = notebook_settings(
        encoder="", seed=-1, max_length=0, max_train_examples=0, epochs=0, finetune_lr=1e-4, vaccine_epochs=2
    )
    assert common == {"max_train_examples": 0}
    assert per_stage == {"individual_pretrain": {}, "finetune": {"lr": 1e-4}, "finetune_vaccine": {"epochs": 2}}
    with pytest.raises(ConfigError, match="pal_lr is no notebook parameter"):
        notebook_settings(pal_lr=1e-4)


# ---- the recipe: a stage's own starting checkpoint ---------------------------------------------------
def test_the_recipe_honours_a_stages_own_starting_checkpoint(tmp_path, monkeypatch, capsys):
    """`--set finetune.pretrained_model_name=X` was recorded, and stage 2 started from stage 1 all the same."""
    from mtlib.run import pipeline
    from mtlib.workbook.training import recipe, stages

    class Started(Exception):
        pass

    started = []

    def run(cfg, recorders=()):
        started.append(cfg)
        raise Started

    monkeypatch.setattr(pipeline, "run", run)
    checkpoint = tmp_path / "elsewhere" / "model.safetensors"
    with pytest.raises(Started):
        stages.run_stage("smoke", tmp_path / "runs" / "r", "finetune", {"pretrained_model_name": str(checkpoint)}, say=lambda t: None)
    assert [c.run.save_path for c in started] == [str(tmp_path / "runs" / "r" / "stages" / "finetune")]  # stage 1 not trained first
    assert started[0].train.pretrained_model_name == str(checkpoint)
    assert stages.stage_config("smoke", tmp_path / "r", "finetune").train.pretrained_model_name == str(
        tmp_path / "r" / "stages" / "individual_pretrain"
    )
    argv = ["--profile", "smoke", "--run", "r", "--runs_dir", str(tmp_path / "runs"), "--set", f"pretrained_model_name={checkpoint}"]
    assert "give it for the stage that starts from it" in _one_line(capsys, recipe.main(argv))
    assert not (tmp_path / "runs").exists()


# ---- a damaged WordNet copy (--use_preprocessing lengths_augmented) -----------------------------------
@pytest.mark.parametrize("damage", ["empty data.noun", "garbled index.noun", "garbled data.noun"])
def test_a_damaged_wordnet_copy_is_one_line_naming_it(tmp_path, monkeypatch, capsys, real_data_dir, damage):
    """An empty data.noun was an AttributeError traceback in the middle of preparing the data."""
    from mtlib.__main__ import main
    from mtlib.data import eda

    source = next((Path(d) for d in eda.WORDNET_DIRS if (Path(d) / "index.noun").is_file()), None)
    if source is None:
        pytest.skip("WordNet (wordnet-base) is not installed")
    copy = Path(shutil.copytree(source, tmp_path / "wordnet"))
    kind, _, name = damage.partition(" ")
    (copy / name).write_text("" if kind == "empty" else "\n".join(f"{i} garbage {i * 7919} x" for i in range(2000)))
    monkeypatch.setenv("MTLIB_WORDNET_DIR", str(copy))
    argv = ["--encoder", "tiny-random", "--data_dir", str(real_data_dir), "--use_preprocessing", "lengths_augmented", "--tasks", "sst"]
    argv += ["--max_train_examples", "64", "--max_eval_examples", "16", "--epochs", "1", "--save_path", str(tmp_path / "run")]
    err = _one_line(capsys, main([*argv, "--device", "cpu", "--amp", "off"]))
    assert str(copy) in err and "reinstall it: apt-get install --reinstall wordnet-base" in err
    assert not (tmp_path / "run" / "results.json").exists()


def test_a_finished_stage_that_started_from_another_checkpoint_is_not_reused(tmp_path, monkeypatch):
    import yaml

    from mtlib.run import pipeline
    from mtlib.util.errors import ConfigError
    from mtlib.workbook.training import stages

    monkeypatch.setattr(pipeline, "run", _no("a stage"))
    run, first, second = tmp_path / "runs" / "r", tmp_path / "a" / "model.safetensors", tmp_path / "b" / "model.safetensors"
    cfg = stages.stage_config("smoke", run, "finetune", {"pretrained_model_name": str(first)})
    folder = Path(cfg.run.save_path)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    (folder / "results.json").write_text("{}")
    monkeypatch.setattr(stages, "read_results", lambda folder: {})
    assert stages.run_stage("smoke", run, "finetune", {"pretrained_model_name": str(first)}, say=lambda t: None).how == "reused"
    with pytest.raises(ConfigError, match="finished with other settings .pretrained_model_name: "):
        stages.run_stage("smoke", run, "finetune", {"pretrained_model_name": str(second)}, say=lambda t: None)
