"""`python -m mtlib.workbook --profile cpu --run NAME`: the four notebooks, in order, headless.

Each notebook runs through `papermill.execute_notebook` with the parameters it declares; the
checkpoints are chained through run folders (02's is 03's input; 04 analyses the stage with the
best mean dev score, usually 03's last):

    runs/<run>/
      notebooks/0N_*.ipynb     executed copies (the sources in notebooks/ keep no outputs)
      stages/<stage>/          one `mtlib.pipeline.run` folder per training stage (dev predictions)
      stages/test/             the test split, predicted with the reported stage's checkpoint
      results.json             reported dev scores, CIs (the stage with the best mean dev score),
                               per-stage and per-notebook times
      report.md                the same as tables, then every figure
    figures/<run>/             PNG + SVG of every figure (`mtlib.plots.save_figure`)

A failing cell stops the workbook: the command prints papermill's error (cell, exception,
traceback) and the executed notebook to open, and exits with status 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from . import report
from .plots import figures_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = ("01_data_exploration", "02_individual_pretraining", "03_staged_finetuning", "04_confusion_matrix_analysis")
STAGES_OF = {"02": ("individual_pretrain",), "03": ("finetune_pal", "finetune_vaccine")}  # notebook -> stages it trains
STAGES = tuple(s for stages in STAGES_OF.values() for s in stages)


class WorkbookError(Exception):
    """A notebook failed; the message says which cell and why."""


def runs_root() -> Path:
    """Where workbook run folders go: $MTLIB_RUNS, else runs/ under the project root."""
    return Path(os.environ.get("MTLIB_RUNS") or PROJECT_ROOT / "runs")


def run_dir(run_name: str, root: str | Path | None = None) -> Path:
    return Path(root or runs_root()) / run_name


def stage_dir(run_name: str, stage: str, root: str | Path | None = None) -> Path:
    """The run folder of one training stage of a workbook run (the notebooks' default paths)."""
    return run_dir(run_name, root) / "stages" / stage


def notebook_parameters(profile: str, run_name: str, folder: Path, data_dir: str = "", encoder: str = "") -> dict[str, dict[str, Any]]:
    """The parameters each notebook gets, checkpoints chained through the stage folders."""
    stage = {s: str(folder / "stages" / s) for s in STAGES}
    common = {"profile": profile, "run_name": run_name, "data_dir": data_dir, "encoder": encoder}
    return {
        "01": common,
        "02": {**common, "output_dir": stage["individual_pretrain"]},
        "03": {
            **common,
            "input_checkpoint": stage["individual_pretrain"],
            "pal_output_dir": stage["finetune_pal"],
            "vaccine_output_dir": stage["finetune_vaccine"],
        },
        "04": {**common, "checkpoint": stage["finetune_vaccine"], "interactive": False},
    }


def declared_parameters(path: Path) -> dict[str, Any]:
    """The names, types and defaults of a notebook's `parameters` cell, as papermill reads them."""
    import papermill as pm

    return pm.inspect_notebook(str(path))


def execute(source: Path, output: Path, parameters: dict[str, Any], log_output: bool = False) -> float:
    """Run one notebook; returns its wall time. Raises WorkbookError naming the failing cell."""
    import papermill as pm

    start = time.perf_counter()
    try:
        pm.execute_notebook(str(source), str(output), parameters=parameters, progress_bar=False, log_output=log_output)
    except pm.PapermillExecutionError as exc:
        trace = _strip_ansi("\n".join(exc.traceback))
        raise WorkbookError(
            f"{source.name} failed in cell {exc.cell_index} (execution {exc.exec_count}): {exc.ename}: {exc.evalue}\n"
            f"{trace}\n\nthe executed notebook, with the error: {output}"
        ) from exc
    return time.perf_counter() - start


def run_workbook(
    profile: str,
    run_name: str,
    *,
    data_dir: str = "",
    encoder: str = "",
    extra: dict[str, Any] | None = None,
    root: str | Path | None = None,
    notebooks_dir: Path | None = None,
    log_output: bool = False,
) -> dict[str, Any]:
    """Execute notebooks 01 to 04 in order, then write results.json and report.md.

    `extra` sets further notebook parameters by name (e.g. {"sample_rows": 500}); each goes to
    every notebook that declares it."""
    folder = run_dir(run_name, root).resolve()
    (folder / "notebooks").mkdir(parents=True, exist_ok=True)
    params = notebook_parameters(profile, run_name, folder, data_dir, encoder)
    sources = {name[:2]: (notebooks_dir or NOTEBOOKS_DIR) / f"{name}.ipynb" for name in NOTEBOOKS}
    declared = {key: declared_parameters(path) for key, path in sources.items()}
    unknown = [k for k in (extra or {}) if not any(k in d for d in declared.values())]
    if unknown:
        raise WorkbookError(f"no notebook declares the parameter(s) {unknown}; see `papermill --help-notebook notebooks/<name>.ipynb`")
    started = time.time()
    notebooks: dict[str, dict[str, Any]] = {}
    test_seconds = None
    for key, source in sources.items():
        if key == "04":  # the checkpoint the run reports (the stage with the best mean dev score): 04 analyses it
            from .recipe import test_stage

            chosen = report.reported_stage({s: folder / "stages" / s for s in STAGES})
            params[key]["checkpoint"] = str(folder / "stages" / chosen)
            start = time.perf_counter()
            test_stage(profile, folder, chosen, {"data_dir": data_dir} if data_dir else {})
            test_seconds = time.perf_counter() - start
        wanted = {**params[key], **(extra or {})}
        given = {k: v for k, v in wanted.items() if k in declared[key]}
        output = folder / "notebooks" / source.name
        print(f"[workbook] {source.stem} ...", flush=True)
        seconds = execute(source, output, given, log_output)
        print(f"[workbook] {source.stem} done in {seconds:.1f} s -> {output}", flush=True)
        notebooks[key] = {"seconds": seconds, "executed": str(output), "parameters": given, "stages": list(STAGES_OF.get(key, ()))}
    # this run's figures, in the order the notebooks drew them
    figures = sorted(
        (p for p in figures_dir(run_name).iterdir() if p.stat().st_mtime >= started - 1), key=lambda p: (p.name[:2], p.stat().st_mtime)
    )
    stages = {s: folder / "stages" / s for s in STAGES}
    results = report.collect(folder, profile, run_name, stages, notebooks, figures, test_seconds)
    json_path, md_path = report.write(folder, results)
    print(f"[workbook] {md_path}\n[workbook] {json_path}", flush=True)
    return results


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _parse_param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), yaml.safe_load(value) if value.strip() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib.workbook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", help="notebooks/params/<profile>.yaml: smoke | cpu | gpu-paper (or a YAML path)")
    parser.add_argument("--run", required=True, help="run name: runs/<run>/ and figures/<run>/")
    parser.add_argument("--data_dir", default="", help="task-file folder (default: $MTLIB_DATA_DIR or data/)")
    parser.add_argument("--encoder", default="", help="encoder (default: the profile's)")
    parser.add_argument("--runs_dir", default="", help="folder for run folders (default: $MTLIB_RUNS or runs/)")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        type=_parse_param,
        default=[],
        metavar="NAME=VALUE",
        help="a notebook parameter, e.g. -p sample_rows=500 (repeatable)",
    )
    parser.add_argument("--log_output", action="store_true", help="stream the notebooks' cell output while they run")
    args = parser.parse_args(argv)
    if args.log_output:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        run_workbook(
            args.profile,
            args.run,
            data_dir=args.data_dir,
            encoder=args.encoder,
            extra=dict(args.param),
            root=args.runs_dir or None,
            log_output=args.log_output,
        )
    except WorkbookError as exc:
        print(f"mtlib.workbook: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
