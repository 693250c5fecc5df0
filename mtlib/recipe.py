"""`python -m mtlib.recipe --profile P --run R`: a profile's training stages, without notebooks.

The same stages, in the same order and with the same checkpoint chaining, as notebooks 02 and
03 run (`mtlib.workbook.STAGES`), into the same folders (`runs/<run>/stages/<stage>/`), with
the same `results.json` at the end. It is the batch form of the workbook, for seeds and
ablations, and for machines without Jupyter:

    python -m mtlib.recipe --profile cpu-full --run cpu-full-s1 --set seed=1
    python -m mtlib.recipe --profile cpu --run abl-rr --set finetune_pal.task_scheduler=round_robin

`--set KEY=VALUE` changes a setting in every stage; `--set STAGE.KEY=VALUE` in one stage only.
A finished stage (one with results.json) is not run again, and an interrupted one resumes from
its saved state, so re-running the same command continues a run that was stopped. Last, the
`test` stage predicts the test split with the reported checkpoint (`test_stage`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from . import report
from .config import Config
from .errors import MtlibError
from .report import TEST_STAGE
from .workbook import STAGES, run_dir


def parse_sets(items: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """`KEY=VALUE` (every stage) and `STAGE.KEY=VALUE` (one stage) settings, values as on the CLI."""
    common: dict[str, Any] = {}
    per_stage: dict[str, dict[str, Any]] = {s: {} for s in STAGES}
    for item in items:
        if "=" not in item:
            raise MtlibError(f"--set {item!r}: expected KEY=VALUE or STAGE.KEY=VALUE")
        key, value = item.split("=", 1)
        parsed = value  # a string, coerced by the setting's type as on the command line ("off" stays "off")
        stage, _, name = key.rpartition(".")
        if not stage:
            common[name] = parsed
        elif stage in per_stage:
            per_stage[stage][name] = parsed
        else:
            raise MtlibError(f"--set {item!r}: unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    return common, per_stage


def stage_config(profile: str, stage: str, folder: Path, previous: Path | None, settings: dict[str, Any]) -> Config:
    cfg = Config.from_profile(profile, stage)
    cfg.update(settings, source="--set")
    cfg.train.pretrained_model_name = str(previous) if previous else cfg.train.pretrained_model_name
    cfg.run.save_path = str(folder)
    cfg.run.progress = False
    if (folder / "state").is_dir():
        cfg.run.resume = str(folder)
    elif folder.exists():
        cfg.run.overwrite = True  # started but nothing saved yet: start the stage again
    return cfg


def test_stage(profile: str, folder: Path, chosen: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The seed's `test` stage: the test split predicted once, with the checkpoint the run
    reports (`chosen`, `report.chosen_stage`), into `stages/test/`. The profiles' training
    stages predict dev only (`predict_splits: dev`): which stage is reported is known only once
    they have all run. Kept when it already holds that checkpoint's predictions."""
    from .checkpoints import resolve_checkpoint
    from .pipeline import run

    path, checkpoint = folder / "stages" / TEST_STAGE, folder / "stages" / chosen
    done = json.loads((path / "results.json").read_text()) if (path / "results.json").exists() else {}
    if done.get("checkpoint") == str(resolve_checkpoint(checkpoint)):
        print(f"[recipe] {TEST_STAGE}: finished before, kept ({path})", flush=True)
        return done
    cfg = Config.from_profile(profile)
    cfg.update(settings or {}, source="--set")
    cfg.train.option, cfg.train.pretrained_model_name = "test", str(checkpoint)
    cfg.run.predict_splits, cfg.run.save_path, cfg.run.overwrite, cfg.run.progress = "test", str(path), True, False
    print(f"[recipe] {TEST_STAGE}: the test split, with {chosen}'s checkpoint ...", flush=True)
    return run(cfg)


def run_recipe(
    profile: str, run_name: str, sets: list[str] | None = None, root: str | Path | None = None, command: str = ""
) -> dict[str, Any]:
    from .pipeline import run

    common, per_stage = parse_sets(sets or [])
    folder = run_dir(run_name, root).resolve()
    stages = {s: folder / "stages" / s for s in STAGES}
    previous: Path | None = None
    for stage, path in stages.items():
        if (path / "results.json").exists():
            print(f"[recipe] {stage}: finished before, kept ({path})", flush=True)
        else:
            cfg = stage_config(profile, stage, path, previous, {**common, **per_stage[stage]})
            print(f"[recipe] {stage} ...", flush=True)
            run(cfg)
        previous = path
    test_stage(profile, folder, report.reported_stage(stages), common)
    results = report.collect(folder, profile, run_name, stages, {}, [])
    results["command"] = command or f"python -m mtlib.recipe --profile {profile} --run {run_name}" + "".join(
        f" --set {shlex.quote(s)}" for s in sets or []
    )
    results["settings"] = {"all_stages": common, **{s: v for s, v in per_stage.items() if v}}
    report.write(folder, results)
    print(f"[recipe] {folder / 'results.json'}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib.recipe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", help="notebooks/params/<profile>.yaml (or a YAML path)")
    parser.add_argument("--run", required=True, help="run name: runs/<run>/")
    parser.add_argument("--runs_dir", default="", help="folder for run folders (default: $MTLIB_RUNS or runs/)")
    parser.add_argument("--set", action="append", default=[], metavar="[STAGE.]KEY=VALUE", help="a setting (repeatable)")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    try:
        run_recipe(args.profile, args.run, args.set, args.runs_dir or None, "python -m mtlib.recipe " + shlex.join(argv))
    except MtlibError as exc:
        print(f"mtlib.recipe: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
