"""`python -m mtlib recipe`: a profile's stages chained without notebooks, per-stage settings,
finished stages kept on a re-run."""

from __future__ import annotations

import json

import pytest
import yaml

from mtlib.store.metrics_file import Dev, PhaseStart
from mtlib.store.metrics_file import read as read_metrics
from mtlib.store.recorded_config import recorded_config
from mtlib.util.errors import ConfigError, MtlibError
from mtlib.workbook.training import recipe
from mtlib.workbook.training.stages import STAGE_NAMES as STAGES


def test_parse_sets_keeps_strings_and_splits_by_stage():
    common, per_stage = recipe.parse_sets(["amp=off", "finetune_vaccine.projection=pcgrad", "pair_encoding=para=cross,sts=bi"])
    assert common == {"amp": "off", "pair_encoding": "para=cross,sts=bi"}  # "off" is not YAML's False
    assert per_stage["finetune_vaccine"] == {"projection": "pcgrad"} and per_stage["finetune"] == {}
    with pytest.raises(MtlibError, match="unknown stage 'stage9'"):
        recipe.parse_sets(["stage9.lr=1"])
    with pytest.raises(MtlibError, match="expected KEY=VALUE"):
        recipe.parse_sets(["lr"])


def test_smoke_recipe_chains_stages_and_resumes_by_skipping_finished_ones(tmp_path, real_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("MTLIB_DATA_DIR", str(real_data_dir))
    sets = ["threads=1", "pair_encoding=sts=bi", "finetune_vaccine.projection=pcgrad"]
    results = recipe.run_recipe("smoke", "r1", sets, root=tmp_path)
    folder = tmp_path / "r1"
    configs = {s: yaml.safe_load((folder / "stages" / s / "config.yaml").read_text()) for s in STAGES}
    for before, after in zip(STAGES, STAGES[1:]):
        assert configs[after]["train"]["pretrained_model_name"] == f"../{before}"  # from the stage's folder (issue 25)
        assert recorded_config(folder / "stages" / after).train.pretrained_model_name == str(folder / "stages" / before)
    assert configs["finetune_vaccine"]["multitask"]["projection"] == "pcgrad"
    assert configs["finetune"]["multitask"]["projection"] == "none"
    assert all(c["model"]["pair_encoding"] == "sts=bi" for c in configs.values())
    # the run reports the stage with the best mean dev score
    best = max(results["stages"].values(), key=lambda st: st["dev_mean"])["dev_mean"]
    assert results["dev_mean"] == best == results["stages"][results["reported_stage"]]["dev_mean"]
    assert results["last_stage"] == "finetune_vaccine" and set(results["dev"]) == {"sst", "para", "sts"}
    assert results["command"].startswith("python -m mtlib.recipe --profile smoke --run r1 --set threads=1")
    assert results["settings"] == {
        "all_stages": {"threads": "1", "pair_encoding": "sts=bi"},
        "finetune_vaccine": {"projection": "pcgrad"},
    }
    saved = json.loads((folder / "results.json").read_text())
    assert saved["dev"] == results["dev"] and (folder / "report.md").exists()
    # stages predict dev only; the test stage predicts test once, with the reported checkpoint
    for stage in STAGES:
        assert {p.name.split("-")[1] for p in (folder / "stages" / stage / "predictions").glob("*-output.csv")} == {"dev"}
    tested = results["test_stage"]
    assert tested["checkpoint"] == str(folder / "stages" / results["reported_stage"] / "model.safetensors")
    assert sorted(p.name for p in (folder / "stages" / "test" / "predictions").glob("*-output.csv")) == [
        "para-test-output.csv",
        "sst-test-output.csv",
        "sts-test-output.csv",
    ]
    assert results["total_seconds"] == pytest.approx(sum(s["wall_seconds"] for s in results["stages"].values()) + tested["seconds"])
    assert "| stage `test` (the test split, with `" + results["reported_stage"] + "`) |" in (folder / "report.md").read_text()
    # each stage logs under its own name: stage 3 (`option: finetune` as stage 2) as finetune_vaccine
    logged = capsys.readouterr().out
    assert "[finetune_vaccine] epoch 1/1: dev" in logged and "[finetune] epoch 2/2: dev" in logged
    assert "[finetune] epoch 1/1" not in logged
    for stage in ("finetune", "finetune_vaccine"):
        records = [r for r in read_metrics(folder / "stages" / stage) if isinstance(r, (PhaseStart, Dev))]
        assert len(records) >= 2 and {r.phase for r in records} == {stage}
    # a second call finds every stage finished and keeps them as they are
    stamps = {s: (folder / "stages" / s / "model.safetensors").stat().st_mtime_ns for s in STAGES}
    again = recipe.run_recipe("smoke", "r1", sets, root=tmp_path)
    assert again["dev"] == results["dev"]
    assert stamps == {s: (folder / "stages" / s / "model.safetensors").stat().st_mtime_ns for s in STAGES}
    assert capsys.readouterr().out.count(": reused") == 4  # the three stages and the test stage
    # the same run asked with other settings is refused, naming them, and left as it was
    with pytest.raises(ConfigError, match=r"finished with other settings \(seed: 0 there, 7 asked\): set retrain = True"):
        recipe.run_recipe("smoke", "r1", [*sets, "seed=7"], root=tmp_path)
    assert json.loads((folder / "results.json").read_text())["command"] == results["command"]
    assert stamps == {s: (folder / "stages" / s / "model.safetensors").stat().st_mtime_ns for s in STAGES}
    # a finished stage keeps its model and records, not its training state
    assert not any((folder / "stages" / s / "state").exists() for s in STAGES)


def test_gpu_profile_runs_end_to_end_with_a_stand_in_encoder(tmp_path, real_data_dir, monkeypatch):
    """mtlib's GPU recipe is ready for a GPU: its three stages and the test stage run as written,
    with only the encoder (tiny random for bert-base-uncased), the device and the row counts swapped."""
    monkeypatch.setenv("MTLIB_DATA_DIR", str(real_data_dir))
    sets = ["encoder=tiny-random", "device=cpu", "amp=off", "threads=1", "max_train_examples=32", "max_eval_examples=16", "epochs=1"]
    results = recipe.run_recipe("gpu", "gp", sets, root=tmp_path)
    stages = tmp_path / "gp" / "stages"
    configs = {s: yaml.safe_load((stages / s / "config.yaml").read_text()) for s in STAGES}
    # the recipe, as the profile holds it
    assert {s: c["train"]["lr"] for s, c in configs.items()} == {
        "individual_pretrain": 1e-3,
        "finetune": 1e-5,
        "finetune_vaccine": 5e-6,
    }
    assert all(c["model"]["pooling"] == "cls" and c["train"]["batch_size"] == 32 for c in configs.values())
    assert configs["finetune"]["multitask"]["task_scheduler"] == "pal"
    vaccine = configs["finetune_vaccine"]
    assert vaccine["multitask"]["projection"] == "vaccine" and vaccine["multitask"]["combine_strategy"] == "encourage"
    assert vaccine["model"]["use_pal"] and vaccine["model"]["pal_size"] == 204 and vaccine["train"]["patience"] == 2
    assert all(c["train"]["lr_schedule"] == "linear" and c["train"]["weight_decay"] == 0.01 for c in configs.values())
    # every stage trained and scored all three tasks; the test stage predicted the test split
    assert all(set(st["dev"]) == {"sst", "para", "sts"} for st in results["stages"].values())
    assert results["test_stage"]["predicted"]["sst/test"] == 16
