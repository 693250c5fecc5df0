"""The workbook: the committed notebooks' shape, and all four executed by papermill (smoke profile).

The papermill tests share one workbook run (a module-scoped fixture, about a minute and a half
on two cores: most of it is four kernels importing torch and transformers).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import data_dir

from mtlib.util import paths
from mtlib.util.errors import ConfigError
from mtlib.workbook.notebooks import execute as notebook_exec
from mtlib.workbook.notebooks import runner as workbook
from mtlib.workbook.notebooks import sources as notebook_sources
from mtlib.workbook.training.stages import STAGE_NAMES

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [ROOT / "notebooks" / f"{name}.ipynb" for name in workbook.NOTEBOOKS]
RUN = "pytest-smoke"
# Every figure the notebooks export, by notebook: a missing one fails, not only an empty folder.
FIGURES = {
    "01": ["01_split_sizes", "01_label_distributions", "01_token_lengths"],
    "02": ["02_learning_curves", "02_baselines"],
    "03": ["03_learning_curves", "03_task_sampling", "03_gradient_conflicts"],
    "04": ["04_sst_confusion", "04_para_confusion", "04_sts_scatter", "04_per_class", "04_dev_scores_ci", "04_playground_example"],
}


def parameters_cell(path: Path) -> nbformat.NotebookNode:
    cells = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters'"
    return cells[0]


def declared(path: Path) -> dict[str, str]:
    """name -> trailing comment of each line of the parameters cell."""
    out = {}
    for line in parameters_cell(path).source.splitlines():
        code, _, comment = line.partition("  # ")
        out[ast.parse(code).body[0].target.id] = comment.strip()
    return out


# ---- the committed notebooks -------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs_and_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), f"{path.name} has outputs; run nbstripout"
    assert "parameters" in code[0].metadata.get("tags", []), "the parameters cell must be the first code cell"
    parameters_cell(path)  # and the only one
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "a markdown title comes first"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_are_flat_typed_literals_with_a_comment(path):
    for line in parameters_cell(path).source.splitlines():
        code, _, comment = line.partition("  # ")
        node = ast.parse(code).body[0]
        assert isinstance(node, ast.AnnAssign) and isinstance(node.annotation, ast.Name), (
            f"{path.name}: {line!r} is not `name: type = value`"
        )
        value = ast.literal_eval(node.value)  # raises unless a literal
        assert type(value).__name__ == node.annotation.id in ("str", "int", "float", "bool"), f"{line!r}: type and default disagree"
        assert comment and "=" not in comment, f"{line!r}: needs a trailing comment without '=' (papermill skips such lines)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_holds_no_logic_of_its_own(path):
    """Thin notebooks: calls into mtlib, no functions, classes or loops."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.With)), (
                f"{path.name}: move this into mtlib:\n{cell.source}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_help_notebook_lists_every_parameter(path):
    """`papermill --help-notebook` (its click command, in-process) shows each parameter and its
    comment; papermill silently skips a line it cannot parse, e.g. one with '=' in its comment."""
    from click.testing import CliRunner
    from papermill.cli import papermill

    out = CliRunner().invoke(papermill, ["--help-notebook", str(path)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())  # help text wraps
    for name, comment in declared(path).items():
        assert re.search(rf"\b{name}: ", text), f"--help-notebook does not list {name}:\n{out.output}"
        assert " ".join(comment.split()) in text, f"--help-notebook lacks the help of {name}"


def test_workbook_passes_only_declared_parameters():
    params = workbook.notebook_parameters("smoke", "r", "/tmp/runs")
    for path in NOTEBOOKS:
        names = declared(path)
        given = {k for k in params if k in names}
        assert given >= {"run_name", "runs_dir"}, path.name
    assert params["interactive"] is False and params["retrain"] is False


# ---- the workbook, executed --------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke workbook run into a temporary runs/ and figures/ folder."""
    base = tmp_path_factory.mktemp("workbook")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTLIB_FIGURES", str(base / "figures"))
        mp.setenv("MTLIB_DATA_DIR", str(data_dir()))
        results = workbook.run_workbook(
            "smoke", RUN, root=base / "runs", extra={"sample_rows": 200, "bootstrap_resamples": 200}, echo=False
        )
    return {"folder": base / "runs" / RUN, "figures": base / "runs" / RUN / "figures", "copies": base / "figures" / RUN, "results": results}


@pytest.mark.slow
def test_every_notebook_exports_its_figures_into_the_run_folder_with_a_copy(smoke):
    for notebook, names in FIGURES.items():
        for name in names:
            for ext in ("png", "svg"):
                path = smoke["figures"] / f"{name}.{ext}"
                assert path.is_file() and path.stat().st_size > 1000, f"notebook {notebook} did not export {path.name}"
                assert (smoke["copies"] / path.name).read_bytes() == path.read_bytes()


@pytest.mark.slow
def test_checkpoints_are_handed_from_02_to_03_to_04(smoke):
    stages = smoke["folder"] / "stages"
    for stage in STAGE_NAMES:
        assert (stages / stage / "model.safetensors").is_file(), stage
        assert not (stages / stage / "state").exists(), f"{stage} kept its training state"

    def started_from(stage):
        return yaml.safe_load((stages / stage / "config.yaml").read_text())["train"]["pretrained_model_name"]

    assert started_from("individual_pretrain") == ""
    assert started_from("finetune") == "../individual_pretrain"  # from the stage's folder (issue 25)
    assert started_from("finetune_vaccine") == "../finetune"
    pal_notes = json.loads((stages / "finetune" / "results.json").read_text())["notes"]
    assert any(n.startswith("started from ../individual_pretrain/model.safetensors") for n in pal_notes), pal_notes
    analysed = nbformat.read(smoke["folder"] / "notebooks" / "04_confusion_matrix_analysis.ipynb", as_version=4)
    headline = next(c for c in analysed.cells if "open_analysis" in c.source).outputs[0]["data"]["text/markdown"]
    assert f"Analysing run `{RUN}`, stage `{smoke['results']['reported_stage']}`" in headline


@pytest.mark.slow
def test_workbook_refuses_a_finished_run_and_continues_with_overwrite_only(smoke, capsys):
    folder = smoke["folder"]
    before = (folder / "results.json").read_bytes()
    code = workbook.main(["--profile", "smoke", "--run", RUN, "--runs_dir", str(folder.parent), "--quiet"])
    assert code == 2 and "already finished" in capsys.readouterr().err
    assert (folder / "results.json").read_bytes() == before


@pytest.mark.slow
def test_run_folder_records_the_command_that_recreates_it(smoke, monkeypatch):
    """results.json, command.txt and report.md carry one command, and it parses back into the
    same profile, run, runs folder and notebook parameters (a seed given by name included)."""
    import shlex

    folder = smoke["folder"]
    command = smoke["results"]["command"]
    assert (folder / "command.txt").read_text() == command + "\n"
    assert f"`{command}`" in (folder / "report.md").read_text()
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "mtlib.workbook"]
    seen = {}
    monkeypatch.setattr(workbook, "run_workbook", lambda profile, run, **kw: seen.update(profile=profile, run=run, **kw))
    assert workbook.main(words[3:]) == 0
    assert (seen["profile"], seen["run"], seen["root"]) == ("smoke", RUN, str(folder.parent))
    assert seen["extra"] == {"sample_rows": 200, "bootstrap_resamples": 200}


