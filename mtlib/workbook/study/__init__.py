"""`python -m mtlib study --profile study-cpu --seeds 0,1,2`: the reference report's Table 2, row
by row, with seeds, beside the report's own numbers.

Each row of `mtlib.workbook.study.rows.ROWS` that mtlib can run is a set of settings over the
profile's recipe (the profile sets the scale: `study-cpu`, `study-gpu`; `smoke` for tests), run
with every seed through `mtlib.workbook.training.recipe.run_recipe` into a run folder named from the
profile, the row and the seed alone:

    runs/study-study-cpu-base-pal-s0/          "study", profile, row, seed

As `sweep` does (and with its machinery): a finished run with the same settings is skipped
without loading anything, an unfinished one continues. The rows it cannot run are named, with
why. Last it writes runs/studies/<profile>/study.md (the table: each row's mean ± sd over its
seeds, the report's scores, the difference from the row the report compares it with, and a
verdict per finding of the report), the figure study_differences.png/.svg beside it, and the
runs' comparison (`mtlib.workbook.reports.compare`). `--record` copies the finished runs' summaries
into results/study/, which `make results` renders into docs/results.md.

The room: rows.py (Table 2 as rows), launch.py (where the runs train), records.py (results/study/),
stats.py (the verdicts' statistics), report.py (the table and verdicts), outputs.py (study.md and
the figure); this driver is the room's front, which notebook 05 and `python -m mtlib study` call.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...util import paths
from ...util.errors import ConfigError, run_command
from ...util.files import read_json
from ..figures.forest import FIGURE, differences_figure  # noqa: F401 (notebook 05 and the tests call these here)
from ..training.sweep import _seeds, _slug, refuse_seed_settings, run_each
from . import records
from .launch import Launch, add_arguments, chosen, launch
from .outputs import write_outputs
from .report import study_block, study_lead, study_sets  # noqa: F401
from .rows import BY_ID, ROWS, Row

RECORDS = records.RECORDS


@dataclass(frozen=True)
class StudyRun:
    name: str
    row: Row
    seed: int

    @property
    def sets(self) -> list[str]:
        return [*self.row.sets, f"seed={self.seed}"]

    @property
    def label(self) -> str:
        return self.row.label


def profile_stem(profile: str) -> str:
    return _slug(Path(profile).stem if profile.endswith((".yaml", ".yml")) else profile)


def select_rows(ids: list[str] | None) -> list[Row]:
    """The rows named (all when none), in the table's order; an unknown id is refused."""
    if not ids:
        return list(ROWS)
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        raise ConfigError(f"--rows {unknown[0]!r} is no row of the study; rows are {', '.join(BY_ID)}")
    return [r for r in ROWS if r.id in ids]


def plan(profile: str, seeds: list[int], rows: list[Row]) -> list[StudyRun]:
    """Every (runnable row, seed), named `study-<profile>-<row>-s<seed>`."""
    stem = profile_stem(profile)
    return [StudyRun(paths.check_run_name(f"study-{stem}-{row.id}-s{seed}"), row, seed) for row in rows if row.runnable for seed in seeds]


