"""The study on a scheduler (`mtlib.workbook.study.launch`): the batch script, `--shard K/N`, and
a two-run smoke study on a real one-node Slurm (tests/slurm/start_cluster.sh): submitted as one
job array, waited for, resubmitted (nothing is), then recorded. Without Slurm the last test is
skipped, except under CI (CI set), where it fails: CI must run it (.ci/run installs slurm-wlm)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from mtlib.util.files import read_json
from mtlib.workbook import study

SLURM = Path(__file__).resolve().parent / "slurm"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")
SMOKE = ["--profile", "smoke", "--rows", "base,base-pal", "--seeds", "0"]
NAMES = ["study-smoke-base-s0", "study-smoke-base-pal-s0"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def test_the_batch_script_maps_each_array_task_to_one_missing_run(tmp_path, capsys):
    args = [*SMOKE, "--runs_dir", str(tmp_path), "--set", "finetune.lr=1e-4", "--launcher", "slurm", "--dry_run"]
    assert study.main([*args, "--partition", "gpu", "--gpus_per_task", "1", "--time", "2:00:00", "--slurm_arg=--qos=high"]) == 0
    script = capsys.readouterr().out
    sbatch = [line for line in script.splitlines() if line.startswith("#SBATCH ")]
    assert sbatch == [
        "#SBATCH --job-name=mtlib-study-smoke",
        "#SBATCH --array=0-1",
        f"#SBATCH --output={tmp_path}/studies/smoke/slurm/%A_%a.out",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=2:00:00",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --qos=high",
    ]
    assert "    0) row=base seed=0 ;;  # study-smoke-base-s0" in script
    assert "    1) row=base-pal seed=0 ;;  # study-smoke-base-pal-s0" in script
    assert f'--train_only --profile smoke --runs_dir {tmp_path} --set finetune.lr=1e-4 --rows "$row" --seeds "$seed"' in script
    assert not (tmp_path / "studies").exists()  # a dry run writes nothing


def test_shards_split_the_runs_interleaved_and_a_bad_shard_is_one_line_and_exit_2(capsys):
    from mtlib.workbook.study.launch import shard

    runs = list(range(10))
    parts = [shard(runs, f"{k}/4") for k in range(4)]
    assert parts[1] == [1, 5, 9] and sorted(sum(parts, [])) == runs
    for bad in ("4/4", "-1/4", "1", "a/b", "1/0"):
        assert study.main([f"--shard={bad}", "--profile", "smoke"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"--shard {bad!r}" in err
    assert study.main(["--wait", "--profile", "smoke"]) == 2
    assert "--wait is for --launcher slurm" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tails(folder: Path) -> str:
    logs = [*folder.glob("*.log"), *folder.glob("munge/*.log")]
    return "\n".join(f"--- {p.name}:\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:]) for p in logs)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm on 127.0.0.1 (its own munged, slurmctld, slurmd, all under a temp folder),
    SLURM_CONF pointing at it while the module runs; stopped at the end."""
    missing = [d for d in DAEMONS if not (shutil.which(d) or Path("/usr/sbin", d).exists())]
    why = f"Slurm is not installed ({', '.join(missing)} missing; apt-get install slurm-wlm munge)" if missing else ""
    if not missing and os.geteuid() != 0:
        why = "the test Slurm runs its daemons as root (SlurmUser=root)"
    if why:
        if in_ci():
            pytest.fail(f"{why}: CI must run the Slurm test, not skip it")
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(
        [str(SLURM / "start_cluster.sh"), str(folder), str(free_port()), str(free_port())], capture_output=True, text=True
    )
    patch = pytest.MonkeyPatch()
    patch.setenv("SLURM_CONF", str(folder / "slurm.conf"))
    try:
        if started.returncode != 0:
            pytest.fail(f"start_cluster.sh failed: {started.stderr}\n{log_tails(folder)}")
        state = ""
        for _ in range(120):  # a minute at most; the node is idle within seconds
            state = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the test Slurm's node is not idle after a minute (sinfo: {state!r})\n{log_tails(folder)}")
        yield folder
    finally:
        subprocess.run([str(SLURM / "stop_cluster.sh"), str(folder)], capture_output=True)
        patch.undo()


@pytest.mark.slow
def test_a_smoke_study_runs_as_a_slurm_job_array_resumes_and_records(slurm_cluster, tmp_path, capsys):
    """Two smoke runs as one array (a CPU each, waited for), each task's log in the slurm folder,
    the table written; the same command again submits nothing; --record reads the array's runs."""
    runs = tmp_path / "runs"
    flags = [*SMOKE, "--runs_dir", str(runs), "--launcher", "slurm"]
    code = study.main([*flags, "--cpus_per_task", "1", "--time", "60", "--wait", "--poll", "1"])
    slurm = runs / "studies" / "smoke" / "slurm"
    logs = sorted(slurm.glob("*_*.out"))
    shown = "\n".join(f"--- {p.name}:\n{p.read_text()[-2000:]}" for p in logs)
    assert code == 0, f"{capsys.readouterr()}\n{shown}\n{log_tails(slurm_cluster)}"
    out = capsys.readouterr().out
    job = out.split("submitted job array ", 1)[1].split(":", 1)[0]
    assert f"squeue -j {job}" in out and f"job {job} has finished" in out
    assert [p.name for p in logs] == [f"{job}_0.out", f"{job}_1.out"]
    assert "row base, seed 0" in logs[0].read_text() and "row base-pal, seed 0" in logs[1].read_text()
    dev = {name: read_json(runs / name / "results.json")["dev_mean"] for name in NAMES}
    assert all(isinstance(v, float) for v in dev.values())
    assert (runs / "studies" / "smoke" / "study.md").is_file()
    scripts = list(slurm.glob("*.sbatch"))
    assert len(scripts) == 1

    assert study.main(flags) == 0
    assert "nothing to submit: all 2 run(s) finished" in capsys.readouterr().out
    assert list(slurm.glob("*.sbatch")) == scripts  # no second script, no second job

    records = tmp_path / "records"
    assert study.main(["--profile", "smoke", "--runs_dir", str(runs), "--record", "--records_dir", str(records)]) == 0
    recorded = {p.stem: read_json(p) for p in records.rglob("*.json")}
    assert sorted(recorded) == sorted(NAMES)
    for name, summary in recorded.items():
        assert summary["dev_mean"] == pytest.approx(dev[name])
        study_of = {k: v for k, v in summary["study"].items() if k != "profile_sha256"}
        assert study_of == {"row": name[len("study-smoke-") : -len("-s0")], "seed": 0, "profile": "smoke"}
        assert len(summary["study"]["profile_sha256"]) == 64 and "finetune" in summary["stages"]
