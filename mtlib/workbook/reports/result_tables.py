"""The results tables of docs/results.md, generated from recorded runs (never typed).

    python -m mtlib results --record runs/<run> [--label "cpu profile"] [--group G] [--table T]
    python -m mtlib results --update-readme          # re-render every table from results/*.json,
                                                           # and figures/readme/score_vs_minutes.png

`--record` copies what the tables need from a run folder (results.json, command.txt, manifest)
into `results/<run>.json`, which is committed: the run folders themselves are not. It reads a
CLI run, a workbook or recipe run (the stage with the best mean dev score, plus the time
of every notebook or stage) and a `benchmarks/baselines.py` run alike.

Each summary names a `table` (comparison, candidates or ablation) and a `group`: runs of one
group are the seeds of one configuration, shown as mean ± standard deviation over the seeds.
docs/results.md holds one block per table between `<!-- results:<table>:start -->` and `... :end -->`
markers, plus `results:seeds` (every run with its bootstrap 95% intervals) and `results:gains`
(the recipe's gain over each baseline against the seed-to-seed spread).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ...util import paths
from ...util.errors import run_command
from ...util.files import atomic_write_text
from .. import study
from ..figures import budget
from . import performance_table
from .run_summaries import RESULTS, checked, class_recall, read_summary, record, summarise  # noqa: F401 (the record side; callers use these names here too)
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
FIGURES = ROOT / "figures" / "readme"  # figures the README and docs/results.md show


def markers(block: str) -> tuple[str, str]:
    return f"<!-- results:{block}:start -->", f"<!-- results:{block}:end -->"


# ---- numbers ------------------------------------------------------------------------------------
def render(summaries: list[dict[str, Any]], spec: dict[str, str]) -> dict[str, str]:
    """Every README block, from the summaries. `spec` names the groups the gains and ablation
    tables compare (results/tables.json; `recipes`: one gains table per entry, each a list of
    groups whose runs are pooled)."""
    return {
        "comparison": comparison_table(summaries, "comparison", spec.get("order")),
        # the README's one table: the groups results/tables.json names under `readme`, in that order
        "readme": comparison_table([s for s in summaries if s.get("group") in spec.get("readme", [])], "comparison", spec.get("readme")),
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
    """Every run record in `folder` (results/), each checked (`run_summaries.checked`): a record
    that does not validate is one line naming it, before any table is drawn."""
    folder = folder or RESULTS
    return [checked(p, read_summary(p)) for p in sorted(folder.glob("*.json")) if p.name != "tables.json"]


def update_readme(
    readme: Path = ROOT / "docs" / "results.md",
    folder: Path | None = None,
    figure_dir: Path | None = None,
    front: Path | None = None,
    performance: Path | None = None,
    benchmark_records: Path | None = None,
) -> dict[str, str]:
    """Re-render the table blocks of `readme` (and of `front`, the README's results table) from
    the summaries in `folder` (default results/), and with `figure_dir` also draw the figure of
    score against CPU minutes there. With `performance` (docs/performance.md), also its tables
    from the benchmark records (`benchmark_records`, default benchmarks/results/)."""
    folder = folder or RESULTS
    # every record is read and checked before anything is drawn or written: no partial rewrite
    summaries, spec, studied = load_summaries(folder), read_summary(folder / "tables.json"), study.load_records(folder / "study")
    blocks = render(summaries, spec)
    blocks["budget"] = budget.verdict(summaries)  # the equal-minutes front: mtlib against Trainer
    blocks["budget-lead"] = budget.lead(summaries)  # its answer in one paragraph (the README)
    blocks["study"] = study.update_block(studied, figure_dir)  # the reference report's Table 2 (mtlib.workbook.study)
    blocks["study-lead"] = study.study_lead(studied)  # the README's sentence on it
    blocks["profile-times"] = performance_table.profile_times(summaries)  # the README's workbook minutes per CPU kind
    if performance is not None:
        blocks |= performance_table.blocks(benchmark_records)  # a row per CPU kind, from benchmarks/results/
    if figure_dir is not None:
        budget.draw(summaries, figure_dir, baseline=(spec.get("baselines") or [budget.BASELINE_GROUP])[0])
    for page in (p for p in (readme, front, performance) if p is not None):
        text = page.read_text(encoding="utf-8")
        for name, rendered in blocks.items():
            start, end = markers(name)
            if start not in text or end not in text:
                continue
            before, rest = text.split(start, 1)
            _, after = rest.split(end, 1)
            text = f"{before}{start}\n{rendered}\n{end}{after}"
        if text != page.read_text(encoding="utf-8"):
            atomic_write_text(page, text)
    return blocks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib results", description=__doc__.splitlines()[0])
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
            pages = {"front": ROOT / "README.md", "performance": ROOT / "docs" / "performance.md"}
            for name, block in update_readme(figure_dir=FIGURES, **pages).items():
                print(f"## {name}\n{block}\n")

    return run_command("mtlib.result_tables", work)


if __name__ == "__main__":
    sys.exit(main())
