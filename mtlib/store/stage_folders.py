"""What a workbook or recipe run folder holds: its stage folders, read.

A workbook run is a folder of stage run folders, each started from the one before:

    runs/<run>/stages/individual_pretrain/   heads alone, encoder frozen
    runs/<run>/stages/finetune/              the whole model, the profile's task schedule
    runs/<run>/stages/finetune_vaccine/      GradVac + PAL
    runs/<run>/stages/test/                  the test split, predicted with the reported checkpoint

The workbook trains them (`mtlib.workbook.training.stages`); the core reads them here, because
`predict` and `export` load a workbook or recipe run by its reported stage (`reported_checkpoint`),
and the result tables read which stage a run reports (`reported_stage_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.config import RENAMED_STAGES
from ..util.errors import ConfigError
from .results_file import RunResult


@dataclass(frozen=True)
class Stage:
    name: str  # the profile's `stages:` key and the folder name
    title: str
    input: str | None  # the stage whose checkpoint it starts from
    old_names: tuple[str, ...] = ()  # what older profiles and run folders call it


STAGES = (
    Stage("individual_pretrain", "stage 1: heads alone, frozen encoder", None),
    Stage("finetune", "stage 2: fine-tune, the profile's task schedule", "individual_pretrain", ("finetune_pal",)),
    Stage("finetune_vaccine", "stage 3: GradVac + PAL", "finetune"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)
BY_NAME = {s.name: s for s in STAGES}
TEST_STAGE = "test"  # after the training stages: the test split, predicted with the reported checkpoint


def stage_name(name: str) -> str:
    """A stage's current name, also for a name it had before (`RENAMED_STAGES`)."""
    return RENAMED_STAGES.get(name, name)


def stage_folder(run: str | Path, stage: str) -> Path:
    """runs/<run>/stages/<stage>/; in a run folder written before a rename, the folder of the
    stage's old name."""
    stage = stage_name(stage)
    folder = Path(run) / "stages" / stage
    if not folder.exists() and stage in BY_NAME:
        for old in BY_NAME[stage].old_names:
            if (Path(run) / "stages" / old).exists():
                return Path(run) / "stages" / old
    return folder


def is_finished(folder: Path) -> bool:
    return (folder / "results.json").is_file()


def read_results(folder: Path) -> RunResult:
    return RunResult.read(folder)


def finished_stages(run: str | Path) -> dict[str, Path]:
    """The training stages of `run` that have finished, in order."""
    return {s.name: stage_folder(run, s.name) for s in STAGES if is_finished(stage_folder(run, s.name))}


def reported_stage_of(per_stage: dict[str, Any]) -> str:
    """The stage whose checkpoint a run reports: the one with the best mean dev score. Dev
    chooses the checkpoint across stages as it does across epochs within a stage; a tie goes to
    the later stage. (The CS224N reference project's recipe usually ends best at its last stage, not always: a short
    stage 3 can lower the mean.)"""
    order = [s for s in STAGE_NAMES if s in per_stage] + [s for s in per_stage if s not in STAGE_NAMES]
    return max(reversed(order), key=lambda s: _dev_mean(per_stage[s]))


def _dev_mean(summary: RunResult | dict[str, Any]) -> float:
    return summary.dev_mean if isinstance(summary, RunResult) else summary["dev_mean"]


def reported_stage(stages: dict[str, Path]) -> str:
    """`reported_stage_of` of finished stage run folders (read from their results.json)."""
    return reported_stage_of({s: read_results(path) for s, path in stages.items()})


def reported_checkpoint(path: str | Path) -> Path:
    """The weights a folder stands for: a stage (or CLI) run folder's own `model.safetensors`;
    for a workbook or recipe run folder, the reported stage's (`reported_stage`); for a test
    stage folder, the checkpoint it tested. A `.safetensors` file is itself."""
    from .checkpoints import MODEL_WEIGHTS, resolve_checkpoint

    path = Path(path)
    if path.is_dir() and not (path / MODEL_WEIGHTS).exists():
        if finished_stages(path):
            return resolve_checkpoint(stage_folder(path, reported_stage(finished_stages(path))))
        if is_finished(path) and read_results(path).checkpoint:
            return resolve_checkpoint(read_results(path).checkpoint)
        if (path / "stages").is_dir():
            raise ConfigError(f"run {path} has no finished training stage yet: nothing to load")
    return resolve_checkpoint(path)
