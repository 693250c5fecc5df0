"""Every figure of the workbook is fit for a paper: drawn as the notebooks draw them, from a
recorded smoke run (the session's `smoke_run`) and the recorded results (`make results`' two
figures, from results/ and results/study/: those under figures/readme/),
no two texts overlap, no legend covers a text or the data (bars, line points), and no text
leaves the figure. Read from matplotlib's own bounding boxes (`get_window_extent` with the
figure's renderer), so what is checked is what is drawn."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import matplotlib
import pytest
from conftest import data_dir

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

SLACK = 1.0  # pixels: boxes that only touch do not overlap
FIGURES = [  # every figure a workbook run writes (runs/<run>/figures/), and make results' figure
    "01_split_sizes",
    "01_label_distributions",
    "01_token_lengths",
    "02_learning_curves",
    "02_baselines",
    "03_learning_curves",
    "03_task_sampling",
    "03_gradient_conflicts",
    "04_sst_confusion",
    "04_para_confusion",
    "04_sts_scatter",
    "04_per_class",
    "04_dev_scores_ci",
    "04_playground_example",
    "score_vs_minutes",
    "study_differences",
]


def draw_all(run: Path, monkeypatch) -> dict[str, object]:
    """The figures of notebooks 01 to 04 for `run` (and make results' budget figure), by name,
    each drawn by the call its notebook makes."""
    from mtlib.config import Config
    from mtlib.model.encoders import load_tokenizer
    from mtlib.store.results_file import RunResult
    from mtlib.workbook import study
    from mtlib.workbook.figures import budget as budget_figure
    from mtlib.workbook.figures import plots
    from mtlib.workbook.reports import result_tables
    from mtlib.workbook.sections import explore, history, run_analysis, trivial_baselines
    from mtlib.workbook.training.stages import finished_stages, reported_stage

    drawn: dict[str, object] = {}

    def keep(fig, where, name):  # instead of writing files
        drawn[name] = fig
        return []

    monkeypatch.setattr(plots, "save_figure", keep)
    monkeypatch.setattr(plots, "write_figure", lambda fig, folder, name: keep(fig, folder, name))
    monkeypatch.setattr(plots.plt, "close", lambda *a: None)  # keep 04's figures drawable after display
    cfg = Config.from_profile("smoke", data_dir=str(data_dir()))
    splits, _ = explore.load_splits(cfg.data.data_dir, cfg.data.tasks)
    keep(plots.split_sizes_figure(explore.split_sizes(splits)), run, "01_split_sizes")
    keep(plots.label_distribution_figure(explore.label_distribution(splits)), run, "01_label_distributions")
    lengths = explore.token_lengths(splits, load_tokenizer(cfg.model.encoder), sample_rows=200)
    keep(plots.token_length_figure(lengths, cfg.data.max_length), run, "01_token_lengths")
    done = finished_stages(run)
    first = dict(list(done.items())[:1])
    keep(plots.learning_curves_figure(history.train_losses(first), history.dev_scores(first)), run, "02_learning_curves")
    (folder,) = first.values()
    table = trivial_baselines.compare_with_baselines(folder, RunResult.read(folder).dev, cfg.data.data_dir)
    keep(plots.baseline_figure(table), run, "02_baselines")
    spans = history.stage_spans(done)
    keep(plots.learning_curves_figure(history.train_losses(done), history.dev_scores(done), spans), run, "03_learning_curves")
    sampling = history.sampling_summary(done)
    keep(plots.task_sampling_figure(history.task_sampling(done), sampling, spans), run, "03_task_sampling")
    keep(plots.conflict_figure(history.conflicts(done), history.conflict_summary(done), spans), run, "03_gradient_conflicts")
    view = run_analysis.open_analysis(checkpoint=str(done[reported_stage(done)]))
    monkeypatch.setattr(view, "_show", lambda *items: None)
    view.confusion_matrices()
    view.regression()
    view.per_class()
    view.scores(100, 0)
    view.playground(False, "A gripping, beautifully acted and often very funny film. | A man plays. || A person plays.")
    budget_figure.draw(result_tables.load_summaries(), run / "figures")
    keep(study.differences_figure(study.load_records(result_tables.RESULTS / "study")), run, "study_differences")
    return drawn


def _drawn_tick_labels(fig) -> set[int]:
    ids = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():  # the ticks inside the view limits: those drawn
                ids |= {id(label) for label in (tick.label1, tick.label2) if label.get_visible()}
    return ids


def _shown(artist) -> bool:
    while artist is not None:
        if not artist.get_visible():
            return False
        artist = getattr(artist, "axes", None) if artist is not getattr(artist, "axes", None) else None
    return True


def _line_samples(points, step: float = 1.0):
    """Points every `step` pixels along the segments between consecutive finite `points` (a
    polyline in display space; a NaN breaks it, as matplotlib does when drawing)."""
    a, b = points[:-1], points[1:]
    keep = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a, b = a[keep], b[keep]
    if not len(a):
        return np.empty((0, 2))
    counts = np.maximum(2, np.ceil(np.hypot(*(b - a).T) / step).astype(int) + 1)
    t = np.concatenate([np.linspace(0, 1, n) for n in counts])
    starts, ends = np.repeat(a, counts, axis=0), np.repeat(b, counts, axis=0)
    return starts + (ends - starts) * t[:, None]


def _inside(box, xy) -> bool:
    return bool(len(xy)) and bool(((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)).any())


def _covers_marker(box, line, points, px: float) -> bool:
    """Does `box` overlap a marker of `line` drawn at `points` (display space)? The marker's own
    drawn extent (a cap `_` is wide and flat), as matplotlib scales it: its size in points."""
    from matplotlib.transforms import Affine2D

    marker = line._marker  # the MarkerStyle the line draws
    scale = Affine2D().scale(line.get_markersize() * px)
    extent = marker.get_path().get_extents(marker.get_transform() + scale).padded(line.get_markeredgewidth() * px / 2)
    for x, y in points[np.isfinite(points).all(axis=1)]:
        if box.overlaps(Bbox.from_extents(x + extent.x0, y + extent.y0, x + extent.x1, y + extent.y1)):
            return True
    return False


def _is_band(patch, frame) -> bool:
    """A background band (axvspan, axhspan): spans the whole axes one way; texts may sit on it."""
    box = patch.get_window_extent()
    return box.width >= frame.width - 2 * SLACK or box.height >= frame.height - 2 * SLACK


def _data_problems(ax, text, box, renderer) -> list[str]:
    """What `text`, drawn in `ax`, crosses: the axes' frame, a line (its vertices and the segments
    between them, sampled in display space), a marker, an error bar or other line collection, a
    scatter point, or a bar or other patch (not a background band). Images and filled areas are
    left out: a heatmap's cell values and a seed band's labels sit on them by design."""
    name = repr(text.get_text().replace("\n", " "))
    frame = ax.get_window_extent(renderer)
    px = ax.figure.dpi / 72
    if not box.overlaps(frame):
        return []
    problems = []
    inner = box.padded(-SLACK)
    if ax.axison and not (frame.padded(SLACK).contains(box.x0, box.y0) and frame.padded(SLACK).contains(box.x1, box.y1)):
        problems.append(f"{name} crosses the frame of its axes")
    seen = Bbox.intersection(inner, frame) or inner
    for line in ax.lines:
        if not _shown(line) or not len(line.get_xydata()):
            continue
        points = line.get_transform().transform(np.asarray(line.get_xydata(), float))
        label = line.get_label() if not line.get_label().startswith("_") else "a line"
        if line.get_linestyle() not in ("None", "", " ") and line.get_linewidth() > 0:
            if _inside(seen.padded(line.get_linewidth() * px / 2), _line_samples(points)):
                problems.append(f"{name} crosses the line {label!r}")
        if line.get_marker() not in ("None", "", " ", None) and line.get_markersize() > 0:
            if _covers_marker(seen, line, points, px):
                problems.append(f"{name} covers a marker of {label!r}")
    for collection in ax.collections:
        if not _shown(collection):
            continue
        if isinstance(collection, LineCollection):  # error bars, vlines, hlines
            transform = collection.get_transform()
            samples = [_line_samples(transform.transform(seg)) for seg in collection.get_segments() if len(seg) > 1]
            if any(_inside(seen, s) for s in samples):
                problems.append(f"{name} crosses an error bar or line collection")
        elif isinstance(collection, PathCollection) and len(collection.get_offsets()):  # scatter
            points = collection.get_offset_transform().transform(np.asarray(collection.get_offsets(), float))
            radius = np.sqrt(max(collection.get_sizes(), default=0)) * px / 2
            if _inside(seen.padded(radius), points):
                problems.append(f"{name} covers a scatter point")
    for patch in ax.patches:
        extent = patch.get_window_extent(renderer)
        if not _shown(patch) or _is_band(patch, frame) or min(extent.width, extent.height) < SLACK:
            continue
        if not patch.get_fill():  # an outline (a step histogram): its edges, as a line
            edges = patch.get_transform().transform(patch.get_path().vertices)
            if _inside(seen.padded(patch.get_linewidth() * px / 2), _line_samples(edges)):
                problems.append(f"{name} crosses the outline {patch.get_label() or 'of a patch'}")
        elif seen.overlaps(extent.padded(-SLACK)):
            problems.append(f"{name} covers a bar or patch")
    return problems


def layout_problems(fig) -> list[str]:
    """Overlapping texts, legends over texts or data, texts outside the figure, and texts drawn in
    an axes that cross its frame or its data (`_data_problems`): one line each."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [a for a in fig.findobj(Legend) if a.get_visible()]
    in_legend = {id(t) for leg in legends for t in leg.findobj(Text)}
    ticks = _drawn_tick_labels(fig)
    tick_label_ids = {id(label) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for label in axis.get_ticklabels(which="both")}
    texts = []
    for text in fig.findobj(Text):
        if id(text) in in_legend or not text.get_text().strip() or not _shown(text):
            continue
        if id(text) in tick_label_ids and id(text) not in ticks:
            continue
        box = text.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            texts.append((text.get_text().replace("\n", " "), box))
    boxes = texts + [(f"legend {[t.get_text() for t in leg.get_texts()][:3]}", leg.get_window_extent(renderer)) for leg in legends]
    problems = []
    page = fig.bbox.padded(SLACK)
    for label, box in boxes:
        if not (page.contains(box.x0, box.y0) and page.contains(box.x1, box.y1)):
            problems.append(f"{label!r} leaves the figure")
    for (a, box_a), (b, box_b) in combinations(boxes, 2):
        if box_a.padded(-SLACK).overlaps(box_b.padded(-SLACK)):
            problems.append(f"{a!r} overlaps {b!r}")
    for ax in fig.axes:  # the texts drawn in an axes (values, notes), not its ticks, labels or title
        for text in ax.texts:
            if text.get_text().strip() and _shown(text):
                problems += _data_problems(ax, text, text.get_window_extent(renderer), renderer)
    for leg in legends:
        box = leg.get_window_extent(renderer).padded(-SLACK)
        ax = leg.axes if leg.axes is not None and leg in leg.axes.get_children() else None
        for data_ax in [ax] if ax is not None else []:
            for container in data_ax.containers:
                for bar in getattr(container, "patches", []):
                    if bar.get_height() and bar.get_width() and box.overlaps(bar.get_window_extent(renderer)):
                        problems.append(f"legend {[t.get_text() for t in leg.get_texts()][:3]} covers a bar")
                        break
            for line in data_ax.lines:
                if line.get_transform() != data_ax.transData or not line.get_visible():
                    continue
                points = data_ax.transData.transform(line.get_xydata())
                if any(Bbox.from_extents(*box.extents).contains(x, y) for x, y in points):
                    problems.append(f"legend {[t.get_text() for t in leg.get_texts()][:3]} covers points of {line.get_label()!r}")
    return list(dict.fromkeys(problems))


