"""`python -m mtlib sweep --profile cpu --seeds 0,1,2 --grid finetune.lr=2e-5,5e-5`: a grid
of recipe runs, then their comparison.

Every point of the grid (the product of the `--grid` settings; `STAGE.KEY` sets one stage, as
`--set` does for the recipe) runs with every seed through `mtlib.workbook.training.recipe.run_recipe`, into a run
folder named from the profile, the point and the seed alone:

    runs/sweep-cpu-finetune.lr_2e-5-s0/      "sweep", profile, each setting_value, seed

So the same command finds its runs again: a finished run (its results.json, recorded with the
same settings) is skipped without loading anything, an unfinished one continues (its finished
stages reused, an interrupted one resumed). Progress is one line per run, with the time left
estimated from the runs trained so far. Last, `mtlib.workbook.reports.compare` compares every run of the sweep,
with each point's seeds as a group (mean ± sd), into --out (default runs/sweeps/<sweep>/).

A value holding commas (`pair_encoding=para=cross,sts=bi`) needs `;` between the values:
`--grid 'pair_encoding=cross;para=cross,sts=bi'`.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...util import paths
from ...util.errors import ConfigError, run_command
from .recipe import parse_sets, recorded_sets, run_recipe


@dataclass(frozen=True)
class SweepRun:
    name: str
    seed: int
    point: tuple[tuple[str, str], ...]  # ((setting, value), ...) of the grid

    @property
    def sets(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.point] + [f"seed={self.seed}"]

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.point) or "profile as is"


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """`KEY=V1,V2` (or `KEY=V1;V2` when a value holds commas) into [(KEY, [V1, V2])]."""
    grid = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ConfigError(f"--grid {item!r}: expected KEY=VALUE1,VALUE2 (or STAGE.KEY=...)")
        split = [v.strip() for v in values.split(";" if ";" in values else ",") if v.strip()]
        if len(set(split)) != len(split):
            raise ConfigError(f"--grid {item!r} lists a value twice")
        grid.append((key.strip(), split))
    keys = [k for k, _ in grid]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--grid names a setting twice: {keys}")
    return grid


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def plan(profile: str, seeds: list[int], grid: list[tuple[str, list[str]]]) -> list[SweepRun]:
    """Every (grid point, seed), named `sweep-<profile>-<setting>_<value>-...-s<seed>` (the
    prefix keeps them apart from workbook runs such as `cpu-s1`)."""
    stem = _slug(Path(profile).stem if profile.endswith((".yaml", ".yml")) else profile)
    runs = []
    for values in itertools.product(*(v for _, v in grid)):
        point = tuple(zip((k for k, _ in grid), values))
        for seed in seeds:
            name = "-".join(["sweep", stem, *(_slug(f"{k}_{v}") for k, v in point), f"s{seed}"])
            runs.append(SweepRun(paths.check_run_name(name), seed, point))
    names = [r.name for r in runs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ConfigError(
            f"two grid points give the same run name {clashes[0]!r}: their values differ only in characters a name cannot hold"
        )
    return runs


def refuse_seed_settings(grid: list[tuple[str, list[str]]], sets: list[str]) -> None:
    """A sweep's seeds are `--seeds` alone: a `--grid` or `--set` that sets `seed` (in every stage
    or in one) is refused, as its runs would be named and grouped by one seed and trained with another."""
    keys = [("--grid", key) for key, _ in grid] + [("--set", item.partition("=")[0].strip()) for item in sets]
    for flag, key in keys:
        if key.rpartition(".")[2] == "seed":
            raise ConfigError(f"{flag} {key}=...: a sweep's seeds come from --seeds alone; pass --seeds 1,2 instead")


def finished_with(folder: Path, profile: str, sets: list[str]) -> bool:
    """Whether `folder` holds a finished recipe run of `profile` with exactly `sets`; a finished
    run with other settings is refused (it is not this sweep's)."""
    done = folder / "results.json"
    if not done.is_file():
        return False
    from ..reports.run_summaries import read_summary

    recorded = read_summary(done)
    if not isinstance(recorded, dict):
        raise ConfigError(f"{done}: not a run's results.json (a JSON {type(recorded).__name__}); move the run folder away and rerun")
    common, per_stage = parse_sets(recorded_sets(sets))  # as the run recorded them
    wanted = {"all_stages": common, **{s: v for s, v in per_stage.items() if v}}
    if not same_profile(recorded.get("profile"), profile) or _training(recorded.get("settings") or {}) != _training(wanted):
        raise ConfigError(
            f"{folder} finished with other settings (profile {recorded.get('profile')!r}, {recorded.get('settings')}) "
            f"than this sweep asks ({profile!r}, {wanted}); move it away or use another --runs_dir"
        )
    return True


def same_profile(recorded: Any, profile: str) -> bool:
    """Whether a run's recorded profile is `profile`: the same name, or the same YAML file however
    it is spelt (the recipe records a profile file by its resolved path)."""
    if recorded == profile:
        return True
    if not isinstance(recorded, str) or not profile.endswith((".yaml", ".yml")) or not recorded.endswith((".yaml", ".yml")):
        return False
    from ...config.yaml_files import profile_path

    try:
        return profile_path(recorded).resolve() == profile_path(profile).resolve()
    except ConfigError:
        return False


def _training(settings: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Recipe settings without those that only change how a run is carried out (threads, ...)."""
    from ...config.config import RUN_ONLY

    kept = {stage: {k: v for k, v in values.items() if k not in RUN_ONLY} for stage, values in settings.items()}
    return {stage: values for stage, values in kept.items() if values or stage == "all_stages"}


def sweep(
    profile: str,
    seeds: list[int],
    grid: list[tuple[str, list[str]]],
    sets: list[str] | None = None,
    root: str | Path | None = None,
    out: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every point and seed not yet finished (`plan`), then compare them all."""
    from ..reports.compare import compare

    say = say or (lambda text: print(f"[sweep] {text}", flush=True))
    refuse_seed_settings(grid, sets or [])
    runs = plan(profile, seeds, grid)
    runs_dir = paths.runs_dir(root or "")
    done = run_each(runs, profile, sets or [], runs_dir, say, lambda run, all_sets: run_recipe(profile, run.name, all_sets, root=runs_dir))
    out = Path(out) if out else runs_dir / "sweeps" / "-".join([_slug(Path(profile).stem), *(_slug(k) for k, _ in grid)] or ["seeds"])
    folders = [runs_dir / r.name for r in runs]
    if len(folders) > 1:
        compare(folders, out, groups={r.name: r.label for r in runs})
    else:
        say("one run: nothing to compare")
    return {"runs": [r.name for r in runs], **done, "out": str(out)}


def run_each(
    runs: list[Any],
    profile: str,
    sets: list[str],
    runs_dir: Path,
    say: Callable[[str], None],
    train: Callable[[Any, list[str]], dict[str, Any]],
) -> dict[str, list[str]]:
    """Train each of `runs` (each with a `name`, `sets`, `seed` and `label`) that has not finished
    with its settings; a finished one is skipped without loading anything, an unfinished one
    continues. One line per run, with the time left estimated from the runs trained so far."""
    done: dict[str, list[str]] = {"trained": [], "skipped": []}
    spent: list[float] = []
    for i, run in enumerate(runs, start=1):
        folder = runs_dir / run.name
        all_sets = [*sets, *run.sets]
        head = f"{i}/{len(runs)} {run.name} ({run.label}, seed {run.seed})"
        if finished_with(folder, profile, all_sets):
            say(f"{head}: finished before, skipped")
            done["skipped"].append(run.name)
            continue
        say(f"{head}: {'continuing' if folder.exists() else 'training'} ...")
        start = time.perf_counter()
        results = train(run, all_sets)
        spent.append(time.perf_counter() - start)
        left = sum(1 for r in runs[i:] if not (runs_dir / r.name / "results.json").is_file())
        eta = f"; about {left * sum(spent) / len(spent) / 60:.1f} min left" if left else ""
        say(f"{head}: done in {spent[-1]:.0f} s, mean dev {results['dev_mean']:.3f}{eta}")
        done["trained"].append(run.name)
    return done


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected whole numbers, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected distinct whole numbers, e.g. 0,1,2")
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", help="mtlib/profiles/<profile>.yaml (or a YAML path)")
    parser.add_argument("--seeds", type=_seeds, default=[0], help="comma-separated seeds (default 0)")
    parser.add_argument("--grid", action="append", default=[], metavar="[STAGE.]KEY=V1,V2", help="a setting's values (repeatable)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="[STAGE.]KEY=VALUE", help="a fixed setting for every run (repeatable)"
    )
    parser.add_argument("--runs_dir", default="", help="folder for run folders (default: $MTLIB_RUNS or runs/)")
    parser.add_argument("--out", default="", help="folder for the comparison (default: runs/sweeps/<profile>-<grid settings>/)")
    args = parser.parse_args(argv)

    def work() -> None:
        sweep(args.profile, args.seeds, parse_grid(args.grid), args.set, args.runs_dir or None, args.out or None)

    return run_command("mtlib.sweep", work)


if __name__ == "__main__":
    sys.exit(main())
