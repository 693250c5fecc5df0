"""A run folder records no absolute path of the machine it was made on (issue 25): paths inside
the run are relative to the run folder, others to the project root; a moved run still works."""

from __future__ import annotations

import shutil
from pathlib import Path

import mtlib
import mtlib.__main__ as cli
from mtlib.util import paths

TEXT_FILES = (".json", ".yaml", ".yml", ".txt", ".md", ".jsonl", ".csv", ".tsv")


def leaks(folder: Path, forbidden: list[str]) -> list[str]:
    """'file: path' for each text file of `folder` that holds one of the `forbidden` paths."""
    found = []
    for file in sorted(folder.rglob("*")):
        if file.is_file() and file.suffix in TEXT_FILES:
            text = file.read_text(encoding="utf-8", errors="replace")
            found += [f"{file.relative_to(folder)}: {p}" for p in forbidden if p in text]
    return found


def test_a_recipe_run_records_no_absolute_path_and_works_once_moved(smoke_run, tmp_path, capsys):
    run = smoke_run("pal-cross")
    forbidden = sorted({str(paths.project_root()), str(run), str(run.resolve()), str(run.parent), str(run.parent.resolve())})
    assert leaks(run, forbidden) == []
    copy = tmp_path / "moved" / "elsewhere"
    shutil.copytree(run, copy)
    predictor = mtlib.load(copy, device="cpu")
    assert predictor.checkpoint.is_relative_to(copy)  # the copy's own weights, not the original's
    assert list(predictor.sentiment(["a fine film"])["label"])
    again = tmp_path / "again"
    shutil.copytree(copy, again)
    capsys.readouterr()
    assert cli.main(["compare", str(copy), str(again), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert f"| `{copy.name}` |" in printed and f"| `{again.name}` |" in printed
    assert "None: the runs were trained with the same settings." in printed


def test_a_stage_records_its_folder_checkpoint_and_predictions_relative_to_itself(tiny_cfg, tmp_path):
    import json

    import yaml

    from mtlib.run.pipeline import run
    from mtlib.store.results_file import RunResult

    first = tmp_path / "first"
    run(tiny_cfg(save_path=str(first)))
    second = tmp_path / "second"
    run(tiny_cfg(save_path=str(second), pretrained_model_name=str(first)))
    recorded = json.loads((second / "results.json").read_text())
    assert recorded["run"] == "." and recorded["checkpoint"] == "./model.safetensors"
    assert all(p.startswith("./predictions/") for p in recorded["predictions"])
    config = yaml.safe_load((second / "config.yaml").read_text())
    assert config["run"]["save_path"] == "."
    # `first` is outside both this run and the project: no relative form survives a move, so it stays absolute
    assert config["train"]["pretrained_model_name"] == str(first)
    assert leaks(second, [str(second)]) == []
    read = RunResult.read(second)  # read back against the folder
    assert Path(read.checkpoint) == second / "model.safetensors" and Path(read.run) == second
