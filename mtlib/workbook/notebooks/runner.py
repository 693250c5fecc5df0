"""`python -m mtlib.workbook --profile cpu --run NAME`: the four notebooks, in order, headless.

Each notebook runs through `papermill.execute_notebook` with the parameters it declares. The
notebooks train through `mtlib.workbook.training.stages.run_stage`, so the stages chain through the run folder
and a stage that already finished is reused:

    runs/<run>/
      notebooks/0N_*.ipynb     executed copies (the sources in notebooks/ keep no outputs)
      stages/<stage>/          one `mtlib.run.pipeline.run` folder per training stage (dev predictions)
      stages/test/             the test split, predicted with the reported stage's checkpoint
      figures/                 PNG + SVG of every figure (copied to figures/<run>/ for papers)
      results.json             reported dev scores, CIs (the stage with the best mean dev score),
                               per-stage and per-notebook times
      report.md                the same as tables, then every figure

A finished run is never overwritten without asking (`--overwrite`, `make workbook
OVERWRITE=1`); a run that did not finish continues: its finished stages are reused and an
interrupted one resumes. The notebooks' printed progress (stage starts, epochs, dev scores)
streams to the terminal; the command ends with the reported dev scores and where the test
predictions are. A failing cell stops the workbook: the command prints papermill's error (cell,
exception, traceback) and the executed notebook to open, and exits with status 1. A kernel that
dies (killed, out of memory) gives one line and status 3: the same command continues the run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from ...store.run_folder import locked
from ...util import paths
from ...util.errors import ConfigError, run_command
from ...util.files import has_content
from ..reports import report
from ..training.stages import finished_stages, run_test_stage, stage_folder
from .execute import KernelDied, WorkbookError, declared_parameters, execute, make_portable  # noqa: F401 (raised here too)
from .parameters import check_parameters, one_profile
from .sources import EDITED_FLAG, edited_setting, keep, pinned_sources

NOTEBOOKS = ("01_data_exploration", "02_individual_pretraining", "03_staged_finetuning", "04_confusion_matrix_analysis")
NOTEBOOK_STAGES = {"02": ("individual_pretrain",), "03": ("finetune", "finetune_vaccine")}  # the stages each notebook trains


def notebook_parameters(profile: str, run_name: str, runs_dir: str = "", data_dir: str = "", encoder: str = "", retrain: bool = False):
    """The parameters every notebook may get; each notebook is given those it declares. OVERWRITE
    is explicit: it also replaces stages another encoder or profile trained (each says so)."""
    return {
        "profile": profile,
        "run_name": run_name,
        "runs_dir": runs_dir,
        "data_dir": data_dir,
        "encoder": encoder,
        "retrain": retrain,
        "replace_other_model": retrain,
        "interactive": False,
    }


WORKBOOK_MARKER = ".mtlib-workbook"  # a run folder the workbook made
RECIPE_MARKER = ".mtlib-recipe"  # a run folder `mtlib.recipe` (and so `mtlib.sweep`) made
MAKERS = {"workbook": "python -m mtlib.workbook (make workbook)", "recipe": "python -m mtlib.recipe"}


def run_maker(folder: Path) -> str | None:
    """Which command made the run folder `folder`: "workbook", "recipe", or None when nothing
    says (empty, or a run stopped before its first record, made before the markers)."""
    if (folder / WORKBOOK_MARKER).is_file() or (folder / "notebooks").is_dir():
        return "workbook"
    if (folder / RECIPE_MARKER).is_file():
        return "recipe"
    if (folder / "results.json").is_file():
        try:
            recorded = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = {}
        if isinstance(recorded, dict) and "notebooks" in recorded:  # the recipe records none
            return "workbook" if recorded["notebooks"] else "recipe"
    return None


def check_run_folder(folder: Path, overwrite: bool, maker: str = "workbook") -> str:
    """ "new", "continue" (a run that did not finish; for the recipe, also one that did: its
    stages are reused) or "overwrite". Refuses a finished workbook run unless `overwrite`, a
    folder that is not a run of stages at all, and a run the other command (`maker` is
    "workbook" or "recipe") made: neither rewrites the other's record."""
    if not has_content(folder):
        return "new"
    made = run_maker(folder)
    if made is None and not (folder / "stages").is_dir():
        raise ConfigError(
            f"{folder} exists and is not a workbook run folder (nor a recipe run); choose another run name (it is left as it is)"
        )
    if made not in (None, maker):
        raise ConfigError(
            f"run {folder.name} was made by {MAKERS[made]}, and {MAKERS[maker]} does not rewrite it ({folder}): "
            f"continue it with {MAKERS[made]}, or choose another run name"
        )
    if not (folder / "results.json").is_file():
        return "continue"
    if overwrite:
        return "overwrite"
    if maker == "recipe":
        return "continue"
    raise ConfigError(
        f"run {folder.name} already finished ({folder / 'report.md'}); it is kept. "
        "To train it again pass OVERWRITE=1 (make workbook) or --overwrite, or choose another RUN"
    )