@pytest.fixture(scope="module")
def figures(smoke_run, tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    try:
        yield draw_all(smoke_run("pal-cross"), monkeypatch)
    finally:
        monkeypatch.undo()


def test_every_figure_of_a_run_is_drawn(figures):
    assert sorted(figures) == sorted(FIGURES)


@pytest.mark.parametrize("name", FIGURES)
def test_no_text_overlaps_another_or_the_data_or_leaves_the_figure(figures, name):
    assert layout_problems(figures[name]) == []


def test_the_checker_sees_overlaps_and_clipping():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar([0, 1], [1, 1], label="bars")
    ax.text(0.5, 0.5, "one", transform=ax.transAxes)
    ax.text(0.5, 0.5, "two", transform=ax.transAxes)
    ax.text(1.3, 0.5, "outside", transform=ax.transAxes)
    ax.legend(loc="center left")
    problems = layout_problems(fig)
    assert "'one' overlaps 'two'" in problems and "'outside' leaves the figure" in problems
    assert "legend ['bars'] covers a bar" in problems
    plt.close(fig)


def test_the_checker_sees_texts_on_lines_markers_bars_and_the_frame():
    """Each data check fires on a hand-made bad figure, and a clean label beside the same data
    passes: a text on a segment between two vertices (none of them under it), on a marker, on an
    error bar, on a scatter point, on a step histogram's outline, on a bar, and across the frame;
    a tick label, axis label or title is not held to the data."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9, 2.5))
    line, dots, bars = axes
    line.plot([0, 10], [0, 10], label="diagonal")
    line.plot([2], [8], "s", ms=10, label="square")
    line.errorbar([8], [2], yerr=[1.5], fmt="none")
    line.text(5, 5, "on the segment", ha="center", va="center")
    line.text(2, 8, "on the square", ha="center", va="center")
    line.text(8, 2, "bar", ha="center", va="center", fontsize=6)
    line.text(9.5, 9, "across the frame", ha="left")
    line.text(0.2, 9.5, "clear", fontsize=6)
    line.set(xlim=(0, 10), ylim=(0, 10), title="diagonal", xlabel="x on the diagonal")
    dots.scatter([1], [1], s=80)
    dots.hist([1, 1, 2, 3, 3, 3], bins=3, histtype="step")
    dots.text(1, 1, "dot", ha="center", va="center")
    dots.text(2.6, 3, "outline", ha="center", va="center")
    dots.set(xlim=(0, 4), ylim=(0, 4))
    bars.bar([0], [1])
    bars.axvspan(-1, 1, color="0.9", zorder=0)  # a background band: texts may sit on it
    bars.text(0, 0.5, "in the bar", ha="center", va="center")
    bars.text(0.7, 1.2, "on the band", ha="center", fontsize=6)
    bars.set(xlim=(-1, 1), ylim=(0, 1.5))
    fig.tight_layout()
    problems = layout_problems(fig)
    for expected in (
        "'on the segment' crosses the line 'diagonal'",
        "'on the square' covers a marker of 'square'",
        "'bar' crosses an error bar or line collection",
        "'across the frame' crosses the frame of its axes",
        "'dot' covers a scatter point",
        "'outline' crosses the outline of a patch",
        "'in the bar' covers a bar or patch",
    ):
        assert expected in problems
    assert not [p for p in problems if p.startswith(("'clear'", "'on the band'", "'diagonal'", "'x on"))]
    plt.close(fig)


def test_the_conflict_timeline_spans_the_monitored_updates(figures):
    """The cosines fill the timeline's x axis (not squeezed into the last stage's corner), and no
    stage that logged cosines is labelled as having none."""
    fig = figures["03_gradient_conflicts"]
    left, right = fig.axes[:2]
    xs = [x for line in left.lines if line.get_transform() == left.transData for x in line.get_xdata()]
    low, high = left.get_xlim()
    assert xs and (max(xs) - min(xs)) / (high - low) > 0.6
    assert not [t.get_text() for t in right.texts if "no records" in t.get_text()]


def test_the_study_legend_names_every_kind_of_mark_and_no_other(figures):
    """The forest plot's legend: one entry per verdict colour drawn (each comparison's interval and
    mean), the report's diamond and the equivalence band; none for a verdict no comparison has."""
    from matplotlib.colors import to_hex

    fig = figures["study_differences"]
    (ax,) = fig.axes
    drawn = {to_hex(line.get_color()) for line in ax.lines if line.get_marker() == "o"}
    entries = ax.get_legend().get_lines()
    verdicts = {to_hex(h.get_color()) for h in entries if h.get_marker() == "o"}
    assert drawn and verdicts == drawn
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "the report's Δ" in labels and any(t.startswith("equivalence band") for t in labels)


