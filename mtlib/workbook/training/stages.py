"""The stages as the notebooks and the recipe train them, written once: the stage chain
(individual_pretrain -> finetune -> finetune_vaccine, then the test stage), with the workbook's
figures recorded along the way (`mtlib.workbook.figures.error_plots.RECORDERS`).

    run = stages.run_folder("cpu-s1")
    stage = stages.run_stage("cpu", run, "individual_pretrain")

What a run folder of stages holds, and which stage it reports, is the core's
(`mtlib.store.stage_folders`: `predict` and `export` read it too); training them is the
workbook's. `run_stage` never trains what is already there: a finished stage is reused when its
recorded settings are the ones asked for (and refused, naming the settings that differ, when
they are not), an interrupted one resumes from its saved state, and a stage whose input stage
has not run trains that one first. Which notebook trains which stage is the runner's
(`mtlib.workbook.notebooks.runner`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config.config import Config, flatten
from ...store.checkpoints import state_exists
from ...store.recorded_config import recorded_config
from ...store.results_file import RunResult
from ...store.stage_folders import (  # noqa: F401 (the notebooks' names for the stage folders, here too)
    BY_NAME,
    STAGE_NAMES,
    STAGES,
    TEST_STAGE,
    Stage,
    finished_stages,
    is_finished,
    read_results,
    reported_checkpoint,
    reported_stage,
    reported_stage_of,
    stage_folder,
    stage_name,
)
from ...util.errors import ConfigError
from ...util.files import atomic_write_text
from ...util.paths import run_folder

if TYPE_CHECKING:
    from ...train.loop import Recorder

__all__ = [
    "STAGE_NAMES", "finished_stages", "notebook_settings", "reported_stage", "run_folder", "run_stage", "run_test_stage", "stage_folder", "stage_name"
]  # fmt: skip


SET_BY_THE_RUN = ("resume", "save_path")  # a stage's folder is runs/<run>/stages/<stage>: no setting points it into another run


@dataclass
class StageRun:
    """A stage as `run_stage` left it: trained now, resumed, or reused."""

    stage: str
    folder: Path
    cfg: Config
    results: RunResult
    how: str  # "trained", "resumed" or "reused"


def stage_config(profile: str, run: str | Path, stage: str, settings: dict[str, Any] | None = None) -> Config:
    """The profile's settings for `stage` of `run`, then `settings` (empty strings and None keep
    the profile's value, as papermill passes them), chained to the input stage's folder."""
    stage = stage_name(stage)
    if stage not in BY_NAME:
        raise ConfigError(f"no stage {stage!r}; stages are {', '.join(STAGE_NAMES)}")
    given = {k: v for k, v in (settings or {}).items() if v not in ("", None)}
    into = sorted(set(flatten(given, "settings")) & set(SET_BY_THE_RUN))
    if into:
        raise ConfigError(
            f"{into[0]} is not a stage setting: stage {stage} of run {Path(run).name} trains into {stage_folder(run, stage)} "
            "and nowhere else. To continue a run, run the same command again; to write elsewhere, choose another run name"
        )
    cfg = Config.from_profile(profile, stage)
    cfg.update(given, source="settings")
    previous = BY_NAME[stage].input
    if previous and not starts_elsewhere(given):  # a checkpoint given for this stage replaces its input stage's
        cfg.train.pretrained_model_name = str(stage_folder(run, previous))
    cfg.run.save_path = str(stage_folder(run, stage))
    return cfg


def starts_elsewhere(settings: dict[str, Any] | None) -> bool:
    """Whether `settings` give the stage its own starting checkpoint (`pretrained_model_name`)."""
    return bool(flatten({k: v for k, v in (settings or {}).items() if v not in ("", None)}, "settings").get("pretrained_model_name"))


# notebook parameter -> (the stages it sets, the Config setting, the value that means "the profile's").
# The one map of notebook parameters to stage settings: notebooks 02 and 03 train with
# `notebook_settings`, and `make workbook` checks the same settings before anything is written
# (`mtlib.workbook.notebooks.parameters`). Notebook 03's old names pal_epochs / pal_lr are retired
# (issue 36): no committed notebook or recorded run (results/) gives them.
NOTEBOOK_SETTINGS: dict[str, tuple[tuple[str, ...], str, Any]] = {
    "encoder": (STAGE_NAMES, "encoder", ""),
    "data_dir": (STAGE_NAMES, "data_dir", ""),
    "max_train_examples": (STAGE_NAMES, "max_train_examples", -1),
    "seed": (STAGE_NAMES, "seed", -1),
    "max_length": (STAGE_NAMES, "max_length", 0),
    "epochs": (("individual_pretrain",), "epochs", 0),
    "lr": (("individual_pretrain",), "lr", 0),
    "finetune_epochs": (("finetune",), "epochs", 0),
    "finetune_lr": (("finetune",), "lr", 0),
    "vaccine_epochs": (("finetune_vaccine",), "epochs", 0),
    "vaccine_lr": (("finetune_vaccine",), "lr", 0),
}


def notebook_settings(**parameters: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Notebook parameters (`NOTEBOOK_SETTINGS`) as stage settings: `(common, per_stage)`. One at
    its "the profile's" value sets nothing; one every stage reads is common (it also reaches an
    input stage trained first because it was missing), the others go to their stage's settings."""
    common: dict[str, Any] = {}
    per_stage: dict[str, dict[str, Any]] = {s: {} for s in STAGE_NAMES}
    for name, value in parameters.items():
        if name not in NOTEBOOK_SETTINGS:
            raise ConfigError(f"{name} is no notebook parameter of a stage setting; those are {', '.join(NOTEBOOK_SETTINGS)}")
        stages, setting, profiles = NOTEBOOK_SETTINGS[name]
        if value is None or value == profiles:
            continue
        for settings in [common] if stages == STAGE_NAMES else [per_stage[s] for s in stages]:
            settings[setting] = value
    return common, per_stage


