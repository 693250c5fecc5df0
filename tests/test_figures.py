"""Every figure of the workbook is fit for a paper: drawn as the notebooks draw them, from a
recorded smoke run (the session's `smoke_run`) and the recorded results (`make results`' figure),
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
]


def draw_all(run: Path, monkeypatch) -> dict[str, object]:
    """The figures of notebooks 01 to 04 for `run` (and make results' budget figure), by name,
    each drawn by the call its notebook makes."""
    from mtlib.config import Config
    from mtlib.model.encoders import load_tokenizer
    from mtlib.run.stages import finished_stages, reported_stage
    from mtlib.store.results_file import RunResult
    from mtlib.workbook import budget_figure, explore, history, plots, result_tables, run_analysis, trivial_baselines

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


def layout_problems(fig) -> list[str]:
    """Overlapping texts, legends over texts or data, texts outside the figure: one line each."""
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


def test_the_conflict_timeline_spans_the_monitored_updates(figures):
    """The cosines fill the timeline's x axis (not squeezed into the last stage's corner), and no
    stage that logged cosines is labelled as having none."""
    fig = figures["03_gradient_conflicts"]
    left, right = fig.axes[:2]
    xs = [x for line in left.lines if line.get_transform() == left.transData for x in line.get_xdata()]
    low, high = left.get_xlim()
    assert xs and (max(xs) - min(xs)) / (high - low) > 0.6
    assert not [t.get_text() for t in right.texts if "no records" in t.get_text()]


def test_a_one_point_dev_series_is_a_labelled_marker(figures):
    fig = figures["02_learning_curves"]
    bottom = [ax for ax in fig.axes if ax.get_ylabel().startswith("dev ")]
    assert len(bottom) == 3
    for ax in bottom:
        (line,) = [ln for ln in ax.lines if ln.get_transform() == ax.transData]
        assert len(line.get_xdata()) == 1 and line.get_linestyle() == "None" and line.get_markersize() >= 8
        assert [t.get_text() for t in ax.texts] == [f"{line.get_ydata()[0]:.3f} (epoch 1)"]
