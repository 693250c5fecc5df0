"""The workbook: the notebooks' runs, and everything that reports on runs.

The training core (`mtlib/`) knows nothing about notebooks; this package drives it and reads
what it recorded. Its rooms:

    notebooks/   running the notebooks: runner.py (`python -m mtlib.workbook`, `make workbook`),
                 execute.py (one notebook through papermill), sources.py (which files run),
                 parameters.py (the notebook parameters, checked once before anything is written),
                 lab.py (`make lab`: each profile's own copies, then `jupyter lab`)
    training/    the stages themselves: stages.py (the stage chain, with the workbook's figures, and
                 the one map of notebook parameters to stage settings),
                 recipe.py (`python -m mtlib recipe`: the stages without notebooks), sweep.py
    sections/    what the notebooks' sections show: explore (01), history and trivial_baselines
                 (02, 03), analysis, run_analysis and playground (04), narrative (their sentences)
    figures/     every figure: common.py (save_figure, colours, legends, labels), plots.py,
                 error_plots.py, budget.py (the equal-minutes front), forest.py (the study's)
    reports/     a run's report.md, results.json and MODEL_CARD.md; run summaries, score and result
                 tables (docs/results.md, the README), `python -m mtlib compare`
    study/       `python -m mtlib study`: the reference report's Table 2 (rows, launch, records,
                 statistics, report, outputs)

Notebooks import from this package only (`from mtlib.workbook import plots, stages`): the names
in `NOTEBOOK_NAMES` are the rooms' modules, loaded on first use. `run_folder` is the notebooks'
run folder: the one they are given, else one per profile.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

INTERACTIVE = "interactive"  # an interactive run's name: interactive-<profile>

NOTEBOOK_NAMES = {  # the modules the notebooks import from here, and the room each lives in
    "stages": "training.stages",
    "explore": "sections.explore",
    "history": "sections.history",
    "narrative": "sections.narrative",
    "run_analysis": "sections.run_analysis",
    "trivial_baselines": "sections.trivial_baselines",
    "plots": "figures.plots",
}  # `study` is a room itself (mtlib/workbook/study/)


def __getattr__(name: str) -> Any:
    if name in NOTEBOOK_NAMES:
        return importlib.import_module(f"{__name__}.{NOTEBOOK_NAMES[name]}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def interactive_run_name(profile: str = "") -> str:
    """`interactive-<profile>` (an empty profile: $MTLIB_PROFILE, else cpu; a YAML file: its
    name), so `make lab PROFILE=smoke` and then `make lab` train two runs, not one run twice."""
    from ..config.yaml_files import default_profile

    return f"{INTERACTIVE}-{Path(profile or default_profile()).stem}"


def run_folder(run_name: str = "", profile: str = "", runs_dir: str = "") -> Path:
    """A notebook's run folder: runs/<run_name>/, or with no name `interactive_run_name(profile)`."""
    from ..util import paths

    return paths.run_folder(run_name or interactive_run_name(profile), runs_dir)
