"""Notebook 04's driver: find the run to analyse, then draw and describe each part of it.

`open_analysis` analyses what it is told, never a run it guesses: the `checkpoint` folder when
one is given; else the reported stage (best mean dev score) of runs/<run_name>/ (no name:
runs/interactive-<profile>/). When that run has no finished stage it analyses nothing and, in
Lab (`interactive`), shows a picker of the finished runs: choosing one loads it, and the cells
below show it when run again. Figures go to the run's own `figures/` only when the analysed run
is the notebook's run; the analysis of any other run (picked, or a `checkpoint` elsewhere) saves
its figures under runs/analyses/analysis-of-<that run>/, so notebook 04 never writes into a run it did not make.

Each `Analysis` method displays its sentences (`mtlib.workbook.sections.narrative`), its figure and its
table, for every task it applies to: the notebook names no task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config.tasks import TASKS
from ...store.results_file import with_current_names
from ...util import paths
from .. import run_folder
from ..figures import error_plots, plots
from ..training.stages import finished_stages, reported_stage
from . import analysis, narrative

NOTHING_YET = (
    "**Nothing to analyse yet.** Run notebook 02 and then 03 with the same `run_name` (or `make workbook`), then run this notebook again."
)


def finished_runs(runs: Path) -> list[Path]:
    """The finished workbook or recipe runs under `runs` (a results.json with a reported stage),
    newest first."""
    found = []
    for results in runs.glob("*/results.json"):
        try:
            if with_current_names(json.loads(results.read_text(encoding="utf-8"))).get("reported_stage"):
                found.append((results.stat().st_mtime, results.parent))
        except (OSError, ValueError):
            continue
    return [run for _, run in sorted(found, reverse=True)]


def analyses_folder(runs: Path, analysed: Path) -> Path:
    """Where the analysis of a run other than the notebook's own keeps its figures."""
    return runs / "analyses" / f"analysis-of-{analysed.name}"  # its figure copies: figures/analysis-of-<run>/


@dataclass
class Analysis:
    run: Path | None  # the folder whose figures/ receives the figures: the analysed run if it is the notebook's, else runs/analyses/<run>
    stage: Path | None  # the stage folder analysed
    why: str
    frames: analysis.Frames = field(default_factory=dict)

    def pick(self, stage: Path, run: Path, why: str) -> None:
        """Analyse `stage` from now on (the picker), its figures into `run`."""
        self.stage, self.run, self.why, self.frames = stage, run, why, analysis.load_predictions(stage, "dev")

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
        from ...config.config import Config

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


def _reported(run: Path) -> tuple[str, Path, int]:
    done = finished_stages(run)
    chosen = reported_stage(done)
    return chosen, done[chosen], len(done)


def open_analysis(run_name: str = "", checkpoint: str = "", runs_dir: str = "", interactive: bool = False) -> Analysis:
    """What notebook 04 analyses (see the module docstring)."""
    runs = paths.runs_dir(runs_dir)
    own = run_folder(run_name, "", runs_dir)  # no name: interactive-<$MTLIB_PROFILE>
    if checkpoint:
        stage = Path(checkpoint)
        if stage.suffix == ".safetensors":
            stage = stage.parent
        if not (stage / "predictions").is_dir():
            return Analysis(None, None, f"**`{stage}` holds no predictions.** Point `checkpoint` at a finished stage folder.")
        run = stage.parent.parent if stage.parent.name == "stages" else stage
        mine = run.resolve() == own.resolve()
        out = run if mine else analyses_folder(runs, run)
        why = f"Analysing `{stage}` (the `checkpoint` parameter). Figures go to `{out / 'figures'}`."
        return Analysis(out, stage, why, analysis.load_predictions(stage, "dev"))
    if finished_stages(own):
        chosen, stage, n = _reported(own)
        why = (
            f"Analysing run `{own.name}`, stage `{chosen}`: the stage it reports, the best mean dev score of its "
            f"{n} finished stage(s). Figures go to `{own / 'figures'}`."
        )
        return Analysis(own, stage, why, analysis.load_predictions(stage, "dev"))
    others = finished_runs(runs)
    view = Analysis(None, None, NOTHING_YET + f" (No finished stage in `{own}`.)")
    if others:
        view.why += f" Or analyse a finished run: set `run_name` to one of {', '.join(f'`{r.name}`' for r in others[:5])}" + (
            ", or pick one below." if interactive else "."
        )
    if interactive and others:
        _show_picker(view, others, runs)
    return view


def _show_picker(view: Analysis, others: list[Path], runs: Path) -> None:
    """An ipywidgets dropdown of the finished runs; a choice loads it into `view`."""
    import ipywidgets as widgets
    from IPython.display import display

    picker = widgets.Dropdown(options=[("choose a finished run", None), *((r.name, r) for r in others)], description="run")
    said = widgets.Output()

    def chosen(change: dict[str, Any]) -> None:
        run = change["new"]
        if run is None:
            return
        name, stage, n = _reported(run)
        out = analyses_folder(runs, run)
        view.pick(
            stage, out, f"Analysing run `{run.name}`, stage `{name}` (picked; {n} finished stage(s)). Figures go to `{out / 'figures'}`."
        )
        with said:
            said.clear_output()
            display(narrative.md(f"Loaded `{run.name}`. Now run the cells below (Run → Run Selected Cell and All Below)."))

    picker.observe(chosen, names="value")
    display(widgets.VBox([picker, said]))