def check_stages(
    profile: str,
    run: str | Path,
    common: dict[str, Any],
    per_stage: dict[str, dict[str, Any]],
    stages: Sequence[str] = STAGE_NAMES,
    given: str = "",
) -> None:
    """Each stage's settings (`common`, then its own) validated, once, before anything is written:
    the recipe's and the workbook runner's check. `given` says where the settings came from, for
    the refusal."""
    for stage in stages:
        try:
            stage_config(profile, run, stage, {**common, **per_stage.get(stage, {})}).validate()
        except ConfigError as exc:
            if not given:
                raise
            raise ConfigError(f"{given} give stage {stage} settings it cannot train with: {exc}") from None


SHOWN_DIFFERENCES = 3  # a refusal names this many differing settings, then counts the rest


def _refuse_other_settings(stage: str, folder: Path, asked: Config, what: str, own_start: bool = False) -> None:
    """A stage's input-stage path may move with the run; a starting checkpoint of its own is compared."""
    recorded = recorded_config(folder)
    diff = asked.differences(recorded, ignore=() if own_start else ("pretrained_model_name",))
    if diff:
        shown = "; ".join(f"{k}: {theirs!r} there, {mine!r} asked" for k, (mine, theirs) in list(diff.items())[:SHOWN_DIFFERENCES])
        if len(diff) > SHOWN_DIFFERENCES:
            shown += f"; {len(diff) - SHOWN_DIFFERENCES} more"
        raise ConfigError(
            f"stage {stage} of run {folder.parent.parent.name} {what} with other settings ({shown}): "
            "set retrain = True to train it again (OVERWRITE=1 for make workbook, --overwrite for the recipe), or another run_name"
        )


