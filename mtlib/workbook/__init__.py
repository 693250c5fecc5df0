"""The workbook: the notebooks' runs, and everything that reports on runs.

The training core (`mtlib/`) knows nothing about notebooks; this package drives it and reads
what it recorded:

    runner.py             `python -m mtlib.workbook`: the four notebooks through papermill
    notebook_sources.py   which notebook files it executes: the committed ones, or edited ones kept in the run
    lab.py                `make lab`: each profile's own notebook copies (labs/<profile>/), then `jupyter lab`
    recipe.py             `python -m mtlib.recipe`: the same stages without notebooks
    sweep.py              a recipe per seed and grid point, then `compare`
    report.py             a workbook run's results.json and report.md
    model_card.py         MODEL_CARD.md of a workbook run
    narrative.py          the notebooks' sentences about their results
    history.py            metrics.jsonl of the stages as tables
    explore.py            notebook 01's data tables
    analysis.py           notebook 04's error analysis (intervals, residuals, confident errors)
    run_analysis.py       notebook 04's run: which run, which stage, which figures
    plots.py              every figure (PNG + SVG under the run's figures/)
    playground.py         the notebooks' interactive predictions
    trivial_baselines.py  majority-class / mean-score baselines for the tables
    result_tables.py      docs/results.md's tables from the recorded runs in results/
    compare.py            a table of several runs' dev scores

`run_folder` is the notebooks' run folder: the one they are given, else one per profile.
"""

from __future__ import annotations

from pathlib import Path

INTERACTIVE = "interactive"  # an interactive run's name: interactive-<profile>


def interactive_run_name(profile: str = "") -> str:
    """`interactive-<profile>` (an empty profile: $MTLIB_PROFILE, else cpu; a YAML file: its
    name), so `make lab PROFILE=smoke` and then `make lab` train two runs, not one run twice."""
    from ..config.yaml_files import default_profile

    return f"{INTERACTIVE}-{Path(profile or default_profile()).stem}"


def run_folder(run_name: str = "", profile: str = "", runs_dir: str = "") -> Path:
    """A notebook's run folder: runs/<run_name>/, or with no name `interactive_run_name(profile)`."""
    from ..util import paths

    return paths.run_folder(run_name or interactive_run_name(profile), runs_dir)
