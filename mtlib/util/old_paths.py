"""Module paths from before the core moved into folders (issue 27) and the workbook into rooms
(issue 36), kept importable.

The hook stays because recorded commands are evidence: results/**/*.json and command.txt say
`python -m mtlib.recipe ...` (and `python -m mtlib.workbook ...`), and a reader must be able to
run them as they were recorded. Saved commands (`python -m mtlib.recipe`, `python -m
mtlib.datafiles`, `python -m mtlib.workbook.lab`, ...) and code written against the flat layouts
(`from mtlib.checkpoints import ...`, `from mtlib.workbook.study_rows import ...`) still work:
the old name is the new module (the same object, not a copy). New code imports the new paths; a
test checks that mtlib, its tests and notebooks do, and that no old name is a module again.
(`mtlib.workbook.figures`, once a module, is the figures room now: its package hands on the old
module's names, `mtlib.workbook.figures.common`.)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {  # old module -> where it lives now
    "mtlib.errors": "mtlib.util.errors",
    "mtlib.paths": "mtlib.util.paths",
    "mtlib.progress": "mtlib.util.progress",
    "mtlib.config_sections": "mtlib.config.sections",
    "mtlib.config_checks": "mtlib.config.checks",
    "mtlib.config_cli": "mtlib.config.command_line",
    "mtlib.yaml_files": "mtlib.config.yaml_files",
    "mtlib.tasks": "mtlib.config.tasks",
    "mtlib.data.tasks": "mtlib.config.tasks",  # the task facts became the config's leaf (issue 36)
    "mtlib.batching": "mtlib.data.batching",
    "mtlib.datafiles": "mtlib.data.download",
    "mtlib.encoders": "mtlib.model.encoders",
    "mtlib.pal": "mtlib.model.pal",
    "mtlib.amp": "mtlib.model.amp",
    "mtlib.compiling": "mtlib.model.compiling",
    "mtlib.schedule": "mtlib.train.optimization",
    "mtlib.schedulers": "mtlib.train.task_schedulers",
    "mtlib.gradients": "mtlib.train.gradients",
    "mtlib.distributed": "mtlib.train.distributed",
    "mtlib.evaluate": "mtlib.train.evaluate",
    "mtlib.checkpoints": "mtlib.store.checkpoints",
    "mtlib.runs": "mtlib.store.run_folder",
    "mtlib.run_result": "mtlib.store.results_file",
    "mtlib.recorded": "mtlib.store.recorded_config",
    "mtlib.tensorboard": "mtlib.store.tensorboard",
    "mtlib.loading": "mtlib.run.loading",
    "mtlib.pipeline": "mtlib.run.pipeline",
    "mtlib.stages": "mtlib.workbook.training.stages",
    "mtlib.predict": "mtlib.use.predict",
    "mtlib.export": "mtlib.use.export",
    "mtlib.convert": "mtlib.use.convert",
    "mtlib.standalone_loader": "mtlib.use.standalone_loader",
    "mtlib.cli": "mtlib.__main__",
    "mtlib.recipe": "mtlib.workbook.training.recipe",  # the three entry points of `python -m mtlib.<name>`
    "mtlib.sweep": "mtlib.workbook.training.sweep",
    "mtlib.result_tables": "mtlib.workbook.reports.result_tables",
    # the workbook's flat modules, before its rooms (issue 36): `python -m mtlib.workbook.recipe`,
    # `python -m mtlib.workbook.lab`, and code that imports them
    "mtlib.run.stages": "mtlib.workbook.training.stages",
    "mtlib.workbook.stages": "mtlib.workbook.training.stages",
    "mtlib.workbook.runner": "mtlib.workbook.notebooks.runner",
    "mtlib.workbook.notebook_exec": "mtlib.workbook.notebooks.execute",
    "mtlib.workbook.notebook_sources": "mtlib.workbook.notebooks.sources",
    "mtlib.workbook.parameters": "mtlib.workbook.notebooks.parameters",
    "mtlib.workbook.lab": "mtlib.workbook.notebooks.lab",
    "mtlib.workbook.recipe": "mtlib.workbook.training.recipe",
    "mtlib.workbook.sweep": "mtlib.workbook.training.sweep",
    "mtlib.workbook.plots": "mtlib.workbook.figures.plots",
    "mtlib.workbook.error_plots": "mtlib.workbook.figures.error_plots",
    "mtlib.workbook.budget_figure": "mtlib.workbook.figures.budget",
    "mtlib.workbook.study_outputs": "mtlib.workbook.figures.forest",
    "mtlib.workbook.study_rows": "mtlib.workbook.study.rows",
    "mtlib.workbook.study_stats": "mtlib.workbook.study.stats",
    "mtlib.workbook.study_report": "mtlib.workbook.study.report",
    "mtlib.workbook.study_records": "mtlib.workbook.study.records",
    "mtlib.workbook.study_launch": "mtlib.workbook.study.launch",
    "mtlib.workbook.explore": "mtlib.workbook.sections.explore",
    "mtlib.workbook.history": "mtlib.workbook.sections.history",
    "mtlib.workbook.narrative": "mtlib.workbook.sections.narrative",
    "mtlib.workbook.analysis": "mtlib.workbook.sections.analysis",
    "mtlib.workbook.run_analysis": "mtlib.workbook.sections.run_analysis",
    "mtlib.workbook.playground": "mtlib.workbook.sections.playground",
    "mtlib.workbook.trivial_baselines": "mtlib.workbook.sections.trivial_baselines",
    "mtlib.workbook.report": "mtlib.workbook.reports.report",
    "mtlib.workbook.model_card": "mtlib.workbook.reports.model_card",
    "mtlib.workbook.result_tables": "mtlib.workbook.reports.result_tables",
    "mtlib.workbook.score_tables": "mtlib.workbook.reports.score_tables",
    "mtlib.workbook.run_summaries": "mtlib.workbook.reports.run_summaries",
    "mtlib.workbook.compare": "mtlib.workbook.reports.compare",
}
# mtlib.config, mtlib.data and mtlib.model were modules and are now folders: their __init__
# hands the old module's names on (config.py, task_files.py, multitask_bert.py).


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):  # the new module itself, so there is one copy of its state
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        pass

    def get_code(self, fullname: str):  # `python -m <old name>` runs the new module as __main__
        return compile(f"import runpy\nrunpy.run_module({self.target!r}, run_name='__main__', alter_sys=True)", fullname, "exec")

    def is_package(self, fullname: str) -> bool:
        return False


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None:
            for old, moved in MOVED.items():  # a submodule of a moved package (mtlib.gradients.pcgrad)
                if fullname.startswith(old + "."):
                    new = moved + fullname[len(old) :]
                    break
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
