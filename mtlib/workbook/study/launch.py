"""Where a study's runs train: here (`--launcher local`, the default), as one Slurm job array
(`--launcher slurm`), or a part of them for any other scheduler (`--shard K/N`).

`--launcher slurm` writes a batch script into runs/studies/<profile>/slurm/ and submits it with
`sbatch`: one array task per run still missing (a run finished with its settings is left out, as
`sweep.finished_with` decides), each task mapped to its (row, seed) by a `case` list in the
script and running `python -m mtlib study --train_only` on that one run. sbatch rather than
submitit: no new dependency, and the script is a plain file a researcher can read, edit and
resubmit (`sbatch <script>`) on a cluster where Python cannot submit. `--wait` polls `squeue`
until the array has finished, then writes the table as the local launcher does.

`--shard K/N` trains the K-th (0-based) of N interleaved parts of the study's runs, skipping
finished ones and writing no table: N such processes, started by any scheduler, share the work.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...util import paths
from ...util.errors import ConfigError, TrainingError
from ..training.sweep import finished_with

RESOURCES = {  # flag -> sbatch option
    "partition": "--partition",
    "time": "--time",
    "gpus_per_task": "--gpus-per-task",
    "cpus_per_task": "--cpus-per-task",
    "mem": "--mem",
    "account": "--account",
}
EPILOG = """Slurm: --launcher slurm submits the missing runs as one job array (docs/distributed.md,
"A study on a Slurm cluster"), e.g. --launcher slurm --partition gpu --gpus_per_task 1 --time 2:00:00;
the same command again submits only what is still missing. Other schedulers: --shard K/N in N
processes (for k in 0 1 2 3; do python -m mtlib study --shard $k/4 & done), then the same command
without --shard writes the table."""


@dataclass(frozen=True)
class Launch:
    """A study as `study.main` planned it: what the launchers need and no more."""

    profile: str
    sets: list[str]
    runs: list[Any]  # study.StudyRun: name, row.id, seed, sets
    runs_dir: Path
    out: Path
    train: Callable[[list[Any]], dict[str, list[str]]]  # trains the unfinished ones of a part
    write: Callable[[], Path]  # the table and figure of the finished runs
    say: Callable[[str], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    group = parser.add_argument_group("where the runs train")
    group.add_argument(
        "--launcher",
        choices=("local", "slurm"),
        default="local",
        help="local: here, one run after the other (default); slurm: one job array",
    )
    group.add_argument(
        "--shard", default="", metavar="K/N", help="train only the K-th (0-based) of N interleaved parts of the runs; write no table"
    )
    group.add_argument("--train_only", action="store_true", help="train the missing runs, write no table (what each array task runs)")
    slurm = parser.add_argument_group("--launcher slurm")
    for name, option in RESOURCES.items():
        slurm.add_argument(f"--{name}", default="", help=f"sbatch {option} for each run")
    slurm.add_argument("--slurm_arg", action="append", default=[], metavar="--OPTION=VALUE", help="one more #SBATCH line (repeatable)")
    slurm.add_argument("--dry_run", action="store_true", help="print the batch script, submit nothing")
    slurm.add_argument("--wait", action="store_true", help="block until the array has finished (polling squeue), then write the table")
    slurm.add_argument("--poll", type=float, default=30.0, help="seconds between squeue polls with --wait (default 30)")


def chosen(args: argparse.Namespace) -> bool:
    """Whether the command is this module's: a launcher other than local, a shard or --train_only."""
    slurm_only = [f"--{n}" for n in [*RESOURCES, "slurm_arg", "dry_run", "wait"] if getattr(args, n)]
    if args.launcher != "slurm" and slurm_only:
        raise ConfigError(f"{slurm_only[0]} is for --launcher slurm")
    if args.launcher == "slurm" and (args.shard or args.train_only):
        raise ConfigError("--shard and --train_only run here; drop them from --launcher slurm (each array task trains one run)")
    if (args.record or args.list) and (args.launcher != "local" or args.shard or args.train_only):
        raise ConfigError("--record and --list train nothing: drop --launcher, --shard and --train_only")
    return args.launcher != "local" or bool(args.shard) or args.train_only


def launch(args: argparse.Namespace, study: Launch) -> dict[str, Any]:
    if args.launcher == "slurm":
        options = [f"{RESOURCES[n]}={getattr(args, n)}" for n in RESOURCES if getattr(args, n)] + list(args.slurm_arg)
        return submit(study, options, dry_run=args.dry_run, wait=args.wait, poll=args.poll)
    part = shard(study.runs, args.shard) if args.shard else study.runs
    if args.shard:
        study.say(f"shard {args.shard}: {len(part)} of the {len(study.runs)} runs: {', '.join(r.name for r in part) or 'none'}")
    done = study.train(part)
    study.say(
        f"trained {len(done['trained'])}, finished before {len(done['skipped'])}; no table written (the same command without --shard/--train_only writes it once every run has finished)"
    )
    return done


