"""The stages as the notebooks and the recipe train them: the core's stage chain
(`mtlib.run.stages`) with the workbook's figures recorded along the way.

    run = stages.run_folder("cpu-s1")
    stage = stages.run_stage("cpu", run, "individual_pretrain")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..run import stages as core
from ..run.stages import STAGE_NAMES, StageRun, finished_stages, reported_stage, run_test_stage, stage_folder, stage_name
from ..util.paths import run_folder
from .error_plots import RECORDERS

__all__ = ["STAGE_NAMES", "finished_stages", "reported_stage", "run_folder", "run_stage", "run_test_stage", "stage_folder", "stage_name"]


def run_stage(profile: str, run: str | Path, stage: str, settings: dict[str, Any] | None = None, **kw: Any) -> StageRun:
    """`mtlib.run.stages.run_stage`, recording the workbook's figures (confusion matrices per epoch)."""
    return core.run_stage(profile, run, stage, settings, recorders=RECORDERS, **kw)
