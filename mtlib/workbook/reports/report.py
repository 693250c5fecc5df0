"""A workbook run's record: `results.json` (numbers) and `report.md` (the same numbers as
tables, then every figure), both built from what the run folders recorded, never typed in.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from ...config.config import Config
from ...config.tasks import TASKS
from ...store.recorded_config import recorded_config
from ...store.results_file import RunResult, summary_as_recorded
from ...store.run_folder import git_state
from ...util.files import atomic_write_json, atomic_write_text
from ..training.stages import STAGES, TEST_STAGE, reported_stage, reported_stage_of  # noqa: F401 (reported_stage: re-exported)
from . import model_card

STAGE_TITLES = {s.name: s.title for s in STAGES}
NOTEBOOK_TITLES = {
    "01": "01 · Data exploration",
    "02": "02 · Individual pretraining (stage 1)",
    "03": "03 · Staged fine-tuning (stages 2 and 3)",
    "04": "04 · Confusion matrices and error analysis",
}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def collect(
    folder: Path,
    profile: str,
    run_name: str,
    stages: dict[str, Path],
    notebooks: dict[str, dict[str, Any]],
    figures: list[Path],
    test_seconds: float | None = None,
    command: str = "",
) -> dict[str, Any]:
    """The workbook's numbers: the reported dev scores and CIs (the stage `reported_stage_of` picks), each stage's scores
    and times, each notebook's wall time, the test stage (`stages/test/`, when it ran; its
    time `test_seconds` as the workbook measured it, else its own), where the figures are, and
    `command`, the one that recreates the run (omitted when empty)."""
    per_stage: dict[str, Any] = {}
    for stage, path in stages.items():
        r = RunResult.read(path)
        per_stage[stage] = {
            "run": str(path),
            "dev": r.dev,
            "ci95": r.ci95,
            "dev_mean": r.dev_mean,
            "wall_seconds": r.wall_seconds,
            "train_seconds": r.train_seconds,
            "checkpoint": r.checkpoint,
            "started_from": recorded_config(path).train.pretrained_model_name or None,
        }
    reported = reported_stage_of(per_stage)
    final = per_stage[reported]
    first = stages[list(stages)[0]]
    encoder = Config.from_run(first).model.encoder
    manifest = _read_json(first / "manifest.json")
    tested = folder / "stages" / TEST_STAGE / "results.json"
    test_stage = None
    if tested.exists():
        r = RunResult.read(tested.parent)
        test_stage = {
            "run": str(tested.parent),
            "checkpoint": r.checkpoint,
            "predicted": r.predicted,
            "seconds": r.wall_seconds if test_seconds is None else test_seconds,
        }
    # the notebooks' time, or for a recipe run (no notebooks) the stages'; then the test stage
    trained = sum(n["seconds"] for n in notebooks.values()) if notebooks else sum(s["wall_seconds"] for s in per_stage.values())
    return {
        "run": run_name,
        "profile": profile,
        "encoder": encoder,
        "device": manifest.get("device_name", manifest.get("device")),
        "cpu": manifest.get("cpu_model", ""),
        "cpu_capability": manifest.get("cpu_capability", ""),
        "precision": manifest.get("precision", ""),
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "git": git_state(),
        "reported_stage": reported,  # the reported stage: the best mean dev score (see reported_stage_of)
        "last_stage": list(stages)[-1],
        "dev": final["dev"],
        "ci95": final["ci95"],
        "dev_mean": final["dev_mean"],
        "metrics": {t: TASKS[t].metric_name for t in final["dev"]},
        "stages": per_stage,
        "notebooks": notebooks,
        "test_stage": test_stage,
        "total_seconds": trained + (test_stage["seconds"] if test_stage else 0.0),
        "figures": [str(f) for f in figures],
    } | ({"command": command} if command else {})


def markdown(results: dict[str, Any], folder: Path) -> str:
    """report.md: a header, the dev results table, the time table, then the figures by notebook
    (paths relative to `folder`, so the report renders wherever the run folder is viewed)."""
    stages = results["stages"]
    git = results["git"]
    lines = [
        f"# Workbook run `{results['run']}` (profile `{results['profile']}`)",
        "",
        f"Encoder `{results['encoder']}` on {results['device']}"
        + (f" ({results['cpu']}, {results['cpu_capability']}, {results['precision']})" if results.get("cpu") else "")
        + f"; git {str(git.get('commit') or 'unknown')[:10]}"
        + (" (uncommitted changes)" if git.get("dirty") else "")
        + f"; written {results['created']}; "
        + (
            f"the four notebooks{' and the test stage' if results.get('test_stage') else ''} took {results['total_seconds']:.0f} s."
            if results["notebooks"]
            else f"the stages took {results['total_seconds']:.0f} s (`mtlib.recipe`, no notebooks)."
        ),
        "",
    ]
    if results.get("command"):
        lines += [f"Recreate it: `{results['command']}` (also in `command.txt`).", ""]
    if results["notebooks"]:
        lines += [_sources_line(results["notebooks"], folder), ""]
    if results["profile"] == "smoke":
        lines += ["> Smoke profile: a tiny random encoder on a few rows. These scores only show that the pipeline runs.", ""]
    lines += ["## Dev results", "", _results_table(results), "", "## Time", "", _time_table(results), ""]
    chain = " → ".join(f"`{Path(stages[s]['run']).name}`" for s in _stage_order(results))
    lines += [f"Checkpoints handed on: {chain} (each stage starts from the one before).", ""]
    lines += ["## Figures", ""]
    by_notebook: dict[str, list[Path]] = {}
    for figure in map(Path, results["figures"]):
        by_notebook.setdefault(figure.name[:2], []).append(figure)
    for prefix, title in NOTEBOOK_TITLES.items():
        figures = [f for f in by_notebook.get(prefix, []) if f.suffix == ".png"]
        executed = results["notebooks"].get(prefix, {}).get("executed")
        if not figures and not executed:
            continue
        lines += [f"### {title}", ""]
        if executed:
            lines += [f"Executed notebook: [{Path(executed).name}]({_rel(Path(executed), folder)})", ""]
        for figure in figures:
            caption = figure.stem[3:].replace("_", " ")
            lines += [f"![{caption}]({_rel(figure, folder)})", ""]
    return "\n".join(lines)


def _sources_line(notebooks: dict[str, Any], folder: Path) -> str:
    """Which notebook files ran: as committed, or edited ones kept in the run (`notebook_sources`)."""
    infos = [i for i in notebooks.values() if i.get("sha256")]
    if not infos:
        return "Notebooks: not recorded (a run of an older mtlib)."
    commits = {i.get("commit") for i in infos}
    kept = sorted(Path(i["source"]).name for i in infos if not i.get("commit"))
    if commits == {None} and all(Path(i["source"]).parent.name == "sources" for i in infos):
        where = _rel(Path(infos[0]["source"]).parent, folder)
        return f"Notebooks: edited ones, run as they were (`--edited-notebooks`) and kept in `{where}/` (sha256 in results.json)."
    if None in commits:
        return f"Notebooks: {', '.join(kept)} run as found (no git checkout; sha256 in results.json)."
    return f"Notebooks: as committed at {str(next(iter(commits)))[:10]} (sha256 in results.json)."


def _stage_order(results: dict[str, Any]) -> list[str]:
    """Stages in training order (results.json stores its mappings with sorted keys)."""
    stages = results["stages"]
    return [s for s in STAGE_TITLES if s in stages] + [s for s in stages if s not in STAGE_TITLES]


def _results_table(results: dict[str, Any]) -> str:
    """One row per task (and the mean): each stage's dev score, the reported one in bold, its CI."""
    order = _stage_order(results)
    final = results.get("reported_stage", order[-1])

    def cells(values: dict[str, float | None]) -> list[str]:
        return [f"**{_fmt(values[s])}**" if s == final else _fmt(values[s]) for s in order]

    header = ["task", "metric", *[STAGE_TITLES.get(s, s) for s in order], "reported stage's 95% CI (bootstrap)"]
    rows = [header, ["---"] * len(header)]
    for task in [t for t in TASKS if t in results["dev"]]:
        low, high = results["ci95"][task]
        scores = cells({s: results["stages"][s]["dev"].get(task) for s in order})
        rows.append([TASKS[task].title, TASKS[task].metric_name, *scores, f"[{low:.3f}, {high:.3f}]"])
    rows.append(["mean", "", *cells({s: results["stages"][s]["dev_mean"] for s in order}), ""])
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def _time_table(results: dict[str, Any]) -> str:
    rows = [["notebook / stage", "wall seconds"], ["---", "---:"]]
    for info in results["notebooks"].values():
        rows.append([Path(info["executed"]).stem, f"{info['seconds']:.1f}"])
        for stage in info.get("stages", []):
            s = results["stages"][stage]
            rows.append([f"↳ stage `{stage}` (load, train, score)", f"{s['wall_seconds']:.1f}"])
    if not results["notebooks"]:  # a recipe run: the stages alone
        rows += [[f"stage `{s}` (load, train, score)", f"{results['stages'][s]['wall_seconds']:.1f}"] for s in _stage_order(results)]
    tested = results.get("test_stage")
    if tested:
        rows.append([f"stage `{TEST_STAGE}` (the test split, with `{Path(tested['checkpoint']).parent.name}`)", f"{tested['seconds']:.1f}"])
    rows.append(["**total**", f"**{results['total_seconds']:.1f}**"])
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _rel(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


def write(folder: Path, results: dict[str, Any]) -> tuple[Path, Path]:
    """Write results.json, report.md and MODEL_CARD.md into the workbook's run folder."""
    atomic_write_json(folder / "results.json", summary_as_recorded(results, folder))  # no absolute path: the folder can move
    if results.get("command"):
        atomic_write_text(folder / "command.txt", results["command"] + "\n")
    atomic_write_text(folder / "report.md", markdown(results, folder))
    model_card.write(folder, results)
    return folder / "results.json", folder / "report.md"
