"""The README's results table, generated from recorded runs (never typed).

    python -m mtlib.results --record runs/<run> [--label "cpu profile"]   # keep a run's summary
    python -m mtlib.results --update-readme                                # re-render the table

`--record` copies what the table needs from a run folder (results.json, command.txt, manifest)
into `results/<run>.json`, which is committed: the run folders themselves are not. A workbook
run (made by `make workbook`) records its final stage plus the time of every notebook.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .checkpoints import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
TASK_ORDER = ("sst", "para", "sts")


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _encoder_of(folder: Path) -> str:
    import yaml

    path = folder / "config.yaml"
    if not path.is_file():
        return ""
    return (yaml.safe_load(path.read_text()) or {}).get("model", {}).get("encoder", "")


def summarise(run_dir: Path, label: str = "") -> dict[str, Any]:
    """The summary of a CLI run folder or a workbook run folder."""
    results = _read(run_dir / "results.json")
    if not results:
        raise SystemExit(f"{run_dir} has no results.json: is it a finished run?")
    final_dir, stage_seconds = run_dir, {}
    command = (run_dir / "command.txt").read_text().strip() if (run_dir / "command.txt").exists() else ""
    if "stages" in results:  # a workbook run: its final stage holds the model and manifest
        final_dir = Path(results["stages"][results["final_stage"]]["run"])
        command = results.get("command") or f"make workbook PROFILE={results.get('profile', 'cpu')} RUN={results.get('run', run_dir.name)}"
        stage_seconds = {f"stage {k}": round(v["wall_seconds"], 1) for k, v in results["stages"].items()}
        stage_seconds |= {f"notebook {k}": round(v["seconds"], 1) for k, v in results.get("notebooks", {}).items()}
    manifest = _read(final_dir / "manifest.json")
    notes = manifest.get("data", {}).get("notes", []) or results.get("notes", [])
    return {
        "run": run_dir.name,
        "label": label or run_dir.name,
        "dev": results.get("dev", {}),
        "ci95": results.get("ci95", {}),
        "dev_mean": results.get("dev_mean"),
        "wall_seconds": results.get("total_seconds", results.get("wall_seconds")),
        "stage_seconds": stage_seconds,
        "command": command,
        "encoder": _encoder_of(final_dir) or _encoder_of(run_dir),
        "device": manifest.get("device_name", manifest.get("device", "")),
        "threads": manifest.get("threads"),
        "git": manifest.get("git", {}),
        "created": manifest.get("created", ""),
        "para_split": any("md5 split" in str(n) for n in notes),
    }


def record(run_dir: Path, label: str = "") -> Path:
    summary = summarise(run_dir, label)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{run_dir.name}.json"
    atomic_write_json(path, summary)
    return path


def _cell(summary: dict[str, Any], task: str) -> str:
    value = summary["dev"].get(task)
    if value is None:
        return "-"
    low, high = summary.get("ci95", {}).get(task, [None, None])
    interval = f" [{low:.3f}, {high:.3f}]" if low is not None else ""
    return f"{value:.3f}{interval}"


def table(summaries: list[dict[str, Any]]) -> str:
    lines = [
        "| run | SST acc | Para acc* | STS Pearson | mean | wall time | device |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        mean = f"{s['dev_mean']:.3f}" if s.get("dev_mean") is not None else "-"
        wall = f"{s['wall_seconds'] / 60:.1f} min" if s.get("wall_seconds") else "-"
        lines.append(
            f"| `{s['run']}` ({s['label']}, {s.get('encoder') or '?'}) | {_cell(s, 'sst')} | {_cell(s, 'para')} | {_cell(s, 'sts')} | {mean} | {wall} | {s.get('device', '')} |"
        )
    lines.append("")
    lines.append(
        "Dev scores with bootstrap 95% intervals. *Para is scored on the held-out fifth of quora-dev.csv "
        "(the md5 split; quora-train.csv is absent from the mirror), not on the official dev set. "
        "Each row's command is in `results/<run>.json`."
    )
    return "\n".join(lines)


def update_readme(readme: Path = ROOT / "README.md") -> str:
    summaries = [_read(p) for p in sorted(RESULTS.glob("*.json"))]
    rendered = table(summaries)
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme} lacks the {START} ... {END} markers")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    atomic_write_text(readme, f"{before}{START}\n{rendered}\n{END}{after}")
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib.results", description=__doc__.splitlines()[0])
    parser.add_argument("--record", nargs="*", default=[], help="run folders to record into results/")
    parser.add_argument("--label", default="", help="a label for the recorded run")
    parser.add_argument("--update-readme", action="store_true", help="re-render the README table from results/*.json")
    args = parser.parse_args(argv)
    for run_dir in args.record:
        print(f"recorded {record(Path(run_dir), args.label)}")
    if args.update_readme:
        print(update_readme())
    return 0


if __name__ == "__main__":
    sys.exit(main())
