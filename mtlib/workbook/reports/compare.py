"""`python -m mtlib compare runs/a runs/b ... [--out DIR]`: finished runs side by side.

Prints each run's dev scores with their bootstrap 95% intervals, the stage it reports, its wall
time and machine, then only the settings that differ between the runs (`Config.differences`,
stage by stage for workbook and recipe runs; a setting that differs alike in every stage is
shown once). With `--out DIR` it writes the same text as DIR/compare.md and the figure
DIR/compare.png (+ .svg): each task's dev score and interval, one marker per run. A run is a
workbook or recipe run folder, or a CLI run folder (`python -m mtlib`), read through
`mtlib.workbook.reports.run_summaries.summarise` as the README tables read them.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from ...config.config import Config
from ...config.tasks import TASKS
from ...util.errors import ConfigError, run_command
from ...util.files import atomic_write_text, read_json
from ..training.stages import STAGE_NAMES, finished_stages
from . import run_summaries
from . import score_tables as recorded

IGNORED = ("pretrained_model_name",)  # a path into each run's own folder: always differs
ALL_STAGES = "all stages"
DAMAGED = (KeyError, TypeError, ValueError, AttributeError, IndexError)  # a record (JSON, YAML) of an unexpected shape


def run_configs(folder: Path) -> dict[str, Config]:
    """{stage: its Config} of a workbook or recipe run; {"": Config} of a CLI run."""
    stages = finished_stages(folder)
    if stages:
        return {s: Config.from_yaml(p / "config.yaml") for s, p in stages.items()}
    if (folder / "config.yaml").is_file():
        return {"": Config.from_yaml(folder / "config.yaml")}
    raise ConfigError(f"{folder} is not a run folder (no config.yaml, no finished stage)")


def reported_config(folder: Path) -> Config:
    """The config of the checkpoint a run reports (its reported stage's, or a CLI run's own)."""
    from ..training.stages import reported_stage

    configs = run_configs(folder)
    return configs[reported_stage(finished_stages(folder))] if "" not in configs else configs[""]


def setting_differences(folders: list[Path]) -> dict[str, list[Any]]:
    """{setting: [each run's value]} for the settings that differ. Workbook and recipe runs are
    compared stage by stage (`stage.setting`; a setting that differs alike in every stage is
    shown once, unprefixed); when a CLI run is among them, each run's reported checkpoint's
    config is compared."""
    configs = [run_configs(f) for f in folders]
    if any("" in c for c in configs):
        configs = [{"": reported_config(f)} for f in folders]
    stages = [s for s in ("", *STAGE_NAMES) if any(s in c for c in configs)]
    stages += sorted({s for c in configs for s in c} - set(stages))
    rows: dict[tuple[str, str], list[Any]] = {}
    out: dict[str, list[Any]] = {}
    for stage in stages:
        present = [c[stage] for c in configs if stage in c]
        if len(present) < len(configs):
            out[f"{stage} finished"] = ["yes" if stage in c else "no" for c in configs]
        keys = {k for other in present[1:] for k in present[0].differences(other, ignore=IGNORED)}
        for key in sorted(keys):
            rows[(stage, key)] = [c[stage].to_flat()[key] if stage in c else "–" for c in configs]
    for (stage, key), values in rows.items():
        alike = [rows.get((s, key)) for s in stages]
        if len(stages) > 1 and all(v == values for v in alike):
            out[key] = values  # differs the same way in every stage: one row
        else:
            out[f"{stage}.{key}" if stage else key] = values
    return out


def summaries(folders: list[Path]) -> list[dict[str, Any]]:
    for folder in folders:
        if not (folder / "results.json").is_file():
            raise ConfigError(f"{folder} has no results.json: it is not a finished run")
        for path in [folder / "results.json", *(p / "results.json" for p in finished_stages(folder).values())]:
            if not isinstance(read_json(path), dict):  # read_json: invalid JSON at its line and column
                raise ConfigError(f"{path}: not a results record (a JSON object); the run folder is damaged")
    out = []
    for folder in folders:
        try:
            out.append(run_summaries.summarise(folder))
        except DAMAGED as exc:
            raise ConfigError(
                f"{folder / 'results.json'}: cannot be read ({type(exc).__name__}: {exc}); the run folder is damaged: "
                "leave it out, or train it again"
            ) from None
    return out


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def render(folders: list[Path], groups: dict[str, str] | None = None) -> str:
    """The comparison as Markdown: scores, time and machine; the settings that differ; and, when
    `groups` ({run name: group}) puts several runs in a group, each group's mean ± sd."""
    runs = summaries(folders)
    tasks = [t for t in TASKS if any(t in r["dev"] for r in runs)]
    header = ["run", *[f"{TASKS[t].title} ({TASKS[t].metric_name})" for t in tasks], "mean", "reported stage", "wall time", "machine"]
    lines = ["## Dev scores", "", _row(header), _row(["---"] * len(header))]
    for r in runs:
        cells = [recorded.score_cell(r, t) for t in [*tasks, "mean"]]
        lines.append(_row([f"`{r['run']}`", *cells, r.get("reported_stage") or "–", recorded.wall_cell([r]), recorded.where_cell([r])]))
    lines += ["", "Dev score [bootstrap 95% interval]; the mean's ± is its 95% half-width."]
    if any(r.get("para_split") for r in runs):
        lines[-1] += " " + recorded.SPLIT_NOTE
    diff = setting_differences(folders)
    lines += ["", "## Settings that differ", ""]
    if diff:
        lines += [_row(["setting", *[f"`{r['run']}`" for r in runs]]), _row(["---"] * (len(runs) + 1))]
        lines += [_row([f"`{k}`", *values]) for k, values in diff.items()]
    else:
        lines.append("None: the runs were trained with the same settings.")
    if groups and any(list(groups.values()).count(g) > 1 for g in groups.values()):
        named = [
            {**r, "group": groups.get(r["run"], r["run"]), "label": groups.get(r["run"], r["run"]), "tables": ["comparison"]} for r in runs
        ]
        lines += ["", "## By group (seeds)", "", recorded.comparison_table(named, "comparison")]
    return "\n".join(lines) + "\n"


def figure(folders: list[Path]) -> Any:
    """Each task's dev score with its bootstrap 95% interval, one marker per run."""
    import matplotlib.pyplot as plt
    import numpy as np

    runs = summaries(folders)
    tasks = [t for t in TASKS if any(t in r["dev"] for r in runs)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(tasks) * max(len(runs), 2)), 3.8))
    width = 0.8 / len(runs)
    for i, r in enumerate(runs):
        x = np.arange(len(tasks)) - 0.4 + width * (i + 0.5)
        values = np.array([r["dev"].get(t, np.nan) for t in tasks])
        ci = np.array([r["ci95"].get(t, [np.nan, np.nan]) for t in tasks], dtype=float)
        ax.errorbar(x, values, yerr=[values - ci[:, 0], ci[:, 1] - values], fmt="o", capsize=4, label=r["run"])
    ax.set_xticks(range(len(tasks)), [f"{TASKS[t].title}\n({TASKS[t].metric_name})" for t in tasks])
    ax.set_ylabel("dev score")
    ax.set_title("Dev scores with bootstrap 95% intervals")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