def run_workbook(
    profile: str,
    run_name: str,
    *,
    data_dir: str = "",
    encoder: str = "",
    extra: dict[str, Any] | None = None,
    root: str | Path | None = None,
    notebooks_dir: Path | None = None,
    overwrite: bool = False,
    echo: bool = True,
    edited_notebooks: str | None = None,
) -> dict[str, Any]:
    """Execute notebooks 01 to 04 in order (the test stage after 03), then write results.json
    and report.md. `extra` sets further notebook parameters by name (e.g. {"sample_rows": 500});
    each goes to every notebook that declares it. Everything is checked first (the parameters,
    the profile, the folder), then the run's lock taken (the recipe takes the same one), then the
    folder checked again under it; only then is anything deleted. The notebooks run as committed
    (`notebook_sources`); `edited_notebooks` ("" or a folder) runs them as they are, kept in the run."""
    folder = paths.run_folder(run_name, root or "").resolve()
    profile, extra = one_profile(profile, extra or {})
    sources = pinned_sources(NOTEBOOKS, notebooks_dir or paths.notebooks_dir(), edited_notebooks, folder)
    declared = {key: declared_parameters(source.path) for key, source in sources.items()}
    extra = check_parameters(profile, folder, data_dir, encoder, extra, declared)
    check_run_folder(folder, overwrite)  # before taking the lock: a refusal leaves no trace
    with locked(folder):
        state = check_run_folder(folder, overwrite)  # under the lock: the folder as it is now
        sources = keep(sources, folder) if edited_notebooks is not None else sources
        return _run_workbook(profile, run_name, folder, state, data_dir, encoder, extra, root, sources, declared, echo)


def _run_workbook(profile, run_name, folder, state, data_dir, encoder, extra, root, sources, declared, echo) -> dict[str, Any]:  # noqa: ANN001
    say = print if echo else (lambda text: None)
    if state == "continue":
        say(f"[workbook] {folder} did not finish: its finished stages are reused, an interrupted one resumes")
    if state == "overwrite":
        say(f"[workbook] {folder} finished before; OVERWRITE: training every stage again")
        (folder / "results.json").unlink()
        for old in (folder / "figures").glob("*"):
            old.unlink()
    (folder / "notebooks").mkdir(parents=True, exist_ok=True)
    (folder / WORKBOOK_MARKER).touch()  # a run stopped before its first stage can continue too
    runs_setting = str(folder.parent) if root else ""
    params = notebook_parameters(profile, run_name, runs_setting, data_dir, encoder, retrain=state == "overwrite")
    notebooks: dict[str, dict[str, Any]] = {}
    test_seconds = None
    for key, pinned in sources.items():
        source = pinned.path
        if key == "04":  # the test split, with the checkpoint the run reports (the best mean dev score); 04 analyses it
            start = time.perf_counter()
            run_test_stage(profile, folder, {"data_dir": data_dir} if data_dir else {}, say=say)
            test_seconds = time.perf_counter() - start
        wanted = {**params, **extra}
        given = {k: v for k, v in wanted.items() if k in declared[key]}
        output = folder / "notebooks" / source.name
        say(f"[workbook] {source.stem} ...")
        try:
            seconds = execute(source, output, given, echo)
        finally:  # a failed notebook too: the executed copy names no place of this machine
            if output.is_file():
                make_portable(output, folder)
        say(f"[workbook] {source.stem} done in {seconds:.1f} s")
        notebooks[key] = {"seconds": seconds, "executed": str(output), "parameters": given, "stages": list(NOTEBOOK_STAGES.get(key, ()))}
        notebooks[key] |= pinned.record  # the file executed: source, sha256, commit
    figures = sorted((folder / "figures").glob("*.*"), key=lambda p: (p.name[:2], p.name))
    command = recreate_command(
        profile, run_name, data_dir, encoder, extra, str(folder.parent) if root else "", edited_setting(sources, folder)
    )
    results = report.collect(folder, profile, run_name, finished_stages(folder), notebooks, figures, test_seconds, command=command)
    json_path, md_path = report.write(folder, results)
    say(summary(results, folder))
    return results


