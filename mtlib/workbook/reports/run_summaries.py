"""A run's summary as the result tables read it, and its record in results/<run>.json.

`summarise` reads a CLI run, a workbook or recipe run (the stage with the best mean dev score,
plus the time of every notebook or stage) and a `benchmarks/baselines.py` run alike; `record`
writes the summary into results/, which is committed (run folders are not). The tables that
render these summaries are `result_tables` and `score_tables`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...config.config import Config
from ...config.tasks import TASKS
from ...store.results_file import with_current_names
from ...util import paths
from ...util.errors import ConfigError
from ...util.files import atomic_write_json
from ..training.stages import reported_stage_of
from .score_tables import TABLES

RESULTS = paths.project_root() / "results"


def read_summary(path: Path) -> dict[str, Any]:
    """A record or results.json; {} when there is none; a damaged file is one line naming it."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: not valid JSON ({exc}); restore it from git if it is a committed record, else delete it (the run then finishes again)"
        ) from None


def checked(path: Path, summary: Any) -> dict[str, Any]:
    """A run record of results/ as the tables need it, or one line naming the file and what is wrong."""
    import math

    def score(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and -1 <= v <= 1

    why = ""
    if not isinstance(summary, dict):
        why = f"a JSON {type(summary).__name__}, not an object"
    elif not isinstance(summary.get("run"), str) or not isinstance(summary.get("group", ""), str):
        why = "no 'run' name (or a 'group' that is not text)"
    elif not isinstance(summary.get("dev"), dict) or not all(t in TASKS and score(v) for t, v in summary["dev"].items()):
        why = f"'dev' must map tasks ({', '.join(TASKS)}) to scores in -1..1"
    elif summary.get("dev_mean") is not None and not score(summary["dev_mean"]):
        why = f"'dev_mean' {summary['dev_mean']!r} is not a score in -1..1"
    elif not isinstance(summary.get("tables", []), list) or not isinstance(summary.get("wall_seconds") or 0, (int, float)):
        why = "'tables' must be a list and 'wall_seconds' a number"
    if why:
        raise ConfigError(f"{path}: not a run record: {why}; restore it with git or delete it")
    return summary


def _encoder_of(folder: Path) -> str:
    return Config.from_run(folder).model.encoder if (folder / "config.yaml").is_file() else ""


def summarise(run_dir: Path, label: str = "", group: str = "", table: str = "comparison") -> dict[str, Any]:
    """The summary of a CLI run, a workbook/recipe run or a baselines run folder."""
    results = with_current_names(read_summary(run_dir / "results.json"))
    if not results:
        raise ConfigError(f"{run_dir} has no results.json: is it a finished run?")
    tables = table.split(",")
    if any(t not in TABLES for t in tables):
        raise ConfigError(f"--table {table!r}: choose from {', '.join(TABLES)} (comma-separated)")
    final_dir, stage_seconds = run_dir, {}
    command = (run_dir / "command.txt").read_text().strip() if (run_dir / "command.txt").exists() else ""
    if "stages" in results:  # a workbook or recipe run: the stage with the best mean dev score
        stage = reported_stage_of(results["stages"])
        results = {**results, **{k: results["stages"][stage][k] for k in ("dev", "ci95", "dev_mean")}, "reported_stage": stage}
        final_dir = Path(paths.from_record(results["stages"][stage]["run"], run_dir))
        if not final_dir.is_dir():  # the run folder was moved: the stage sits under this one
            final_dir = run_dir / "stages" / stage
        command = results.get("command") or f"make workbook PROFILE={results.get('profile', 'cpu')} RUN={results.get('run', run_dir.name)}"
        stage_seconds = {f"stage {k}": round(v["wall_seconds"], 1) for k, v in results["stages"].items()}
        stage_seconds |= {f"notebook {k}": round(v["seconds"], 1) for k, v in results.get("notebooks", {}).items()}
        if results.get("test_stage"):
            stage_seconds["stage test"] = round(results["test_stage"]["seconds"], 1)
    manifest = read_summary(final_dir / "manifest.json")
    notes = manifest.get("data", {}).get("notes", []) or results.get("notes", [])
    return (
        {
            "run": run_dir.name,
            "label": label or run_dir.name,
            "group": group or run_dir.name,
            "tables": tables,
            "dev": results.get("dev", {}),
            "ci95": results.get("ci95", {}),
            "dev_mean": results.get("dev_mean"),
            "wall_seconds": results.get("total_seconds", results.get("wall_seconds")),
            "stage_seconds": stage_seconds,
            "reported_stage": results.get("reported_stage", ""),
            "command": command,
            "settings": results.get("settings", {}),
            "encoder": _encoder_of(final_dir) or _encoder_of(run_dir),
            "device": manifest.get("device_name", manifest.get("device", "")),
            "amp": manifest.get("amp", ""),
            "threads": manifest.get("threads"),
            "cpu": manifest.get("cpu_model", ""),
            "cpu_capability": manifest.get("cpu_capability", ""),
            "precision": manifest.get("precision", ""),
            "git": manifest.get("git", {}),
            "created": manifest.get("created", ""),
            "para_split": any("md5 split" in str(n) for n in notes),
        }
        | ({"budget_minutes": results["budget_minutes"]} if results.get("budget_minutes") else {})
        | ({"recall": recall} if (recall := class_recall(final_dir / "predictions")) else {})
    )


def class_recall(predictions: Path) -> dict[str, list[float | None]]:
    """Each multi-class task's dev recall per class (None for a class dev never holds), from the
    reported stage's `<task>-dev-detailed.tsv`; tasks without that file are left out."""
    import numpy as np

    from ...train.evaluate import read_detailed

    out: dict[str, list[float | None]] = {}
    for task, spec in TASKS.items():
        path = predictions / f"{spec.prediction_prefix}-dev-detailed.tsv"
        if spec.label_kind != "class" or not path.is_file():
            continue
        table = read_detailed(path)
        gold, predicted = np.asarray(table["label"], dtype=int), np.asarray(table["prediction"], dtype=int)
        out[task] = [float(np.mean(predicted[gold == c] == c)) if np.any(gold == c) else None for c in range(spec.num_outputs)]
    return out


def record(run_dir: Path, label: str = "", group: str = "", table: str = "comparison", shared_cores: bool = False) -> Path:
    """Write results/<run>.json. `shared_cores`: the run shared the machine with other work, so
    its wall time is not its configuration's cost (the tables say so and time it by the others)."""
    summary = summarise(run_dir, label, group, table) | ({"shared_cores": True} if shared_cores else {})
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{run_dir.name}.json"
    atomic_write_json(path, summary)
    return path
