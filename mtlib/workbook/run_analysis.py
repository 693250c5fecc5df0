"""Notebook 04's driver: find the run to analyse, then draw and describe each part of it.

`open_analysis` picks what to analyse: the `checkpoint` folder when one is given; else the
reported stage (best mean dev score) of runs/<run_name>/ (no name: runs/interactive-<profile>/); else, when that run has no finished
stage, the newest finished workbook run, saying so. With nothing to analyse it says which
notebook to run first, and every later cell shows nothing (never an error).

Each `Analysis` method displays its sentences (`mtlib.workbook.narrative`), its figure (saved under the
run's `figures/`) and its table, for every task it applies to: the notebook names no task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.tasks import TASKS
from ..run.stages import finished_stages, reported_stage
from ..store.results_file import with_current_names
from ..util import paths
from . import analysis, error_plots, narrative, plots, run_folder

NOTHING_YET = (
    "**Nothing to analyse yet.** Run notebook 02 and then 03 with the same `run_name` (or `make workbook`), then run this notebook again."
)


def newest_workbook_run(runs: Path) -> Path | None:
    """The most recently finished workbook or recipe run under `runs` (it has results.json
    with a reported stage)."""
    found = []
    for results in runs.glob("*/results.json"):
        try:
            if with_current_names(json.loads(results.read_text(encoding="utf-8"))).get("reported_stage"):
                found.append((results.stat().st_mtime, results.parent))
        except (OSError, ValueError):
            continue
    return max(found)[1] if found else None


@dataclass
class Analysis:
    run: Path | None  # the run folder whose figures folder receives the figures
    stage: Path | None  # the stage folder analysed
    why: str
    frames: analysis.Frames = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.frames

    def _show(self, *items: Any) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        for item in items:
            if item is None:
                continue
            if isinstance(item, str):
                display(narrative.md(item))
            elif hasattr(item, "savefig"):
                display(item)
                plt.close(item)
            else:
                display(item)

    def _save(self, fig: Any, name: str) -> Any:
        plots.save_figure(fig, self.run or Path(self.stage), name)
        return fig

    def headline(self) -> Any:
        return narrative.md(self.why)

    def confusion_matrices(self) -> None:
        """Each classification task: what its matrix says, then counts beside row-normalised."""
        for task, frame in self.frames.items():
            if TASKS[task].is_classification:
                matrix = analysis.confusion_matrix_of(task, frame)
                self._show(
                    narrative.confusion_summary(task, matrix),
                    self._save(error_plots.confusion_pair_figure(matrix, task), f"04_{task}_confusion"),
                )

    def regression(self) -> None:
        """Each regression task: predicted against gold, and residuals by gold bin."""
        for task, frame in self.frames.items():
            if not TASKS[task].is_classification:
                residuals = analysis.residuals_by_bin(frame, analysis.bin_edges(task))
                score = analysis.as_predictions(task, frame).score()
                figure = self._save(error_plots.regression_figure(frame, residuals, task), f"04_{task}_scatter")
                self._show(narrative.regression_summary(task, residuals, score), figure, residuals.round(3))

    def per_class(self) -> None:
        if self.empty:
            return
        table = analysis.per_class_report(self.frames)
        self._show(self._save(error_plots.per_class_figure(table), "04_per_class"), table.round(3))

    def scores(self, resamples: int = 1000, seed: int = 0) -> None:
        if self.empty:
            return
        from ..config.config import Config

        table = analysis.scores_with_ci(self.frames, resamples, seed)
        cfg = Config.from_yaml(self.stage / "config.yaml") if (self.stage / "config.yaml").is_file() else Config()
        text = narrative.scores_summary(table, cfg.model.encoder, cfg.data.max_eval_examples == 0)
        self._show(text, self._save(error_plots.scores_ci_figure(table), "04_dev_scores_ci"), table.round(3))

    def errors(self, n: int = 8) -> None:
        for task, frame in self.frames.items():
            self._show(f"**{TASKS[task].title}**", analysis.confident_errors(task, frame, n).round(3))

    def playground(self, interactive: bool, examples: str) -> None:
        if self.empty:
            return
        from . import playground

        self._show(playground.show(self.stage, interactive, examples, self.run or self.stage))


def open_analysis(run_name: str = "", checkpoint: str = "", runs_dir: str = "") -> Analysis:
    """What notebook 04 analyses (see the module docstring)."""
    runs = paths.runs_dir(runs_dir)
    if checkpoint:
        stage = Path(checkpoint)
        if stage.suffix == ".safetensors":
            stage = stage.parent
        if not (stage / "predictions").is_dir():
            return Analysis(None, None, f"**`{stage}` holds no predictions.** Point `checkpoint` at a finished stage folder.")
        run = stage.parent.parent if stage.parent.name == "stages" else stage
        return Analysis(run, stage, f"Analysing `{stage}` (the `checkpoint` parameter).", analysis.load_predictions(stage, "dev"))
    run = run_folder(run_name, "", runs_dir)  # no name: interactive-<$MTLIB_PROFILE>
    done = finished_stages(run)
    why = ""
    if not done:
        newest = newest_workbook_run(runs)
        if newest is None:
            return Analysis(None, None, NOTHING_YET + f" (No finished stage in `{run}`, and no finished run in `{runs}`.)")
        why = f"Run `{run.name}` has no finished stage yet, so this analyses the newest finished run, `{newest.name}`. "
        run, done = newest, finished_stages(newest)
    chosen = reported_stage(done)
    stage = done[chosen]
    why += (
        f"Analysing run `{run.name}`, stage `{chosen}`: the stage it reports, the best mean dev score of its "
        f"{len(done)} finished stage(s). Figures go to `{run / 'figures'}`."
    )
    return Analysis(run, stage, why, analysis.load_predictions(stage, "dev"))