def shard(runs: list[Any], text: str) -> list[Any]:
    """The K-th of N interleaved parts of `runs` (`text` is "K/N", K from 0)."""
    k, sep, n = text.partition("/")
    if not (sep and k.strip().isdigit() and n.strip().isdigit() and int(k) < int(n)):
        raise ConfigError(f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. 0/4 ... 3/4")
    return runs[int(k) :: int(n)]


def missing(study: Launch) -> list[Any]:
    return [r for r in study.runs if not finished_with(study.runs_dir / r.name, study.profile, [*study.sets, *r.sets])]


def batch_script(study: Launch, runs: list[Any], options: list[str], logs: Path) -> str:
    """The sbatch script: one array task per run of `runs`, each told its row and seed by a `case`."""
    for option in options:
        if not option.startswith("-") or "\n" in option:
            raise ConfigError(f"--slurm_arg {option!r}: expected one sbatch option such as --qos=high")
    command = [sys.executable, "-m", "mtlib", "study", "--train_only", "--profile", profile_path(study.profile)]
    command += ["--runs_dir", str(study.runs_dir), *(a for s in study.sets for a in ("--set", s))]
    cases = "\n".join(f"    {i}) row={r.row.id} seed={r.seed} ;;  # {r.name}" for i, r in enumerate(runs))
    head = [f"--job-name=mtlib-study-{study.out.name}", f"--array=0-{len(runs) - 1}", f"--output={logs}/%A_%a.out", *options]
    return f"""#!/bin/bash
# mtlib study: {len(runs)} run(s) of profile {study.profile}, one per array task. Written by
# `python -m mtlib study --launcher slurm` on {time.strftime("%Y-%m-%d %H:%M:%S")}; resubmit with
# `sbatch {logs}/<this file>` (a finished run is skipped) or run that command again, which
# submits only the runs still missing.
{chr(10).join(f"#SBATCH {o}" for o in head)}
set -euo pipefail
case "$SLURM_ARRAY_TASK_ID" in
{cases}
    *) echo "array task $SLURM_ARRAY_TASK_ID has no run in this script" >&2; exit 2 ;;
esac
cd {shlex.quote(str(paths.project_root()))}
export MTLIB_DATA_DIR={shlex.quote(str(paths.data_dir()))}
if [ -n "${{SLURM_CPUS_PER_TASK:-}}" ]; then export OMP_NUM_THREADS="$SLURM_CPUS_PER_TASK"; fi
echo "array task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID on $(hostname): row $row, seed $seed"
exec {shlex.join(command)} --rows "$row" --seeds "$seed"
"""


def profile_path(profile: str) -> str:
    """A profile's name as is; a YAML path made absolute, as the script runs from the project root."""
    return str(paths.from_root(profile)) if profile.endswith((".yaml", ".yml")) else profile


def submit(study: Launch, options: list[str], dry_run: bool = False, wait: bool = False, poll: float = 30.0) -> dict[str, Any]:
    """Submit the missing runs as one array; with `wait`, block until it has finished, then write the table."""
    todo = missing(study)
    logs = study.out / "slurm"
    if not todo:
        study.say(f"nothing to submit: all {len(study.runs)} run(s) finished with these settings")
        return {"job": None, "submitted": [], "out": str(study.write()) if wait and not dry_run else None}
    script = batch_script(study, todo, options, logs)
    if dry_run:
        print(script, end="")
        study.say(f"dry run: {len(todo)} of {len(study.runs)} run(s) would be submitted; nothing was")
        return {"job": None, "submitted": [], "script": script}
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise ConfigError("sbatch not found: --launcher slurm needs Slurm's commands on PATH (or --dry_run for the script)")
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = next(p for i in range(1, 1000) if not (p := logs / f"study-{stamp}{f'-{i}' if i > 1 else ''}.sbatch").exists())
    path.write_text(script, encoding="utf-8")
    done = subprocess.run([sbatch, "--parsable", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigError(f"sbatch {path} failed: {done.stderr.strip() or done.stdout.strip()}")
    job = done.stdout.strip().split(";")[0]
    study.say(f"submitted job array {job}: {len(todo)} of {len(study.runs)} run(s); script {path}")
    study.say(f"watch: squeue -j {job}; after: sacct -j {job}; logs: {logs}/{job}_<task>.out")
    result: dict[str, Any] = {"job": job, "submitted": [r.name for r in todo], "script": str(path)}
    if wait:
        wait_for(job, poll, study.say)
        failed = [(i, r.name) for i, r in enumerate(todo) if not (study.runs_dir / r.name / "results.json").is_file()]
        if failed:
            logs_of = ", ".join(f"{name} ({logs}/{job}_{i}.out)" for i, name in failed)
            raise TrainingError(f"job {job} finished without {len(failed)} run(s): {logs_of}; the same command submits them again")
        result["out"] = str(study.write())
    return result


def wait_for(job: str, poll: float, say: Callable[[str], None]) -> None:
    """Until `squeue` no longer lists any task of `job`; a line each time the count changes."""
    last = None
    while True:
        listed = subprocess.run(["squeue", "--noheader", "--array", "--jobs", job, "--format=%i %t"], capture_output=True, text=True)
        if listed.returncode != 0 and "Invalid job id" not in listed.stderr:
            raise ConfigError(f"squeue -j {job} failed: {listed.stderr.strip()}")
        tasks = listed.stdout.split()[1::2] if listed.returncode == 0 else []
        if not tasks:
            say(f"job {job} has finished")
            return
        counts = f"{tasks.count('R')} running, {tasks.count('PD')} pending, {len(tasks)} left"
        if counts != last:
            say(f"job {job}: {counts}")
            last = counts
        time.sleep(poll)
