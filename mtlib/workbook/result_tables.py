"""The results tables of docs/results.md, generated from recorded runs (never typed).

    python -m mtlib.result_tables --record runs/<run> [--label "cpu profile"] [--group G] [--table T]
    python -m mtlib.result_tables --update-readme          # re-render every table from results/*.json,
                                                           # and figures/readme/score_vs_minutes.png

`--record` copies what the tables need from a run folder (results.json, command.txt, manifest)
into `results/<run>.json`, which is committed: the run folders themselves are not. It reads a
CLI run, a workbook or `mtlib.recipe` run (the stage with the best mean dev score, plus the time
of every notebook or stage) and a `benchmarks/baselines.py` run alike.

Each summary names a `table` (comparison, candidates or ablation) and a `group`: runs of one
group are the seeds of one configuration, shown as mean ± standard deviation over the seeds.
docs/results.md holds one block per table between `<!-- results:<table>:start -->` and `... :end -->`
markers, plus `results:seeds` (every run with its bootstrap 95% intervals) and `results:gains`
(the recipe's gain over each baseline against the seed-to-seed spread).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..config.config import Config
from ..data.tasks import TASKS
from ..run.stages import reported_stage_of
from ..store.results_file import with_current_names
from ..util import paths
from ..util.errors import ConfigError, run_command
from ..util.files import atomic_write_json, atomic_write_text
from . import budget_figure, study
from .score_tables import (  # noqa: F401 (the tables, used here and by callers of this module)
    BLOCKS,
    SPLIT_NOTE,
    TABLES,
    TASK_ORDER,
    ablation_table,
    comparison_table,
    gains_table,
    groups,
    half_width,
    mean_half_width,
    recall_table,
    score_cell,
    seeds_table,
    stats,
    tables_of,
    timed_runs,
    wall_cell,
    where_cell,
)

ROOT = paths.project_root()
RESULTS = ROOT / "results"
FIGURES = ROOT / "figures" / "readme"  # figures the README and docs/results.md show


def markers(block: str) -> tuple[str, str]:
    return f"<!-- results:{block}:start -->", f"<!-- results:{block}:end -->"


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _encoder_of(folder: Path) -> str:
    return Config.from_run(folder).model.encoder if (folder / "config.yaml").is_file() else ""


def summarise(run_dir: Path, label: str = "", group: str = "", table: str = "comparison") -> dict[str, Any]:
    """The summary of a CLI run, a workbook/recipe run or a baselines run folder."""
    results = with_current_names(_read(run_dir / "results.json"))
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
        final_dir = Path(results["stages"][stage]["run"])
        if not final_dir.is_dir():  # the run folder was moved: the stage sits under this one
            final_dir = run_dir / "stages" / stage
        command = results.get("command") or f"make workbook PROFILE={results.get('profile', 'cpu')} RUN={results.get('run', run_dir.name)}"
        stage_seconds = {f"stage {k}": round(v["wall_seconds"], 1) for k, v in results["stages"].items()}
        stage_seconds |= {f"notebook {k}": round(v["seconds"], 1) for k, v in results.get("notebooks", {}).items()}
        if results.get("test_stage"):
            stage_seconds["stage test"] = round(results["test_stage"]["seconds"], 1)
    manifest = _read(final_dir / "manifest.json")
    notes = manifest.get("data", {}).get("notes", []) or results.get("notes", [])
    return {
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
    } | ({"recall": recall} if (recall := class_recall(final_dir / "predictions")) else {})


def class_recall(predictions: Path) -> dict[str, list[float | None]]:
    """Each multi-class task's dev recall per class (None for a class dev never holds), from the
    reported stage's `<task>-dev-detailed.tsv`; tasks without that file are left out."""
    import numpy as np

    from ..train.evaluate import read_detailed

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


# ---- numbers ------------------------------------------------------------------------------------
def render(summaries: list[dict[str, Any]], spec: dict[str, str]) -> dict[str, str]:
    """Every README block, from the summaries. `spec` names the groups the gains and ablation
    tables compare (results/tables.json; `recipes`: one gains table per entry, each a list of
    groups whose runs are pooled)."""
    return {
        "comparison": comparison_table(summaries, "comparison", spec.get("order")),
        "candidates": comparison_table(summaries, "candidates", spec.get("order")),
        "ablation": ablation_table(summaries, spec.get("ablation_base", "")),
        "seeds": seeds_table(summaries),
        "recall": recall_table(summaries),
        "gains": "\n\n".join(
            f"Against {b}:\n\n" + gains_table(summaries, recipe, b)
            for b in spec.get("baselines", [])
            for recipe in (spec.get("recipes") or [spec.get("recipe", "")])
        ),
    }


def load_summaries(folder: Path | None = None) -> list[dict[str, Any]]:
    folder = folder or RESULTS
    return [_read(p) for p in sorted(folder.glob("*.json")) if p.name != "tables.json"]


def update_readme(
    readme: Path = ROOT / "docs" / "results.md", folder: Path | None = None, figure_dir: Path | None = None
) -> dict[str, str]:
    """Re-render `readme`'s table blocks from the summaries in `folder` (default results/), and
    with `figure_dir` also draw the figure of score against CPU minutes there."""
    folder = folder or RESULTS
    summaries, spec = load_summaries(folder), _read(folder / "tables.json")
    if figure_dir is not None:
        budget_figure.draw(summaries, figure_dir, baseline=(spec.get("baselines") or [budget_figure.BASELINE_GROUP])[0])
    blocks = render(summaries, spec)
    blocks["study"] = study.update_block(folder / "study", figure_dir)  # the reference report's Table 2 (mtlib.workbook.study)
    text = readme.read_text(encoding="utf-8")
    for name, rendered in blocks.items():
        start, end = markers(name)
        if start not in text or end not in text:
            continue
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = f"{before}{start}\n{rendered}\n{end}{after}"
    atomic_write_text(readme, text)
    return blocks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib.result_tables", description=__doc__.splitlines()[0])
    parser.add_argument("--record", nargs="*", default=[], help="run folders to record into results/")
    parser.add_argument("--label", default="", help="a label for the recorded run(s)")
    parser.add_argument("--group", default="", help="runs of one configuration (its seeds) share a group")
    parser.add_argument("--table", default="comparison", help=f"README table(s) the run(s) go to: {', '.join(TABLES)} (comma-separated)")
    parser.add_argument(
        "--shared_cores", action="store_true", help="the run(s) shared the cores with other work: their wall time is not the cost"
    )
    parser.add_argument("--update-readme", "--update", action="store_true", help="re-render docs/results.md's tables from results/*.json")
    args = parser.parse_args(argv)

    def work() -> None:
        for run_dir in args.record:
            print(f"recorded {record(Path(run_dir), args.label, args.group, args.table, args.shared_cores)}")
        if args.update_readme:
            for name, block in update_readme(figure_dir=FIGURES).items():
                print(f"## {name}\n{block}\n")

    return run_command("mtlib.result_tables", work)


if __name__ == "__main__":
    sys.exit(main())