def test_recreate_command_quotes_and_spells_parameters_as_the_cli_reads_them():
    command = workbook.recreate_command("cpu", "r1", "", "", {"seed": 1, "interactive": False, "examples": "a b | c"}, "")
    assert command == "python -m mtlib.workbook --profile cpu --run r1 -p seed=1 -p interactive=false -p 'examples=a b | c'"
    words = shlex.split(command)
    params = dict(workbook._parse_param(words[i + 1]) for i, w in enumerate(words) if w == "-p")
    assert params == {"seed": 1, "interactive": False, "examples": "a b | c"}


@pytest.mark.slow
def test_report_has_the_three_tasks_and_embeds_existing_figures(smoke):
    report = (smoke["folder"] / "report.md").read_text()
    for title, numbers in (("SST-5 sentiment", 5), ("Quora paraphrase", 5), ("STS-B similarity", 5), ("mean", 3)):
        row = next((line for line in report.splitlines() if line.startswith(f"| {title} |")), None)
        assert row is not None, f"no results row for {title}"
        assert len(re.findall(r"-?\d\.\d{3}", row)) == numbers, row  # a score per stage (+ the CI's two ends)
    for stem in (
        "01_data_exploration",
        "02_individual_pretraining",
        "03_staged_finetuning",
        "04_confusion_matrix_analysis",
        "stage `test`",
    ):
        assert re.search(rf"\| {stem}[^|]* \| \d+\.\d \|", report), f"no wall time for {stem}"
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(links) == sum(map(len, FIGURES.values()))
    assert all((smoke["folder"] / link).resolve().is_file() for link in links)


