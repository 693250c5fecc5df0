"""What every figure of the workbook shares: where figures are saved (`save_figure`: the run's
own `figures/` folder and a copy under `figures/<run>/` for papers, both from the project root),
the task, split and stage colours, the legends kept off the data, and value labels placed so
that none overlaps another (`label_points`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ...config.tasks import TASKS
from ...util import paths


def figures_dir(run: str | Path) -> Path:
    """A run's own figure folder: `<run folder>/figures/` (`run` is a run folder or a run name)."""
    folder = Path(run) if isinstance(run, Path) or "/" in str(run) else paths.run_folder(str(run))
    path = folder / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig: Any, run: str | Path, name: str) -> list[Path]:
    """Save `fig` as PNG (150 dpi) and SVG into the run's figure folder, and copy both to
    `figures/<run>/`; returns the run folder's paths, in that order."""
    folder = figures_dir(run)
    copies = paths.figures_dir() / folder.parent.name
    copies.mkdir(parents=True, exist_ok=True)
    out = write_figure(fig, folder, name)
    for path in out:
        shutil.copyfile(path, copies / path.name)
    return out


def write_figure(fig: Any, folder: Path, name: str) -> list[Path]:
    """`folder/<name>.png` (150 dpi) and `.svg`, each written whole (a temporary file, renamed).
    The SVG carries no date and fixed element ids, so the same figure is the same file."""
    import matplotlib

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in ("png", "svg"):
        path = folder / f"{name}.{ext}"
        tmp = path.with_name(f".{path.name}.tmp")
        with matplotlib.rc_context({"svg.hashsalt": name}):
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=ext, metadata={"Date": None} if ext == "svg" else None)
        tmp.replace(path)
        out.append(path)
    return out


def class_names(task: str) -> list[str]:
    return list(TASKS[task].class_names)


TASK_COLORS = {name: spec.color for name, spec in TASKS.items()}
SPLIT_COLORS = {"train": "#4C72B0", "dev": "#DD8452", "test": "#8C8C8C"}
STAGE_COLORS = ["#F2F2F2", "#E3ECF7", "#FBEBDD", "#E4F1E6"]


def _metric_label(task: str) -> str:
    return "Pearson r" if TASKS[task].metric_name == "pearson" else "accuracy"


BOTTOM_LEGEND_INCHES = 0.4  # the row kept free under the axes for a figure-wide legend


def finish(fig: Any, title: str) -> Any:
    """The title, then a layout that keeps every text inside the figure: a figure-wide legend
    (`_figure_legend`) gets its own row at the bottom."""
    fig.suptitle(title, fontsize=13, fontweight="bold")
    bottom = BOTTOM_LEGEND_INCHES / fig.get_figheight() if fig.legends else 0
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def _figure_legend(fig: Any, handles: list[Any], title: str | None = None) -> None:
    """One legend for all panels, in a row under them (`finish` keeps the row free)."""
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), fontsize=9, frameon=False, title=title)


def _stage_colors(spans: Any) -> dict[str, str]:
    return {row.stage: STAGE_COLORS[i % len(STAGE_COLORS)] for i, row in enumerate(spans.itertuples(index=False))}


def _shade_stages(ax: Any, spans: Any, shown: Any = None) -> None:
    """Background bands, one colour per training stage (see `_stage_legend`); `shown`: only
    these stages (their colours stay those of the whole run)."""
    if spans is None or len(spans) < 2:
        return
    colors = _stage_colors(spans)
    for row in spans.itertuples(index=False):
        if shown is None or row.stage in shown:
            ax.axvspan(row.start - 0.5, row.end + 0.5, color=colors[row.stage], zorder=0, lw=0)


def _stage_legend(fig: Any, spans: Any, shown: Any = None) -> None:
    """A legend under the panels naming the stage of each background band."""
    if spans is None or len(spans) < 2:
        return
    from matplotlib.patches import Patch

    colors = _stage_colors(spans)
    _figure_legend(fig, [Patch(color=c, label=f"stage {s}") for s, c in colors.items() if shown is None or s in shown])


def _drawn_points(ax: Any, renderer: Any) -> Any:
    """Display-space points every pixel along the axes' lines (NaN breaks a line, as drawn) and at
    their markers: what a value label must keep clear of."""
    import numpy as np
    from matplotlib.collections import LineCollection

    found = [np.empty((0, 2))]
    for line in ax.lines:
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), float)) if line.get_visible() else np.empty((0, 2))
        found.append(xy[np.isfinite(xy).all(axis=1)])
        if line.get_linestyle() in ("None", "", " ") or len(xy) < 2:
            continue
        a, b = xy[:-1], xy[1:]
        keep = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
        found += [p + (q - p) * np.linspace(0, 1, int(np.hypot(*(q - p))) + 2)[:, None] for p, q in zip(a[keep], b[keep])]
    for bars in [c for c in ax.collections if isinstance(c, LineCollection) and c.get_visible()]:  # error bars
        for segment in bars.get_segments():
            p, q = bars.get_transform().transform(np.asarray(segment, float))[[0, -1]]
            found.append(p + (q - p) * np.linspace(0, 1, int(np.hypot(*(q - p))) + 2)[:, None])
    return np.concatenate(found)


def label_points(ax: Any, points: list[tuple[float, float]], texts: list[str], **style: Any) -> None:
    """Value labels for points, most important first: each above its point, else below, else
    beside or diagonal to it, else left out, so no label overlaps another label, a line or a
    marker or error bar of the axes, or crosses the axes' frame; `style`: the annotations' (colour,
    font size 8). Call it once the layout is final (after `finish`)."""
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    drawn = _drawn_points(ax, renderer)
    clearance = 4 * ax.figure.dpi / 72  # a marker's radius (points) and a line's half width
    placed: list[Any] = []
    places = [((0, 7), "center", "bottom"), ((0, -7), "center", "top"), ((7, 0), "left", "center"), ((-7, 0), "right", "center")]
    places += [((6, 6), "left", "bottom"), ((-6, 6), "right", "bottom"), ((6, -6), "left", "top"), ((-6, -6), "right", "top")]
    places += [((0, 16), "center", "bottom"), ((0, -16), "center", "top")]
    for (x, y), text in zip(points, texts):
        for offset, ha, va in places:
            label = ax.annotate(text, (x, y), textcoords="offset points", xytext=offset, ha=ha, va=va, **{"fontsize": 8, **style})
            box = label.get_window_extent(renderer)
            inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            near = box.padded(clearance)
            on_data = ((drawn[:, 0] > near.x0) & (drawn[:, 0] < near.x1) & (drawn[:, 1] > near.y0) & (drawn[:, 1] < near.y1)).any()
            if inside and not on_data and not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            label.remove()


def wrap(text: str, width: int = 70) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:3])