def from_root_if_under(path: str) -> str:
    """An absolute `path` under the project root, written from the root; any other as it is."""
    if path and Path(path).is_absolute() and Path(path).resolve().is_relative_to(paths.project_root()):
        return Path(path).resolve().relative_to(paths.project_root()).as_posix()
    return path


def recreate_command(
    profile: str, run_name: str, data_dir: str, encoder: str, extra: dict[str, Any] | None, runs_dir: str, edited: str | None = None
) -> str:
    """The command that runs this workbook again with the same settings (the notebook parameters
    given by name included; `edited`: the folder of the edited notebooks it executed), as recorded
    in the run's results.json and command.txt."""
    if Path(profile).is_absolute() and Path(profile).is_relative_to(paths.project_root()):
        profile = str(Path(profile).relative_to(paths.project_root()))  # a profile file of the checkout
    data_dir, runs_dir = (from_root_if_under(p) for p in (data_dir, runs_dir))  # both are read from the root (issue 25)
    words = ["python", "-m", "mtlib.workbook", "--profile", profile, "--run", run_name]
    for flag, value in (("--data_dir", data_dir), ("--encoder", encoder), ("--runs_dir", runs_dir), (EDITED_FLAG, edited)):
        if value:
            words += [flag, from_root_if_under(value) if flag == EDITED_FLAG else value]
    for name, value in (extra or {}).items():
        words += ["-p", f"{name}={str(value).lower() if isinstance(value, bool) else value}"]
    return shlex.join(words)


def summary(results: dict[str, Any], folder: Path) -> str:
    """The closing lines of `make workbook`: the reported dev scores, and where everything is."""
    from ...config.tasks import TASKS

    machine = f" on {results['device']}" + (f" ({results['cpu']}, {results['precision']})" if results.get("cpu") else "")
    lines = [
        f"[workbook] done in {results['total_seconds'] / 60:.1f} min{machine}; dev scores of the reported stage ({results['reported_stage']}):"
    ]
    for task in [t for t in TASKS if t in results["dev"]]:
        value, (low, high) = results["dev"][task], results["ci95"][task]
        lines.append(f"  {TASKS[task].title:<22} {TASKS[task].metric_name:<9} {value:.3f}  [{low:.3f}, {high:.3f}]")
    lines.append(f"  {'mean':<32} {results['dev_mean']:.3f}")
    tested = results.get("test_stage")
    if tested:
        lines.append(f"[workbook] test predictions: {stage_folder(folder, 'test') / 'predictions'}")
    lines.append(f"[workbook] report: {folder / 'report.md'}")
    return "\n".join(lines)


def _parse_param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: the value is not a plain YAML scalar ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(parsed, (str, int, float, bool)):
        raise argparse.ArgumentTypeError(f"{text!r}: the value must be a string, number or true/false")
    return name.strip(), parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib.workbook", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument(
        "--profile",
        default="",
        help="mtlib/profiles/<profile>.yaml: cpu | cpu-full | gpu | reference | smoke (or a YAML path); default cpu",
    )
    parser.add_argument("--run", required=True, help="run name: runs/<run>/ (a name, not a path)")
    parser.add_argument("--data_dir", default="", help="task-file folder (default: $MTLIB_DATA_DIR or data/, from the project root)")
    parser.add_argument("--encoder", default="", help="encoder (default: the profile's)")
    parser.add_argument("--runs_dir", default="", help="folder for run folders (default: $MTLIB_RUNS or runs/, from the project root)")
    parser.add_argument("--overwrite", action="store_true", help="train a finished run again (make workbook OVERWRITE=1)")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        type=_parse_param,
        default=[],
        metavar="NAME=VALUE",
        help="a notebook parameter, e.g. -p sample_rows=500 (repeatable)",
    )
    parser.add_argument(
        EDITED_FLAG,
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="run notebooks/ (or DIR's notebooks) as they are, not as committed; kept in runs/<run>/sources/ (make workbook EDITED=1)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not stream the notebooks' printed progress")
    args = parser.parse_args(argv)

    def work() -> None:
        run_workbook(
            args.profile,
            args.run,
            data_dir=args.data_dir,
            encoder=args.encoder,
            extra=dict(args.param),
            root=args.runs_dir or None,
            overwrite=args.overwrite,
            echo=not args.quiet,
            edited_notebooks=args.edited_notebooks,
        )

    return run_command("mtlib.workbook", work)


if __name__ == "__main__":
    sys.exit(main())