@pytest.mark.slow
def test_results_json_holds_final_scores_cis_and_times(smoke):
    results = json.loads((smoke["folder"] / "results.json").read_text())
    from mtlib.store.results_file import summary_as_recorded

    assert results == json.loads(json.dumps(summary_as_recorded(smoke["results"], smoke["folder"]), default=str))
    assert set(results["dev"]) == {"sst", "para", "sts"}
    for task, (low, high) in results["ci95"].items():
        assert -1 <= low <= high <= 1, task
    assert results["dev_mean"] == pytest.approx(sum(results["dev"].values()) / 3)
    assert results["dev"] == results["stages"][results["reported_stage"]]["dev"]
    assert set(results["notebooks"]) == {"01", "02", "03", "04"}
    tested = results["test_stage"]  # the test split, predicted once, with the reported stage's checkpoint
    assert tested["checkpoint"] == f"./stages/{results['reported_stage']}/model.safetensors"  # from the run folder (issue 25)
    assert set(tested["predicted"]) == {"sst/test", "para/test", "sts/test"} and tested["seconds"] > 0
    assert results["total_seconds"] == pytest.approx(sum(n["seconds"] for n in results["notebooks"].values()) + tested["seconds"])
    assert all(s["wall_seconds"] > 0 for s in results["stages"].values())


@pytest.mark.slow
def test_executed_notebooks_are_in_the_run_folder_not_over_the_sources(smoke):
    for source in NOTEBOOKS:
        executed = nbformat.read(smoke["folder"] / "notebooks" / source.name, as_version=4)
        code = [c for c in executed.cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code), source.name
        assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs), f"{source.name} shows no figure"
        assert not any(c.outputs for c in nbformat.read(source, as_version=4).cells if c.cell_type == "code"), "source overwritten"
    example = next(c for c in code if "view.playground" in c.source)
    assert "p(sentiment)" in str(example.outputs), "04's static playground example gave no answer"
    for source in NOTEBOOKS:  # no stray outputs: no list of figure paths, no kernel warnings
        executed = nbformat.read(smoke["folder"] / "notebooks" / source.name, as_version=4)
        text = str([c.outputs for c in executed.cells if c.cell_type == "code"])
        assert "PosixPath" not in text and "WARNING" not in text, source.name


@pytest.mark.slow
def test_executed_notebooks_name_no_place_of_this_machine(smoke):
    """Papermill's metadata, the injected parameters and the printed output name places as the
    run's records do: in the run from the run folder, in the project from its root (issue 25)."""
    from mtlib.util import paths

    forbidden = {str(smoke["folder"]), str(smoke["folder"].resolve()), str(paths.project_root())}
    for source in NOTEBOOKS:
        executed = smoke["folder"] / "notebooks" / source.name
        text = executed.read_text(encoding="utf-8")
        assert not [p for p in forbidden if p in text], source.name
        meta = nbformat.read(executed, as_version=4).metadata.papermill
        assert (meta.input_path, meta.output_path) == (f"notebooks/{source.name}", f"./notebooks/{source.name}")
    printed = (smoke["folder"] / "notebooks" / "03_staged_finetuning.ipynb").read_text(encoding="utf-8")
    assert "./stages/finetune/model.safetensors" in printed


def test_portable_notebooks_rewrite_only_whole_paths(tmp_path):
    from mtlib.util import paths
    from mtlib.workbook.notebooks.execute import make_portable

    run = tmp_path / "runs" / "r1"
    (run / "notebooks").mkdir(parents=True)
    root = paths.project_root()
    lines = [f"{run}/stages/x/model.safetensors", f"{run}", f"{run}-other/a", f"{root}/data/sst.csv", f"{root}x/a", "/elsewhere/a"]
    notebook = run / "notebooks" / "n.ipynb"
    notebook.write_text("\n".join(lines), encoding="utf-8")
    make_portable(notebook, run)
    assert notebook.read_text(encoding="utf-8").splitlines() == [
        "./stages/x/model.safetensors",
        ".",
        f"{run}-other/a",
        "data/sst.csv",
        f"{root}x/a",
        "/elsewhere/a",
    ]