def test_learning_curves_give_each_stage_an_equal_share_and_join_no_stages(figures):
    """Across stages the x axis is the stages side by side, one unit each (named under the
    bottom panels), and no line of the figure runs from one stage into the next."""
    fig = figures["03_learning_curves"]
    for ax in fig.axes:
        for line in ax.lines:
            xs = line.get_xdata()
            if len(xs) > 1:
                assert max(xs) - int(min(xs)) <= 1 + 1e-9, line.get_label()
    bottom = fig.axes[3]
    names = [t.get_text().replace("\n", "_") for t in bottom.get_xticklabels(minor=True)]
    assert names == ["individual_pretrain", "finetune", "finetune_vaccine"]


def test_a_one_point_dev_series_is_a_labelled_marker(figures):
    fig = figures["02_learning_curves"]
    bottom = [ax for ax in fig.axes if ax.get_ylabel().startswith("dev ")]
    assert len(bottom) == 3
    for ax in bottom:
        (line,) = [ln for ln in ax.lines if ln.get_transform() == ax.transData]
        assert len(line.get_xdata()) == 1 and line.get_linestyle() == "None" and line.get_markersize() >= 8
        assert [t.get_text() for t in ax.texts] == [f"{line.get_ydata()[0]:.3f} (epoch 1)"]
