"""The workbook's support code without kernels: path resolution, run-folder checks, the
narrative sentences, plain-text progress and where figures go."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtlib.util import paths, progress
from mtlib.util.errors import ConfigError, DataError
from mtlib.workbook.figures import plots
from mtlib.workbook.notebooks import runner as workbook
from mtlib.workbook.sections import narrative

ROOT = paths.project_root()


def test_relative_folders_resolve_against_the_project_root_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as a kernel started in notebooks/, or papermill called from anywhere
    monkeypatch.setenv("MTLIB_DATA_DIR", "data")
    monkeypatch.delenv("MTLIB_RUNS", raising=False)
    monkeypatch.delenv("MTLIB_FIGURES", raising=False)
    assert paths.data_dir() == ROOT / "data"
    assert paths.runs_dir() == ROOT / "runs" and paths.figures_dir() == ROOT / "figures"
    assert paths.data_dir("/abs/where") == paths.data_dir("/abs/where").resolve()
    assert paths.run_folder("x", str(tmp_path)) == tmp_path / "x"


def test_a_missing_data_folder_names_the_absolute_path_and_the_fix(tmp_path, monkeypatch):
    from mtlib.data.task_files import check_data_dir, resolve_data_dir

    monkeypatch.setenv("MTLIB_DATA_DIR", "no-such-data")
    with pytest.raises(DataError) as err:
        check_data_dir(resolve_data_dir())
    assert str(ROOT / "no-such-data") in str(err.value) and "make data" in str(err.value)


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "/abs"])
def test_a_run_name_must_be_a_name_not_a_path(name):
    with pytest.raises(ConfigError, match="not a plain name"):
        paths.run_folder(name)


def test_an_unknown_profile_lists_the_profiles():
    from mtlib.config.config import Config

    with pytest.raises(ConfigError, match=r"no profile 'nope'.*cpu, cpu-full"):
        Config.from_profile("nope")


def test_an_empty_profile_means_mtlib_profile_else_cpu(monkeypatch):
    from mtlib.config.config import profile_path

    monkeypatch.delenv("MTLIB_PROFILE", raising=False)
    assert profile_path("").name == "cpu.yaml"
    monkeypatch.setenv("MTLIB_PROFILE", "smoke")
    assert profile_path("").name == "smoke.yaml"


def test_a_profile_file_is_found_from_the_working_folder_or_the_project_root(tmp_path, monkeypatch):
    """A notebook runs in notebooks/, so `--profile results/x.yaml` given at the project root must
    still name the same file there; a missing file says where it looked."""
    from mtlib.config.config import profile_path

    root = tmp_path / "checkout"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "mine").mkdir()
    (root / "mine" / "p.yaml").write_text("encoder: tiny-random\n")
    monkeypatch.setenv("MTLIB_ROOT", str(root))
    monkeypatch.chdir(root)
    assert profile_path("mine/p.yaml") == root / "mine" / "p.yaml"
    monkeypatch.chdir(root / "notebooks")
    assert profile_path("mine/p.yaml") == root / "mine" / "p.yaml"
    (root / "notebooks" / "mine").mkdir()
    (root / "notebooks" / "mine" / "p.yaml").write_text("encoder: tiny-random\n")
    assert profile_path("mine/p.yaml") == root / "notebooks" / "mine" / "p.yaml"  # the working folder first
    with pytest.raises(ConfigError, match=r"profile file nope/q\.yaml does not exist \(looked in .*notebooks and .*checkout\)"):
        profile_path("nope/q.yaml")
    assert workbook.recreate_command(str(root / "mine" / "p.yaml"), "r", "", "", {}, "").startswith(
        "python -m mtlib.workbook --profile mine/p.yaml --run r"
    )


def test_run_folder_check_refuses_finished_runs_and_foreign_folders(tmp_path):
    assert workbook.check_run_folder(tmp_path / "new", overwrite=False) == "new"
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.tex").write_text("keep me")
    with pytest.raises(ConfigError, match="not a workbook run folder"):
        workbook.check_run_folder(tmp_path / "foreign", overwrite=True)
    early = tmp_path / "early"  # stopped before its first stage: notebooks/ and the marker only
    (early / "notebooks").mkdir(parents=True)
    (early / workbook.WORKBOOK_MARKER).touch()
    assert workbook.check_run_folder(early, overwrite=False) == "continue"
    (tmp_path / "half" / "stages").mkdir(parents=True)
    assert workbook.check_run_folder(tmp_path / "half", overwrite=False) == "continue"
    (tmp_path / "half" / "results.json").write_text("{}")
    with pytest.raises(ConfigError, match="already finished"):
        workbook.check_run_folder(tmp_path / "half", overwrite=False)
    assert workbook.check_run_folder(tmp_path / "half", overwrite=True) == "overwrite"


def test_confusion_summary_names_collapsed_classes():
    # the default run's pattern: class 0 never predicted, neutral and very positive barely recalled
    collapsed = np.array([[0, 120, 10, 8, 1], [0, 250, 20, 15, 4], [0, 135, 5, 80, 9], [0, 40, 6, 200, 33], [0, 10, 4, 150, 7]])
    text = narrative.confusion_summary("sst", collapsed)
    assert "never predicts *0 very neg.*" in text
    assert "*2 neutral* (0.02)" in text and "*4 very pos.* (0.04)" in text and "collapsed" in text
    healthy = np.diag([50, 60, 40, 70, 30]) + 5
    text = narrative.confusion_summary("sst", healthy)
    assert "never" not in text and "collapsed" not in text and "Every class is predicted" in text


def test_scores_summary_says_where_the_run_is_below_the_single_task_baseline():
    import pandas as pd

    base = narrative.single_task_baseline()["dev"]
    scores = pd.DataFrame({"score": [base["sst"] - 0.1, base["para"] + 0.01, base["sts"] + 0.01]}, index=["sst", "para", "sts"])
    text = narrative.scores_summary(scores, "minilm-l6", full_dev=True)
    assert "Below the baseline on *SST-5 sentiment*." in text
    assert "No recorded single-task baseline applies" in narrative.scores_summary(scores, "tiny-random", full_dev=True)


def test_text_progress_prints_lines_with_the_time_left(monkeypatch, capsys):
    monkeypatch.setenv("MTLIB_PROGRESS", "text")
    bar = progress.EpochProgress("[stage] epoch 1/1", total=4, every=0.0)
    for _ in range(4):
        bar.update({"sst": 1.23456})
    bar.close()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("[stage] epoch 1/1: update 1/4 (25%)")  # none for the last update
    assert all("left in the epoch; loss sst 1.235" in line for line in lines)
    monkeypatch.setenv("MTLIB_PROGRESS", "off")
    progress.EpochProgress("x", 2, every=0.0).update({"sst": 1.0})
    assert capsys.readouterr().out == ""


def test_duration_reads_well():
    assert [progress.duration(s) for s in (4, 125, 3720)] == ["4 s", "2m05s", "1h02m"]


def test_save_figure_writes_into_the_run_folder_and_copies_for_papers(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("MTLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MTLIB_FIGURES", str(tmp_path / "figures"))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    out = plots.save_figure(fig, "r", "01_line")
    plt.close(fig)
    assert out == [tmp_path / "runs" / "r" / "figures" / "01_line.png", tmp_path / "runs" / "r" / "figures" / "01_line.svg"]
    assert (tmp_path / "figures" / "r" / "01_line.png").read_bytes() == out[0].read_bytes()
    assert not list((tmp_path / "runs" / "r" / "figures").glob(".*.tmp"))


@pytest.mark.parametrize("notebook", ["02_individual_pretraining.ipynb", "03_staged_finetuning.ipynb"])
@pytest.mark.parametrize(("given", "expected"), [(None, None), (1, 1), (0, 0)])
def test_training_notebooks_leave_the_profiles_seed_alone_unless_asked(tmp_path, notebook, given, expected):
    """Their `seed` parameter once defaulted to 0, which overrode a profile's `seed:` (two seeds
    of a profile gave identical scores); its default -1 now means the profile's, and only a seed
    passed by name (`-p seed=1`) replaces it. Runs the parameters cell, papermill's injected
    override, and the cell that builds the stage settings."""
    import json

    cells = [c for c in json.loads((paths.notebooks_dir() / notebook).read_text())["cells"] if c["cell_type"] == "code"]
    assert "parameters" in cells[0]["metadata"].get("tags", [])
    namespace: dict = {}
    exec("".join(cells[0]["source"]), namespace)
    namespace["runs_dir"] = str(tmp_path)
    if given is not None:
        namespace["seed"] = given
    exec("".join(cells[1]["source"]), namespace)
    assert namespace["common"].get("seed") == expected  # absent: the profile's


def test_the_same_figure_is_the_same_svg_file(tmp_path):
    """No date and fixed element ids: redrawing a figure (make results) leaves its SVG unchanged."""
    import matplotlib.pyplot as plt

    texts = []
    for attempt in ("a", "b"):
        fig, ax = plt.subplots()
        ax.scatter([1, 2], [3, 4], marker="s")
        texts.append(plots.write_figure(fig, tmp_path / attempt, "fig")[1].read_text())
        plt.close(fig)
    assert texts[0] == texts[1] and "<dc:date>" not in texts[0]


def test_conflicts_summary_tells_a_tie_as_a_tie():
    tied = pd.DataFrame(
        {"stage": ["finetune_vaccine"] * 3, "pair": ["para-sts", "sst-para", "sst-sts"], "updates": [10] * 3, "mean": [0.1, 0.2, 0.05]}
    ).assign(conflicting=0.3)
    text = narrative.conflicts_summary(tied)
    assert "All 3 logged pairs tie at 30% negative: para-sts in `finetune_vaccine`" in text and "most conflicting" not in text
    two = tied.assign(conflicting=[0.3, 0.3, 0.1])
    assert "2 pairs tie at 30% negative: para-sts in `finetune_vaccine` (mean cosine 0.100), sst-para" in narrative.conflicts_summary(two)
    one = tied.assign(conflicting=[0.1, 0.3, 0.1])
    assert "The most conflicting pair is sst-para in `finetune_vaccine` (30% negative" in narrative.conflicts_summary(one)


def test_truncation_summary_counts_rows_a_rounded_share_would_hide():
    from mtlib.workbook.sections import explore

    lengths = pd.DataFrame(
        {
            "task": ["para"] * 80_000 + ["sst"] * 10,
            "split": ["train"] * 80_000 + ["dev"] * 10,
            "length": [20] * 79_996 + [300] * 4 + [9] * 10,
        }
    )
    table = explore.truncation_table(lengths, 128)
    text = narrative.truncation_summary(table, 128, "cross")
    assert text.startswith("`max_length` 128 truncates 4 examples: para train 4 of 80,000 (0.005%).")
    assert "cross-encoded pairs, as the model reads them" in text
    assert "the model reads these pairs bi-encoded" in narrative.truncation_summary(table, 128, "bi")
    assert narrative.truncation_summary(explore.truncation_table(lengths, 400), 400).startswith("No example is longer")


def test_the_interactive_run_is_named_after_its_profile(monkeypatch, tmp_path):
    from mtlib.workbook import run_folder

    monkeypatch.delenv("MTLIB_PROFILE", raising=False)
    assert run_folder("", "", str(tmp_path)) == tmp_path / "interactive-cpu"
    monkeypatch.setenv("MTLIB_PROFILE", "smoke")  # `make lab PROFILE=smoke`
    assert run_folder("", "", str(tmp_path)) == tmp_path / "interactive-smoke"
    assert run_folder("", "results/candidates/cpu-450.yaml", str(tmp_path)) == tmp_path / "interactive-cpu-450"
    assert run_folder("mine", "smoke", str(tmp_path)) == tmp_path / "mine"


def test_a_stage_finished_with_another_profile_is_refused_in_one_line_saying_what_to_do(tmp_path):
    import yaml

    from mtlib import stages
    from mtlib.config import Config

    folder = tmp_path / "interactive" / "stages" / "individual_pretrain"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(Config.from_profile("smoke", "individual_pretrain").to_dict()))
    (folder / "results.json").write_text("{}")
    with pytest.raises(ConfigError) as caught:
        stages.run_stage("cpu", tmp_path / "interactive", "individual_pretrain")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("stage individual_pretrain of run interactive finished with other settings (")
    assert message.count(" there, ") == 3 and " more): set retrain = True to train it again" in message
    assert message.endswith("or another run_name") and str(tmp_path) not in message


def test_notebooks_show_an_mtlib_error_as_its_line_not_a_traceback(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell()
    shell.run_cell("from mtlib.util.errors import ConfigError\ndef train():\n    raise ConfigError('stage x: set retrain = True')\ntrain()")
    shown = capsys.readouterr().out
    assert "ConfigError\x1b[0m: stage x: set retrain = True" in shown
    assert "Traceback" not in shown and "train()" not in shown


def test_notebook_04_never_writes_into_a_run_it_did_not_make(smoke_run, tmp_path, monkeypatch):
    """Issue 35: with no finished stage in its own run, notebook 04 analyses nothing (no guess at
    the newest run); a run picked in Lab, or a checkpoint of another run, gets its figures in
    runs/analyses/analysis-of-<run>/, and the analysed run is left byte for byte as it was."""
    import shutil

    from mtlib.workbook.sections import run_analysis

    runs = tmp_path / "runs"
    other = runs / "finished-elsewhere"
    shutil.copytree(smoke_run("pal-cross"), other)
    before = {p: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    monkeypatch.setenv("MTLIB_FIGURES", str(tmp_path / "figure-copies"))
    view = run_analysis.open_analysis("mine", "", str(runs))
    assert view.empty and view.stage is None and "`finished-elsewhere`" in view.why

    shown = []
    monkeypatch.setattr(run_analysis.Analysis, "_show", lambda self, *items: shown.extend(items))
    stage = next(iter(run_analysis.finished_stages(other).values()))
    view.pick(stage, run_analysis.analyses_folder(runs, other), "picked")
    view.per_class()
    picked = runs / "analyses" / "analysis-of-finished-elsewhere" / "figures" / "04_per_class.png"
    assert picked.is_file() and shown

    elsewhere = run_analysis.open_analysis("mine", str(stage), str(runs))
    elsewhere.per_class()
    assert elsewhere.run == runs / "analyses" / "analysis-of-finished-elsewhere"
    assert {p: p.read_bytes() for p in other.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "figure-copies" / "finished-elsewhere").exists()

    own = run_analysis.open_analysis("finished-elsewhere", "", str(runs))
    assert own.run == other and "Figures go to" in own.why  # its own run: its own figures folder


def test_notebook_04s_picker_loads_the_chosen_run(smoke_run, tmp_path, monkeypatch):
    import IPython.display

    from mtlib.workbook.sections import run_analysis

    runs = tmp_path / "runs"
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *items: shown.extend(items))
    import shutil

    shutil.copytree(smoke_run("pal-cross"), runs / "done")
    view = run_analysis.open_analysis("mine", "", str(runs), interactive=True)
    (box,) = shown
    picker = box.children[0]
    assert [label for label, _ in picker.options] == ["choose a finished run", "done"] and view.empty
    picker.value = runs / "done"
    assert not view.empty and view.run == runs / "analyses" / "analysis-of-done" and "picked" in view.why