@pytest.mark.slow
def test_a_failing_cell_fails_the_command_with_papermills_error(tmp_path, capsys, monkeypatch):
    """A workbook whose 02 raises: exit status 1, papermill's error on stderr, 03 never runs.
    (Stand-in notebooks with no imports, so the kernel starts in a few seconds.)"""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in workbook.NOTEBOOKS:
        body = 'raise ValueError("boom in " + run_name)' if name.startswith("02") else "print(run_name)"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('run_name: str = "x"  # run', metadata={"tags": ["parameters"]})])
        nb.cells.append(nbformat.v4.new_code_cell(body))
        nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{name}.ipynb")
    monkeypatch.setattr(paths, "notebooks_dir", lambda: folder)
    monkeypatch.setenv("MTLIB_FIGURES", str(tmp_path / "figures"))
    code = workbook.main(["--profile", "smoke", "--run", "broken", "--runs_dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1
    assert "02_individual_pretraining.ipynb failed in cell 2" in err and "ValueError: boom in broken" in err, err
    executed = tmp_path / "runs" / "broken" / "notebooks"
    assert (executed / "02_individual_pretraining.ipynb").is_file()
    assert not (executed / "03_staged_finetuning.ipynb").exists()


def test_unknown_parameter_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="no notebook declares"):
        workbook.run_workbook("smoke", "x", root=tmp_path, extra={"no_such_knob": 1})
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_each_notebook_runs_with_its_defaults_in_any_order_with_the_kernel_in_notebooks(tmp_path, monkeypatch):
    """As JupyterLab runs them: the kernel's working directory is notebooks/, no parameter is
    given, and MTLIB_DATA_DIR is the Makefile's relative `data`. 04 first finds nothing and says
    which notebook to run; 03 trains 02's missing stage first; 02 then reuses it; 04 analyses it."""
    import os

    import papermill as pm

    data = data_dir()
    relative = os.path.relpath(data, ROOT) if data.resolve().is_relative_to(ROOT) else str(data)
    for name, value in {"MTLIB_PROFILE": "smoke", "MTLIB_DATA_DIR": relative, "MTLIB_RUNS": str(tmp_path / "runs")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MTLIB_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("MTLIB_PROGRESS", "text")
    executed = []
    for i, key in enumerate(["04", "01", "03", "02", "04"]):
        source = next(p for p in NOTEBOOKS if p.stem.startswith(key))
        out = tmp_path / f"{i}-{source.name}"
        pm.execute_notebook(
            str(source), str(out), cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_manager_class=notebook_exec._ipc_kernel_manager()
        )
        executed.append(nbformat.read(out, as_version=4))

    def text(nb):
        return "\n".join(
            str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", "")) for c in nb.cells for o in c.get("outputs", [])
        )

    first, nb01, nb03, nb02, last = executed
    assert "Nothing to analyse yet" in text(first) and "notebook 02" in text(first)
    assert sum(bool(c.get("outputs")) for c in first.cells if c.cell_type == "code") == 1, "only the headline speaks"
    assert f"Task files read from `{data.resolve()}`" in text(nb01)
    assert "starts from individual_pretrain, which run interactive-smoke has not finished: running it first" in text(nb03)
    assert "Stage `individual_pretrain` had finished before: reused" in text(nb02)
    assert "Analysing run `interactive-smoke`, stage `" in text(last)  # the run of MTLIB_PROFILE
    assert (tmp_path / "runs" / "interactive-smoke" / "figures" / "04_sst_confusion.png").is_file()


# ---- which notebook files a headless run executes (issue 35) -------------------------------------
def _stand_in_project(folder, version):
    """A git checkout of stand-in notebooks (no imports: their kernels start in seconds), committed,
    each printing `version`."""
    import subprocess

    notebooks = folder / "notebooks"
    notebooks.mkdir(parents=True)
    for name in workbook.NOTEBOOKS:
        _stand_in(notebooks / f"{name}.ipynb", version)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "stand-ins"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True, capture_output=True)
    return notebooks


def _stand_in(path, version):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('run_name: str = "x"  # run', metadata={"tags": ["parameters"]})])
    nb.cells.append(nbformat.v4.new_code_cell(f'print("{version} of", run_name)'))
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_an_edited_notebook_is_refused_in_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys):
    """As when Lab autosaved max_train_examples = 1500 into notebooks/02: `make workbook` refuses it."""
    notebooks = _stand_in_project(tmp_path / "project", "committed")
    _stand_in(notebooks / "02_individual_pretraining.ipynb", "edited")
    monkeypatch.setattr(paths, "notebooks_dir", lambda: notebooks)
    code = workbook.main(["--profile", "smoke", "--run", "x", "--runs_dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "02_individual_pretraining.ipynb differs from the committed one" in err and "--edited-notebooks" in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_the_workbook_runs_the_committed_notebooks_and_records_them(smoke):
    import subprocess

    results = json.loads((smoke["folder"] / "results.json").read_text())
    for key, info in results["notebooks"].items():
        source = next(p for p in NOTEBOOKS if p.name.startswith(key))
        assert info["source"] == f"notebooks/{source.name}" and info["commit"], info
        committed = subprocess.run(["git", "show", f"{info['commit']}:notebooks/{source.name}"], cwd=ROOT, capture_output=True).stdout
        assert info["sha256"] == notebook_sources.sha256(committed) == notebook_sources.sha256(source.read_bytes()), key
    head = results["notebooks"]["01"]["commit"]
    assert "--edited-notebooks" not in smoke["results"]["command"]
    assert f"Notebooks: as committed at {head[:10]}" in (smoke["folder"] / "report.md").read_text()


@pytest.mark.slow
def test_edited_notebooks_run_only_when_asked_kept_in_the_run_so_its_command_recreates_it(smoke, tmp_path, monkeypatch, capsys):
    """The smoke run's stages copied into a new run (reused, not trained), stand-in notebooks of
    a temporary git checkout, 01 edited: refused; run with --edited-notebooks; then the working
    copy changes again and the recorded command still runs the notebook the run ran."""
    import shlex
    import shutil

    notebooks = _stand_in_project(tmp_path / "project", "committed")
    edited = notebooks / "01_data_exploration.ipynb"
    _stand_in(edited, "edited-1")
    monkeypatch.setattr(paths, "notebooks_dir", lambda: notebooks)
    monkeypatch.setenv("MTLIB_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("MTLIB_DATA_DIR", str(data_dir()))
    runs = tmp_path / "runs"
    shutil.copytree(smoke["folder"] / "stages", runs / "edited" / "stages")
    args = ["--profile", "smoke", "--run", "edited", "--runs_dir", str(runs), "--quiet"]
    assert workbook.main(args) == 2 and "01_data_exploration.ipynb differs" in capsys.readouterr().err
    assert workbook.main([*args, "--edited-notebooks"]) == 0, capsys.readouterr().err
    folder, kept = runs / "edited", runs / "edited" / "sources"
    data = edited.read_bytes()
    assert (kept / edited.name).read_bytes() == data and len(list(kept.glob("*.ipynb"))) == 4
    results = json.loads((folder / "results.json").read_text())
    assert results["notebooks"]["01"] | {"source": 0} == results["notebooks"]["01"] | {
        "source": 0,
        "sha256": notebook_sources.sha256(data),
        "commit": None,
    }
    assert results["notebooks"]["01"]["source"] == f"./sources/{edited.name}"
    command = (folder / "command.txt").read_text().strip()
    assert f"--edited-notebooks {kept}" in command and f"Recreate it: `{command}`" in (folder / "report.md").read_text()
    assert "kept in `sources/`" in (folder / "report.md").read_text()

    def printed():
        return str(nbformat.read(folder / "notebooks" / edited.name, as_version=4).cells[-1].outputs)

    assert "edited-1 of edited" in printed()
    _stand_in(edited, "edited-2")  # the working copy moves on
    assert workbook.main([*shlex.split(command)[3:], "--overwrite", "--quiet"]) == 0, capsys.readouterr().err
    assert "edited-1 of edited" in printed() and "edited-2" not in printed()
    assert json.loads((folder / "results.json").read_text())["notebooks"]["01"]["sha256"] == notebook_sources.sha256(data)


@pytest.mark.slow
def test_retrain_refuses_to_replace_a_stage_another_encoder_or_profile_trained(smoke, tmp_path):
    """retrain = True in the default (cpu, MiniLM) Lab on a run the smoke profile trained: one
    line naming the run, what trained it and what would replace it; nothing is touched. With
    replace_other_model it goes ahead and says what it replaces."""
    import shutil

    from mtlib.workbook.training import stages as core

    run = tmp_path / "runs" / "ux-cpu-progress"
    shutil.copytree(smoke["folder"] / "stages" / "individual_pretrain", run / "stages" / "individual_pretrain")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError) as refused:
        core.run_stage("cpu", run, "individual_pretrain", retrain=True)
    message = str(refused.value)
    assert "\n" not in message and "stage individual_pretrain of run ux-cpu-progress" in message, message
    assert "trained with encoder tiny-random, profile smoke" in message and "encoder minilm-l6, profile cpu" in message, message
    assert "replace_other_model = True" in message
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    said = []
    cfg = core.stage_config("cpu", run, "individual_pretrain")
    core._check_replacing("individual_pretrain", run / "stages" / "individual_pretrain", cfg, "cpu", True, said.append)
    assert said and "replacing the stage trained with encoder tiny-random, profile smoke" in said[0]
    same = core.stage_config("smoke", run, "individual_pretrain")  # the same encoder and profile: retrain as before
    core._check_replacing("individual_pretrain", run / "stages" / "individual_pretrain", same, "smoke", False, said.append)
    assert len(said) == 1
