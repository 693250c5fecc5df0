"""`python -m mtlib recipe --profile P --run R`: a profile's training stages, without notebooks.

The same stages, in the same order and with the same checkpoint chaining, as notebooks 02 and
03 run (`mtlib.workbook.training.stages`), into the same folders (`runs/<run>/stages/<stage>/`), with
the same `results.json` at the end. It is the batch form of the workbook, for seeds and
ablations, and for machines without Jupyter:

    python -m mtlib recipe --profile cpu-full --run cpu-full-s1 --set seed=1
    python -m mtlib recipe --profile cpu --run abl-rr --set finetune.task_scheduler=round_robin

`--set KEY=VALUE` changes a setting in every stage; `--set STAGE.KEY=VALUE` in one stage only.
A finished stage is not run again when its recorded settings are the ones asked for (other
settings are refused, naming them; `--overwrite` trains again), and an interrupted one resumes
from its saved state, so re-running the same command continues a run that was stopped. Last, the
`test` stage predicts the test split with the reported checkpoint (`stages.run_test_stage`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from ...config.yaml_files import content_sha256, profile_path
from ...store.run_folder import locked
from ...util import paths
from ...util.errors import MtlibError, run_command
from ..notebooks.runner import RECIPE_MARKER, check_run_folder, from_root_if_under
from ..reports import report
from .stages import STAGE_NAMES, check_stages, finished_stages, run_stage, run_test_stage, stage_name, starts_elsewhere


def parse_sets(items: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """`KEY=VALUE` (every stage) and `STAGE.KEY=VALUE` (one stage) settings, values as on the CLI."""
    common: dict[str, Any] = {}
    per_stage: dict[str, dict[str, Any]] = {s: {} for s in STAGE_NAMES}
    for item in items:
        if "=" not in item:
            raise MtlibError(f"--set {item!r}: expected KEY=VALUE or STAGE.KEY=VALUE")
        key, value = item.split("=", 1)
        parsed = value  # a string, coerced by the setting's type as on the command line ("off" stays "off")
        stage, _, name = key.rpartition(".")
        stage = stage_name(stage)
        if not stage:
            common[name] = parsed
        elif stage in per_stage:
            per_stage[stage][name] = parsed
        else:
            raise MtlibError(f"--set {item!r}: unknown stage {stage!r}; stages are {', '.join(STAGE_NAMES)}")
    return common, per_stage


def recorded_sets(items: list[str]) -> list[str]:
    """`--set` items as the run records them (results.json, its command): a value that is an
    absolute path under the project root written from the root, as data_dir is read (issue 25)."""
    out = []
    for item in items:
        key, eq, value = item.partition("=")
        out.append(f"{key}{eq}{from_root_if_under(value)}")
    return out


def run_recipe(
    profile: str,
    run_name: str,
    sets: list[str] | None = None,
    root: str | Path | None = None,
    command: str = "",
    overwrite: bool = False,
    stages: tuple[str, ...] = STAGE_NAMES,
) -> dict[str, Any]:
    """Every training stage of `profile` into runs/<run_name>/ (`mtlib.workbook.training.stages.run_stage`: a
    finished stage with the same settings is kept, an interrupted one resumes), then the test
    stage and the run's results.json. `overwrite` trains every stage again; `stages` (the first
    ones, in order) leaves the later stages out."""
    if stages != STAGE_NAMES[: len(stages)] or not stages:
        raise MtlibError(f"stages {list(stages)}: expected the first stages of {', '.join(STAGE_NAMES)}, in order")
    common, per_stage = parse_sets(sets or [])
    if starts_elsewhere(common):  # every stage would start from it, and stages 2 and 3 not from their input stage
        raise MtlibError(
            "--set pretrained_model_name=...: give it for the stage that starts from it: "
            "individual_pretrain.pretrained_model_name=CKPT starts the chain from CKPT, "
            "finetune.pretrained_model_name=CKPT starts stage 2 from CKPT instead of stage 1"
        )
    folder = paths.run_folder(run_name, root or "").resolve()
    if Path(profile).suffix in (".yaml", ".yml"):  # a profile file: recorded as the file that ran
        profile = str(profile_path(profile))
    check_stages(profile, folder, common, per_stage, stages)  # before the lock is taken and anything written
    check_run_folder(folder, overwrite, maker="recipe")  # before the lock: a refusal leaves no trace
    with locked(folder):  # the workbook's lock too: one command at a time in a run folder
        check_run_folder(folder, overwrite, maker="recipe")  # under the lock: the folder as it is now
        (folder / RECIPE_MARKER).touch()
        return _run_recipe(profile, run_name, folder, sets or [], common, per_stage, command, overwrite, stages)


def _run_recipe(
    profile: str,
    run_name: str,
    folder: Path,
    sets: list[str],
    common: dict[str, Any],
    per_stage: dict[str, dict[str, Any]],
    command: str,
    overwrite: bool,
    stages: tuple[str, ...] = STAGE_NAMES,
) -> dict[str, Any]:
    def say(text: str) -> None:
        print(f"[recipe] {text}", flush=True)

    for stage in stages:  # progress as the profile says (the study's are off: short logs); --set progress=false hides it
        run_stage(
            profile, folder, stage, {**common, **per_stage[stage]}, common=common, retrain=overwrite, replace_other_model=overwrite, say=say
        )
    run_test_stage(profile, folder, common, say=say)
    results = report.collect(folder, profile, run_name, finished_stages(folder), {}, [])
    results["command"] = command or f"python -m mtlib.recipe --profile {profile} --run {run_name}" + "".join(
        f" --set {shlex.quote(s)}" for s in recorded_sets(sets)
    )
    common, per_stage = parse_sets(recorded_sets(sets))
    results["settings"] = {"all_stages": common, **{s: v for s, v in per_stage.items() if v}}
    results["profile_sha256"] = content_sha256(profile_path(profile).read_bytes())  # the profile by content
    report.write(folder, results)
    say(str(folder / "results.json"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib recipe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", help="mtlib/profiles/<profile>.yaml (or a YAML path)")
    parser.add_argument("--run", required=True, help="run name: runs/<run>/")
    parser.add_argument("--runs_dir", default="", help="folder for run folders (default: $MTLIB_RUNS or runs/)")
    parser.add_argument("--set", action="append", default=[], metavar="[STAGE.]KEY=VALUE", help="a setting (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help="train every stage again, even those that finished")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv

    def work() -> None:
        run_recipe(args.profile, args.run, args.set, args.runs_dir or None, "python -m mtlib.recipe " + shlex.join(argv), args.overwrite)

    return run_command("mtlib.recipe", work)


if __name__ == "__main__":
    sys.exit(main())