def run_stage(
    profile: str,
    run: str | Path,
    stage: str,
    settings: dict[str, Any] | None = None,
    *,
    common: dict[str, Any] | None = None,
    retrain: bool = False,
    replace_other_model: bool = False,
    say: Callable[[str], None] = print,
    recorders: Sequence[Recorder] | None = None,
) -> StageRun:
    """Train `stage` of the run folder `run` unless it is already there (see the module
    docstring). `settings` apply to this stage; `common` (encoder, data, rows, seed) also to an
    input stage trained first because it was missing. `retrain` trains a finished stage again,
    but one another encoder or profile trained only with `replace_other_model` too. `recorders`:
    the hooks on the training loop (`mtlib.run.pipeline.run`); the workbook's figures (`RECORDERS`) unless told."""
    from ...run.pipeline import run as run_pipeline
    from ..figures.error_plots import RECORDERS

    recorders = RECORDERS if recorders is None else recorders

    run, stage = Path(run), stage_name(stage)
    folder = stage_folder(run, stage)
    spec = BY_NAME.get(stage)
    if spec is None:
        raise ConfigError(f"no stage {stage!r}; stages are {', '.join(STAGE_NAMES)}")
    if spec.input and not is_finished(stage_folder(run, spec.input)) and not starts_elsewhere(settings):
        say(f"[{stage}] starts from {spec.input}, which run {run.name} has not finished: running it first")
        run_stage(profile, run, spec.input, common, common=common, say=say, recorders=recorders)
    cfg = stage_config(profile, run, stage, {**(common or {}), **(settings or {})})
    own_start = starts_elsewhere(settings)
    if own_start:  # as the stage records it: an absolute path, so that a rerun compares like with like
        cfg.train.pretrained_model_name = str(Path(cfg.train.pretrained_model_name).resolve())
    if is_finished(folder) and not retrain:
        _refuse_other_settings(stage, folder, cfg, "finished", own_start)
        say(f"[{stage}] finished before in {folder}: reused (retrain=True trains it again)")
        return StageRun(stage, folder, recorded_config(folder), read_results(folder), "reused")
    if retrain and (folder / "config.yaml").is_file():
        _check_replacing(stage, folder, cfg, profile, replace_other_model, say)
    how = "trained"
    interrupted = state_exists(folder / "state") and (folder / "config.yaml").is_file()
    if interrupted and not retrain:
        _refuse_other_settings(stage, folder, cfg, "was interrupted", own_start)
        cfg.run.resume, how = str(folder), "resumed"
        say(f"[{stage}] resuming the interrupted stage in {folder}")
    if how == "trained":
        cfg.run.overwrite = folder.exists()
        say(f"[{stage}] training into {folder}")
    results = run_pipeline(cfg, recorders)
    atomic_write_text(folder / TRAINED_WITH, Path(profile).stem + "\n")
    return StageRun(stage, folder, recorded_config(folder), results, how)


TRAINED_WITH = "profile.txt"  # in a stage folder: the profile run_stage trained it with (older stages: none)


def _check_replacing(stage: str, folder: Path, cfg: Config, profile: str, replace: bool, say: Callable[[str], None]) -> None:
    """`retrain` of a stage another encoder or profile trained: refused in one line naming the
    run, what trained it and what would replace it, unless `replace` (then said)."""
    theirs = recorded_config(folder).model.encoder
    made = (folder / TRAINED_WITH).read_text(encoding="utf-8").strip() if (folder / TRAINED_WITH).is_file() else ""
    mine = Path(profile).stem
    if theirs == cfg.model.encoder and made in ("", mine):
        return
    was = f"encoder {theirs}" + (f", profile {made}" if made else "")
    now = f"encoder {cfg.model.encoder}, profile {mine}"
    if not replace:
        raise ConfigError(
            f"stage {stage} of run {folder.parent.parent.name} was trained with {was}; retrain = True would replace it with {now}: "
            "set replace_other_model = True as well to replace it (OVERWRITE=1 for make workbook), or choose another run_name"
        )
    say(f"[{stage}] replacing the stage trained with {was} ({folder}) by one trained with {now}")


def run_test_stage(profile: str, run: str | Path, settings: dict[str, Any] | None = None, say: Callable[[str], None] = print) -> StageRun:
    """The CS224N reference project's `test` stage: the test split predicted once, with the checkpoint the run
    reports (`reported_stage`), into `stages/test/`. The profiles' training stages predict dev
    only (`predict_splits: dev`): which stage is reported is known only once they have all run.
    Kept when it already holds that checkpoint's predictions."""
    from ...run.pipeline import run as run_pipeline
    from ...store.checkpoints import resolve_checkpoint

    run = Path(run)
    chosen = reported_stage(finished_stages(run))
    path, checkpoint = stage_folder(run, TEST_STAGE), stage_folder(run, chosen)
    if is_finished(path) and read_results(path).checkpoint == str(resolve_checkpoint(checkpoint)):
        say(f"[{TEST_STAGE}] finished before, with {chosen}'s checkpoint: reused ({path})")
        return StageRun(TEST_STAGE, path, recorded_config(path), read_results(path), "reused")
    cfg = Config.from_profile(profile)
    cfg.update({k: v for k, v in (settings or {}).items() if v not in ("", None)}, source="settings")
    cfg.train.option, cfg.train.pretrained_model_name = "test", str(checkpoint)
    cfg.run.predict_splits, cfg.run.save_path, cfg.run.overwrite = "test", str(path), path.exists()
    say(f"[{TEST_STAGE}] the test split, with {chosen}'s checkpoint (the best mean dev score) ...")
    results = run_pipeline(cfg)
    return StageRun(TEST_STAGE, path, recorded_config(path), results, "trained")
