"""The study's records in results/study/: evidence, so never replaced by a run from elsewhere.

A record is one finished study run's summary (`mtlib.workbook.reports.run_summaries.summarise`) with its
row, seed, profile (name and content hash), each stage's own dev scores and where it ran. Records
live in one folder per *study set*, the runs that may be compared with each other:

    results/study/<profile>-<cpu kind or device>-<precision>/<run>.json
    results/study/study-cpu-avx2-fp32/study-study-cpu-base-s3.json

so the same row and seed run on another kind of machine or precision is another record, not a
replacement. Within a set, `write` refuses to replace a record made by another profile file,
encoder, commit or machine unless `replace` is given, and every record read (`load`) is checked
against the schema: a file that does not validate is one line naming it, and nothing is drawn
from a partial read.
"""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
from pathlib import Path
from typing import Any

from ...config.tasks import TASK_NAMES
from ...util import paths
from ...util.errors import CheckpointError, ConfigError
from ...util.files import atomic_write_json, read_json
from .rows import BY_ID

RECORDS = paths.project_root() / "results" / "study"
# what must agree for a record to be replaced by another of the same run (else --replace)
PROVENANCE = ("profile", "profile_sha256", "encoder", "commit", "cpu", "cpu_capability", "precision", "device")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "unknown"


def extra_settings(summary: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The settings a study run recorded beyond its row's and its seed (`--set` given to the
    whole study), less those that only change how a run is carried out (threads, ...)."""
    from ...config.config import RUN_ONLY
    from ..training.recipe import parse_sets

    row = BY_ID[summary["study"]["row"]]
    common, per_stage = parse_sets([*row.sets, f"seed={summary['study']['seed']}"])
    expected = {"all_stages": common, **per_stage}
    extra: dict[str, dict[str, str]] = {}
    for stage, values in (summary.get("settings") or {}).items():
        if not isinstance(values, dict):
            continue
        kept = {k: str(v) for k, v in values.items() if k not in RUN_ONLY and str(expected.get(stage, {}).get(k)) != str(v)}
        if kept:
            extra[stage] = kept
    return extra


def set_name(summary: dict[str, Any]) -> str:
    """The study set a record belongs to: its profile (a profile file by its path, so a copy
    named like a packaged profile is never mixed with it), encoder, the CPU's capability (or the
    GPU), precision, and a hash of any setting given to the whole study beyond the rows'."""
    device = str(summary.get("device") or "cpu")
    kind = (summary.get("cpu_capability") or "cpu") if device == "cpu" else device
    parts = [summary["study"]["profile"], summary.get("encoder") or "encoder", kind, summary.get("precision") or "fp32"]
    if extra := extra_settings(summary):
        parts.append("x" + hashlib.sha256(repr(sorted(extra.items())).encode()).hexdigest()[:8])
    return "-".join(_slug(str(p)) for p in parts)


def provenance(summary: dict[str, Any]) -> dict[str, str]:
    study, git = summary.get("study") or {}, summary.get("git") or {}
    values = {**summary, **study, "commit": git.get("commit", "")}
    return {k: str(values.get(k) or "") for k in PROVENANCE}


def profile_sha256(profile: str, commit: str = "", recorded: str = "") -> str:
    """The profile's content hash (`content_sha256`: its settings, not its comments): a profile
    file of the checkout as it was at the run's commit (git), else as the run recorded it, else
    the file as it is now; "" when none can be read."""
    from ...config.yaml_files import content_sha256, profile_path

    try:
        path = profile_path(profile)
    except ConfigError:
        return recorded
    root = paths.project_root()
    if commit and path.is_relative_to(root):
        shown = subprocess.run(["git", "show", f"{commit}:{path.relative_to(root).as_posix()}"], cwd=root, capture_output=True, check=False)
        if shown.returncode == 0:
            return content_sha256(shown.stdout)
    if recorded:
        return recorded
    return content_sha256(path.read_bytes()) if path.is_file() else ""


# ---- the schema -----------------------------------------------------------------------------
def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def problem(data: Any) -> str:
    """What is wrong with a study record ("" when it validates)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if not isinstance(data.get("run"), str) or not data["run"]:
        return "no 'run' name"
    study = data.get("study")
    if not isinstance(study, dict):
        return "no 'study' object (row, seed, profile)"
    if study.get("row") not in BY_ID:
        return f"'study.row' {study.get('row')!r} is no row of the study"
    if not isinstance(study.get("seed"), int) or isinstance(study.get("seed"), bool) or study["seed"] < 0:
        return f"'study.seed' {study.get('seed')!r} is not a whole number >= 0"
    if not isinstance(study.get("profile"), str) or not study["profile"]:
        return "no 'study.profile'"
    dev = data.get("dev")
    if not isinstance(dev, dict) or any(t not in TASK_NAMES or not _finite(v) or not -1 <= v <= 1 for t, v in dev.items()):
        return f"'dev' must map tasks ({', '.join(TASK_NAMES)}) to scores in -1..1, not {dev!r}"
    if not _finite(data.get("dev_mean")) or not -1 <= data["dev_mean"] <= 1:
        return f"'dev_mean' {data.get('dev_mean')!r} is not a score in -1..1"
    stages = data.get("stages", {})
    if not isinstance(stages, dict) or any(not isinstance(v, dict) or not _finite(v.get("dev_mean")) for v in stages.values()):
        return "'stages' must map each stage to its scores with a finite 'dev_mean'"
    git = data.get("git", {})
    if not isinstance(git, dict) or not isinstance(git.get("dirty", False), bool):
        return "'git' must hold a commit and whether the tree was dirty"
    return ""


def read(path: Path) -> dict[str, Any]:
    """One record, validated: a damaged or foreign file is one line naming it."""
    try:
        data = read_json(path)
    except CheckpointError as exc:
        raise ConfigError(f"{exc}; restore it with git (git checkout -- {path.name}) or delete it") from None
    if why := problem(data):
        raise ConfigError(f"{path}: not a study record: {why}; restore it with git or delete it")
    return data


def load(folder: Path | None = None) -> list[dict[str, Any]]:
    """Every record under `folder` (results/study/), each validated; the first bad one is refused."""
    folder = folder or RECORDS
    return [read(p) for p in sorted(folder.rglob("*.json"))] if folder.is_dir() else []


def write(summaries: list[dict[str, Any]], to: Path | None = None, replace: bool = False) -> list[Path]:
    """Each summary into its set's folder under `to`. Every summary and every record it would
    replace is checked before anything is written: a record of the same run made elsewhere
    (another profile file, encoder, commit or machine; see PROVENANCE) or a damaged one is refused
    in one line unless `replace`."""
    to = to or RECORDS
    planned = []
    for summary in summaries:
        if why := problem(summary):
            raise ConfigError(f"{summary.get('run', '?')}: cannot be recorded: {why}")
        path = to / set_name(summary) / f"{summary['run']}.json"
        if path.exists() and not replace:
            try:
                old = read(path)
            except ConfigError as exc:
                raise ConfigError(f"{exc}; or pass --replace to record over it") from None
            differ = [k for k, v in provenance(old).items() if v != provenance(summary)[k]]
            if differ:
                shown = ", ".join(f"{k} {provenance(old)[k] or '?'!r} -> {provenance(summary)[k] or '?'!r}" for k in differ)
                raise ConfigError(
                    f"{path} records a run made elsewhere ({shown}); nothing was recorded. "
                    "Record into another folder (--records_dir), or pass --replace to replace it"
                )
        planned.append((path, summary))
    for path, summary in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, summary)
    return [p for p, _ in planned]