def study(
    profile: str,
    seeds: list[int],
    row_ids: list[str] | None = None,
    sets: list[str] | None = None,
    root: str | Path | None = None,
    out: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every runnable row and seed not yet finished, then write the table and figure."""
    say = say or (lambda text: print(f"[study] {text}", flush=True))
    refuse_seed_settings([], sets or [])
    rows = select_rows(row_ids)
    for row in rows:
        if not row.runnable:
            say(f"not run: {row.label} ({row.id}): {row.not_runnable}")
    runs = plan(profile, seeds, rows)
    runs_dir = paths.runs_dir(root or "")
    done = train(profile, runs, sets or [], runs_dir, say)
    out = write_study(profile, runs, runs_dir, out, say)
    return {"runs": [r.name for r in runs], **done, "out": str(out), "not_run": [r.id for r in rows if not r.runnable]}


def train(profile: str, runs: list[StudyRun], sets: list[str], runs_dir: Path, say: Callable[[str], None]) -> dict[str, list[str]]:
    """Train each of `runs` not finished with its settings (`sweep.run_each`); what `study`, a
    shard and a Slurm array task (`study_launch`) do."""
    return run_each(runs, profile, sets, runs_dir, say, lambda run, all_sets: run_recipe_for(profile, run, all_sets, runs_dir))


def write_study(profile: str, runs: list[StudyRun], runs_dir: Path, out: str | Path | None, say: Callable[[str], None]) -> Path:
    """The table and figure of the finished ones among `runs`, and their comparison, into `out`
    (default runs/studies/<profile>/); returns that folder."""
    out = Path(out) if out else default_out(runs_dir, profile)
    summaries = summaries_of(runs_dir, runs, profile)
    write_outputs(summaries, out, keep_dirty=True)  # your own run folders: a dirty tree is named, not left out
    folders = [runs_dir / r.name for r in runs]
    if len(folders) > 1:
        from ..reports.compare import compare

        compare(folders, out, groups={r.name: r.row.label for r in runs})
    say(f"table: {out / 'study.md'}")
    return out


def default_out(runs_dir: Path, profile: str) -> Path:
    return runs_dir / "studies" / profile_stem(profile)


def run_recipe_for(profile: str, run: StudyRun, sets: list[str], runs_dir: Path) -> dict[str, Any]:
    from ..training.recipe import run_recipe

    return run_recipe(profile, run.name, sets, root=runs_dir, stages=run.row.stages)


# ---- records ------------------------------------------------------------------------------------
def summary_of(folder: Path, run: StudyRun, profile: str) -> dict[str, Any]:
    """A finished study run's summary (`run_summaries.summarise`) with its row, seed and profile
    (name and content hash), and each stage's own dev scores (a row is scored on its own stage,
    `Row.scored_stage`, not on the run's best one)."""
    from ..reports.run_summaries import summarise

    summary = summarise(folder, run.row.label, run.row.id)
    results = read_json(folder / "results.json")
    ran = results.get("profile") or profile
    sha = records.profile_sha256(ran, (summary.get("git") or {}).get("commit", ""), results.get("profile_sha256", ""))
    stages = {
        stage: {"dev": info.get("dev", {}), "dev_mean": info.get("dev_mean")}
        for stage, info in (results.get("stages") or {}).items()
        if isinstance(info, dict) and info.get("dev_mean") is not None
    }
    # a profile file is named by its path from the project root, never by its stem alone: a copy
    # called study-cpu.yaml is not the packaged study-cpu
    named = profile_stem(ran)
    if str(ran).endswith((".yaml", ".yml")):
        file = Path(ran).resolve()
        named = file.relative_to(paths.project_root()).as_posix() if file.is_relative_to(paths.project_root()) else f"file:{file.name}"
    study = {"row": run.row.id, "seed": run.seed, "profile": named, "profile_sha256": sha}
    return summary | {"stages": stages, "study": study}


def summaries_of(runs_dir: Path, runs: list[StudyRun], profile: str) -> list[dict[str, Any]]:
    return [summary_of(runs_dir / r.name, r, profile) for r in runs if (runs_dir / r.name / "results.json").is_file()]


def find_runs(runs_dir: str | Path = "", profile: str = "") -> list[dict[str, Any]]:
    """The summaries of every finished study run in `runs_dir` (of `profile` when given): what
    notebook 05 reads. A folder is a study run when its name is `study-<profile>-<row>-s<seed>`
    for a row of the table."""
    folder = paths.runs_dir(runs_dir)
    found = []
    for path in sorted(folder.glob("study-*-s*")) if folder.is_dir() else []:
        head, _, seed = path.name.rpartition("-s")
        row = next((r for r in ROWS if head.endswith(f"-{r.id}") and head.startswith("study-")), None)
        stem = head[len("study-") : -len(row.id) - 1] if row else ""
        if row is None or not seed.isdigit() or not stem or not (path / "results.json").is_file():
            continue
        if profile and stem != profile_stem(profile):
            continue
        found.append(summary_of(path, StudyRun(path.name, row, int(seed)), stem))
    return found


def record(
    runs_dir: str | Path = "", profile: str = "", to: Path | None = None, replace: bool = False, shared_cores: bool = False
) -> list[Path]:
    """results/study/<set>/<run>.json for every finished study run in `runs_dir` (of `profile`);
    a record made elsewhere is never replaced without `replace` (`mtlib.workbook.study.records`).
    `shared_cores`: the runs shared the machine with other work, so their wall time is not their cost."""
    found = [s | ({"shared_cores": True} if shared_cores else {}) for s in find_runs(runs_dir, profile)]
    return records.write(found, to, replace)


def load_records(folder: Path | None = None) -> list[dict[str, Any]]:
    return records.load(folder)


def output_folder(out: str = "", runs_dir: str = "") -> Path:
    """Where notebook 05 writes study.md and the figure: `out` (relative: from the project
    root), else runs/studies/notebook-05/."""
    return paths.from_root(out) if out else paths.runs_dir(runs_dir) / "studies" / "notebook-05"


def open_records(runs_dir: str = "", profile: str = "", recorded: bool = False) -> list[dict[str, Any]]:
    """Notebook 05's input: the finished study runs in `runs_dir` (of `profile` when given), or
    with `recorded` the summaries in results/study/; says how many it found and where."""
    if recorded:
        where, summaries = str(RECORDS), load_records()
        summaries = [s for s in summaries if not profile or s["study"]["profile"] == profile_stem(profile)]
    else:
        where, summaries = str(paths.runs_dir(runs_dir)), find_runs(runs_dir, profile)
    rows = sorted({s["study"]["row"] for s in summaries}, key=list(BY_ID).index)
    print(f"{len(summaries)} finished study run(s) in {where}" + (f", rows: {', '.join(rows)}" if rows else ": run `make study` first"))
    return summaries


def update_block(summaries: list[dict[str, Any]], figure_dir: Path | None = None) -> str:
    """docs/results.md's study block from the records `summaries` (`load_records`: results/study/,
    checked); with `figure_dir` and records, also the figure there (`make results`)."""
    if figure_dir is not None and summaries:
        import matplotlib.pyplot as plt

        from ..figures.plots import write_figure

        fig = differences_figure(summaries)
        write_figure(fig, figure_dir, FIGURE)
        plt.close(fig)
    return study_block(summaries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="study-cpu", help="mtlib/profiles/<profile>.yaml (or a YAML path): the scale")
    parser.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--rows", default="", help=f"comma-separated rows (default all): {', '.join(BY_ID)}")
    parser.add_argument(
        "--set", action="append", default=[], metavar="[STAGE.]KEY=VALUE", help="a fixed setting for every run (repeatable)"
    )
    parser.add_argument("--runs_dir", default="", help="folder for run folders (default: $MTLIB_RUNS or runs/)")
    parser.add_argument("--out", default="", help="folder for the table and figure (default: runs/studies/<profile>/)")
    parser.add_argument("--record", action="store_true", help="train nothing: copy the profile's finished study runs into results/study/")
    parser.add_argument("--records_dir", default="", help="with --record: the folder to record into (default results/study/)")
    parser.add_argument("--replace", action="store_true", help="with --record: replace records of the same runs made elsewhere")
    parser.add_argument("--shared_cores", action="store_true", help="with --record: the runs shared the cores, so their time is no cost")
    parser.add_argument("--list", action="store_true", help="train nothing: list the rows, their settings and what cannot run")
    add_arguments(parser)  # --launcher slurm, --shard K/N, --train_only (mtlib.workbook.study.launch)
    args = parser.parse_args(argv)
    ids = [r.strip() for r in args.rows.split(",") if r.strip()]

    def work() -> None:
        launched = chosen(args)  # refuses flags of another launcher first
        if args.list:
            for row in select_rows(ids):
                what = (" ".join(row.settings) or "the BaseModel as is") if row.runnable else f"NOT RUNNABLE: {row.not_runnable}"
                print(f"{row.id:20} {row.label}\n{'':20} {what}")
            return
        if args.record:
            for path in record(
                args.runs_dir, args.profile, Path(args.records_dir) if args.records_dir else None, args.replace, args.shared_cores
            ):
                print(f"recorded {path}")
            return
        if launched:
            refuse_seed_settings([], args.set)
            runs_dir, say = paths.runs_dir(args.runs_dir), (lambda text: print(f"[study] {text}", flush=True))
            runs = plan(args.profile, args.seeds, select_rows(ids))
            out = Path(args.out) if args.out else default_out(runs_dir, args.profile)
            write = lambda: write_study(args.profile, runs, runs_dir, out, say)  # noqa: E731
            launch(
                args,
                Launch(
                    args.profile, args.set, runs, runs_dir, out, lambda part: train(args.profile, part, args.set, runs_dir, say), write, say
                ),
            )
            return
        study(args.profile, args.seeds, ids, args.set, args.runs_dir or None, args.out or None)

    return run_command("mtlib.study", work)


if __name__ == "__main__":
    sys.exit(main())