WRITTEN = ("compare.md", "compare.png", "compare.svg")
HEADER = re.compile(r"# \d+ runs compared\n")  # how the compare.md it writes begins: its mark


def check_out(out: Path, overwrite: bool) -> None:
    """`--out` must be a folder (or new), and the files compare writes there new or its own (a
    compare.md that begins with `HEADER`: then the figures beside it are its own too), unless
    --overwrite: a user's compare.md is never replaced unasked."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; compare writes compare.md and compare.png/.svg into a folder: choose another --out")
    try:
        ours = HEADER.match((out / "compare.md").read_text(encoding="utf-8", errors="replace")[:200]) is not None
    except OSError:  # none there (or a folder of that name: the write says so)
        ours = False
    theirs = [name for name in WRITTEN if (out / name).exists() and not ours]
    if theirs and not overwrite:
        raise ConfigError(
            f"--out {out} holds {', '.join(theirs)}, not written by compare (its compare.md begins '# N runs compared'): "
            "pass --overwrite to replace them, or choose another --out"
        )


def compare(folders: list[str | Path], out: str | Path | None = None, groups: dict[str, str] | None = None, overwrite: bool = False) -> str:
    """Print the comparison; with `out`, also write compare.md and compare.png/.svg there
    (`check_out`: files it did not write are replaced only with `overwrite`)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    paths = [Path(f) for f in folders]
    if len(paths) < 2:
        raise ConfigError("compare needs at least two run folders")
    if out:
        check_out(Path(out), overwrite)
    try:  # everything is read and drawn before anything is written
        text = render(paths, groups)
        fig = figure(paths) if out else None
    except DAMAGED as exc:
        raise ConfigError(
            f"a run's records cannot be read ({type(exc).__name__}: {exc}); its results.json or config.yaml is damaged: "
            "leave that run out, or train it again"
        ) from None
    print(text)
    if out:
        from ...util.errors import write_failure
        from ..figures.plots import write_figure

        out = Path(out)
        try:  # each file whole (a temporary file renamed); nothing else in the folder is touched
            atomic_write_text(out / "compare.md", f"# {len(paths)} runs compared\n\n" + "".join(f"- `{p}`\n" for p in paths) + "\n" + text)
            write_figure(fig, out, "compare")
        except OSError as exc:
            raise write_failure(exc.filename or out, exc, "choose a writable --out") from None
        finally:
            plt.close(fig)
        print(f"written: {out / 'compare.md'}, {out / 'compare.png'}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="finished run folders")
    parser.add_argument("--out", default="", help="folder for compare.md and compare.png/.svg")
    parser.add_argument("--overwrite", action="store_true", help="replace compare.md/.png/.svg there even if compare did not write them")
    args = parser.parse_args(argv)
    return run_command("mtlib compare", lambda: compare(args.runs, args.out or None, overwrite=args.overwrite))
