"""The README results tables are rendered from recorded run summaries, never typed."""

from __future__ import annotations

import json

import pytest

from mtlib.util.errors import ConfigError
from mtlib.workbook.reports import result_tables as results
from mtlib.workbook.reports import run_summaries


def _summary(run, group, tables, sst, para, sts, wall=600.0, width=0.02):
    dev = {"sst": sst, "para": para, "sts": sts}
    return {
        "run": run, "label": f"label of {group}", "group": group, "tables": tables, "encoder": "minilm-l6", "device": "cpu",
        "threads": 2, "dev": dev, "ci95": {t: [v - width, v + width] for t, v in dev.items()},
        "dev_mean": sum(dev.values()) / 3, "wall_seconds": wall, "command": f"python -m mtlib.recipe --run {run}",
    }  # fmt: skip


SUMMARIES = [
    _summary("base-trainer", "trainer", ["comparison"], 0.47, 0.84, 0.86),
    _summary("full-s0", "full", ["comparison", "candidates"], 0.49, 0.85, 0.88),
    _summary("full-s1", "full", ["comparison", "candidates"], 0.48, 0.83, 0.87),
    _summary("cpu-s0", "cpu", ["ablation"], 0.36, 0.80, 0.86),
    _summary("cpu-s1", "cpu", ["ablation"], 0.37, 0.81, 0.87),
    _summary("abl-rr", "abl-rr", ["ablation"], 0.40, 0.79, 0.86),
]


def test_single_runs_show_intervals_and_seed_groups_show_mean_and_sd():
    text = results.comparison_table(SUMMARIES)
    mean_hw = (3 * 0.02**2) ** 0.5 / 3
    assert (
        f"| label of trainer | `base-trainer` | 0.470 [0.450, 0.490] | 0.840 [0.820, 0.860] | 0.860 [0.840, 0.880] | 0.723 ±{mean_hw:.3f} | 10.0 min | cpu, 2 threads |"
        in text
    )
    # two seeds: mean ± sample sd (0.49, 0.48 -> 0.485 ± 0.007)
    assert "| full | 2 seeds: `full-s0`, `full-s1` | 0.485 ± 0.007 | 0.840 ± 0.014 | 0.875 ± 0.007 |" in text
    assert "cpu-s0" not in text  # ablation-only runs stay out of the comparison table
    assert "`full-s0`" in results.comparison_table(SUMMARIES, "candidates")


def test_gains_are_set_against_the_seed_spread():
    text = results.gains_table(SUMMARIES, "full", "trainer")
    assert "| sst | 0.4850 ± 0.0071 (2) | 0.4700 | +0.0150 | 2.1 | ±0.020 | yes |" in text
    assert "| para | 0.8400 ± 0.0141 (2) | 0.8400 | +0.0000 | 0.0 | ±0.020 | no |" in text  # one seed is below
    assert "no recorded runs" in results.gains_table(SUMMARIES, "full", "missing")
    # groups pooled: the runs of one recipe on two devices, say (0.49, 0.48, 0.40 -> 0.4567 ± 0.0493)
    pooled = results.gains_table(SUMMARIES, ["full", "abl-rr"], "trainer")
    assert "| task | full + abl-rr (mean ± sd, n) |" in pooled
    assert "| sst | 0.4567 ± 0.0493 (3) | 0.4700 | -0.0133 | -0.3 | ±0.020 | no |" in pooled


def test_ablations_are_changes_against_the_base_mean():
    text = results.ablation_table(SUMMARIES, "cpu")
    row = next(line for line in text.splitlines() if "`abl-rr`" in line)
    assert "0.400 (+0.035)" in row and "0.790 (-0.015)" in row
    base_mean = ((0.36 + 0.80 + 0.86) / 3 + (0.37 + 0.81 + 0.87) / 3) / 2
    assert f"{(0.40 + 0.79 + 0.86) / 3 - base_mean:+.4f}" in row
    assert "**cpu** (base)" in text and "0.365 ± 0.007" in text


def test_record_and_readme_update(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "cpu-x"
    run.mkdir(parents=True)
    dev = {"sst": 0.41, "para": 0.8, "sts": 0.81}
    (run / "results.json").write_text(
        json.dumps({"dev": dev, "ci95": {t: [v - 0.01, v + 0.01] for t, v in dev.items()}, "dev_mean": 0.673, "wall_seconds": 840.0})
    )
    (run / "command.txt").write_text("python -m mtlib --lr 1e-4\n")
    (run / "manifest.json").write_text(
        json.dumps({"device": "cpu", "threads": 2, "amp": "off", "data": {"notes": ["md5 split of quora-dev"]}})
    )
    (run / "predictions").mkdir()
    (run / "predictions" / "sst-dev-detailed.tsv").write_text("id\tsentence\tlabel\tprediction\na\tx\t0\t0\nb\ty\t1\t0\n")
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(run_summaries, "RESULTS", tmp_path / "results")  # where `record` writes
    path = results.record(run, label="cpu profile", group="cpu", table="comparison,ablation")
    saved = json.loads(path.read_text())
    assert saved["recall"] == {"sst": [1.0, 0.0, None, None, None]}
    assert saved["tables"] == ["comparison", "ablation"] and saved["command"] == "python -m mtlib --lr 1e-4" and saved["para_split"]
    with pytest.raises(ConfigError, match="--table 'nope'"):
        results.record(run, table="nope")
    (tmp_path / "results" / "tables.json").write_text(json.dumps({"recipe": "cpu", "baselines": [], "ablation_base": "cpu"}))
    start, end = results.markers("comparison")
    readme = tmp_path / "README.md"
    readme.write_text(f"head\n{start}\nold\n{end}\nmiddle\n{results.markers('seeds')[0]}\n{results.markers('seeds')[1]}\ntail\n")
    results.update_readme(readme, tmp_path / "results")
    out = readme.read_text()
    assert out.startswith("head\n") and out.endswith("tail\n") and "old" not in out
    assert "| cpu profile | `cpu-x` | 0.410 [0.400, 0.420]" in out
    assert "`python -m mtlib --lr 1e-4`" in out  # the table of all runs names each run's command


EPYC = {"cpu": "AMD EPYC", "cpu_capability": "AVX512", "precision": "bf16"}


def _workbook(run, group, sst, para, sts, minutes, **extra):
    summary = _summary(run, group, ["comparison"], sst, para, sts, wall=minutes * 60)
    return summary | {"stage_seconds": {"notebook 02": 60.0, "stage finetune": 300.0}} | EPYC | extra


def _budgeted(run, budget, sst, para, sts, minutes, **extra):
    return (
        _summary(run, f"Trainer {budget} min", ["comparison"], sst, para, sts, wall=minutes * 60)
        | EPYC
        | {"budget_minutes": budget}
        | extra
    )


FRONT = [
    _budgeted("t5-s0", 5, 0.30, 0.70, 0.70, 5.5, created="2026-12-03T17"),
    _budgeted("t5-s1", 5, 0.32, 0.72, 0.72, 4.5),
    _budgeted("t10-s0", 10, 0.40, 0.76, 0.80, 10.0),
    _budgeted("t20-s0", 20, 0.50, 0.82, 0.84, 20.0),
    _workbook("cpu-a-s0", "cpu profile here", 0.44, 0.80, 0.87, 9.0),
    _workbook("cpu-a-s1", "cpu profile here", 0.46, 0.80, 0.87, 11.0),
    _workbook("cheap-s0", "cheap profile here", 0.40, 0.78, 0.86, 5.0),
    # left out: another CPU, fp32 here, a run that shared the cores, a GPU run, one that names no CPU
    _budgeted("t5-xeon", 5, 0.9, 0.9, 0.9, 5.0, cpu="Intel Xeon"),
    _workbook("cpu-fp32", "cpu profile here", 0.9, 0.9, 0.9, 14.0, precision="fp32"),
    _workbook("cpu-shared", "cpu profile here", 0.9, 0.9, 0.9, 30.0, shared_cores=True),
    _workbook("gpu-x", "gpu", 0.9, 0.9, 0.9, 1.0, device="cuda"),
    _workbook("cpu-old", "earlier", 0.9, 0.9, 0.9, 15.0, cpu="", precision=""),
    _summary("base-trainer", "single-task Trainer", ["comparison"], 0.47, 0.84, 0.86),
]


@pytest.mark.parametrize(
    ("where", "text", "says"),
    [
        ("cpu-x.json", '{"run": "cpu-x", "dev": {"sst": 0.4', "not valid JSON"),
        ("cpu-x.json", "[1, 2]", "a JSON list, not an object"),
        ("cpu-x.json", '{"run": "cpu-x", "dev": {"sst": "0.4"}}', "'dev' must map tasks"),
        ("study/s/study-p-base-s0.json", '{"run": "r", "dev": {}, "dev_mean": 0.5}', "no 'study' object"),
    ],
)
def test_make_results_refuses_a_record_that_does_not_validate_and_writes_nothing(tmp_path, where, text, says):
    """Issue 34: a truncated, list-shaped, string-scored or study-less record is one line naming
    the file; no page and no figure is rewritten from the rest."""
    folder = tmp_path / "results"
    (folder / where).parent.mkdir(parents=True, exist_ok=True)
    (folder / where).write_text(text, encoding="utf-8")
    page = tmp_path / "results.md"
    start, end = results.markers("comparison")
    page.write_text(f"{start}\nkept\n{end}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=says) as caught:
        results.update_readme(page, folder, figure_dir=tmp_path / "figures")
    assert str(folder / where) in str(caught.value)
    assert page.read_text(encoding="utf-8") == f"{start}\nkept\n{end}\n" and not (tmp_path / "figures").exists()


def test_the_front_has_a_point_per_configuration_on_one_machine_with_its_seeds_range():
    from mtlib.workbook.figures import budget as front

    assert front.machine_of(FRONT) == ("AMD EPYC", "AVX512", "bf16", 2)  # the newest budgeted Trainer run's
    lines = front.front(FRONT)
    trainer, mtlib = lines[front.TRAINER], lines[front.MTLIB]
    assert [(p["runs"], p["minutes"]) for p in trainer] == [(["t5-s0", "t5-s1"], 5.0), (["t10-s0"], 10.0), (["t20-s0"], 20.0)]
    assert [(p["runs"], p["minutes"]) for p in mtlib] == [(["cheap-s0"], 5.0), (["cpu-a-s0", "cpu-a-s1"], 10.0)]
    assert trainer[0]["score"]["sst"] == pytest.approx(0.31) and trainer[0]["low"]["sst"] == 0.30 and trainer[0]["high"]["sst"] == 0.32
    assert mtlib[1]["score"]["mean"] == pytest.approx((0.45 + 0.80 + 0.87) / 3)
    assert front.reference_scores(FRONT, "single-task Trainer") == pytest.approx(
        {"sst": 0.47, "para": 0.84, "sts": 0.86, "mean": (0.47 + 0.84 + 0.86) / 3}
    )


def test_a_lone_budgeted_run_from_another_cpu_never_replaces_the_front():
    """Issue 34, finding 14: the newest budgeted run came from another CPU, whose front has no
    workbook run: the complete front stays, and its verdict with it."""
    from mtlib.workbook.figures import budget as front

    newer = FRONT + [_budgeted("t5-amx", 5, 0.2, 0.6, 0.6, 5.0, cpu="Intel Xeon", cpu_capability="AMX", created="2026-12-09T10")]
    assert front.machine_of(newer) == ("AMD EPYC", "AVX512", "bf16", 2)
    assert front.lead(newer) == front.lead(FRONT) and "not recorded yet" not in front.lead(newer)


def test_the_lines_cross_where_their_difference_changes_sign():
    from mtlib.workbook.figures import budget as front

    def line(*points):
        return [{"minutes": m, "score": {"sst": v}} for m, v in points]

    # mtlib 0.40 -> 0.45 over 5..10 min, Trainer 0.30 -> 0.50: the gap 0.10 -> -0.05 closes 2/3 of the way along log minutes
    span, found = front.crossings(line((5, 0.40), (10, 0.45)), line((5, 0.30), (10, 0.50)), "sst")
    assert span == (5, 10) and found == [pytest.approx(5 * 2 ** (2 / 3))]
    assert front.crossings(line((5, 0.40), (10, 0.55)), line((5, 0.30), (10, 0.50)), "sst") == ((5, 10), [])
    assert front.crossings(line((30, 0.4), (40, 0.5)), line((5, 0.3), (10, 0.5)), "sst") == ((0.0, 0.0), [])
    assert front.crossings(line((7, 0.4)), line((5, 0.3), (10, 0.5)), "sst") == ((7, 7), [])


def test_the_verdict_names_the_machine_every_point_and_who_leads(tmp_path):
    from mtlib.workbook.figures import budget as front

    text = front.verdict(FRONT)
    assert text.startswith("Measured on AMD EPYC, AVX512, bf16, 2 threads")
    assert "| single-task Trainer, sized to the minutes | `t5` | 2 | 5.0 | 0.310 (0.300 to 0.320) |" in text
    assert "| mtlib, make workbook | `cpu-a` | 2 | 10.0 | 0.450 (0.440 to 0.460) |" in text
    # SST: mtlib 0.40 at 5 min and 0.45 at 10, Trainer 0.31 and 0.40: mtlib ahead over 5 to 10
    assert "- SST-5 sentiment: mtlib is ahead over all the minutes both lines span (5.0 to 10.0)." in text
    assert "- Beyond 10.0 minutes only single-task Trainer, sized to the minutes is recorded" in text
    assert "xeon" not in text and "cpu-fp32" not in text and "cpu-shared" not in text
    assert "no budgeted Trainer runs" in front.verdict([s for s in FRONT if "budget_minutes" not in s])
    assert front.lead(FRONT) == (
        "At equal CPU minutes on this project's AMD EPYC (AVX512, bf16, 2 threads), from 5.0 to 10.0 minutes, the higher dev "
        "score is SST: mtlib; PARA: mtlib; STS: mtlib; the mean: mtlib. mtlib's points span 5.0 to 10.0 minutes, Trainer's 5.0 to 20.0."
    )
    crossed = [s | {"dev": {**s["dev"], "sst": 0.35}} if s["run"] == "cpu-a-s0" else s for s in FRONT]
    crossed = [s | {"dev": {**s["dev"], "sst": 0.39}} if s["run"] == "cpu-a-s1" else s for s in crossed]  # mtlib SST 0.37 at 10 min
    assert "SST: mtlib below 8." in front.lead(crossed) and "min, Trainer above" in front.lead(crossed)
    # mtlib's SST at 5 min 0.305, Trainer's 0.31 with seeds 0.30 to 0.32: Trainer ahead there, but not told apart
    close = [s | {"dev": {**s["dev"], "sst": 0.305}} if s["run"] == "cheap-s0" else s for s in FRONT]
    assert "SST: Trainer below 5.3 min (within the seed ranges), mtlib above" in front.lead(close)
    assert "Trainer is ahead at 5.0 minutes (there within the seed ranges), mtlib at 10.0" in front.verdict(close)


def test_the_figure_draws_the_recorded_points_of_both_lines(tmp_path, monkeypatch):
    """What is drawn is what the records hold: each line's plotted (minutes, score) per panel."""
    from mtlib.workbook.figures import budget as front
    from mtlib.workbook.figures import plots

    drawn = {}
    monkeypatch.setattr(plots, "write_figure", lambda fig, folder, name: drawn.setdefault(name, fig) and [])
    front.draw(FRONT, tmp_path)
    fig = drawn["score_vs_minutes"]
    for ax, panel in zip(fig.axes, front.PANELS):
        plotted = {line.get_label().split(" (")[0]: list(zip(*line.get_data())) for line in ax.lines if line.get_marker() in "so"}
        for name, points in front.front(FRONT).items():
            assert [xy for point in plotted[name] for xy in point] == pytest.approx(
                [xy for p in points for xy in (p["minutes"], p["score"][panel])]
            )
    assert "AMD EPYC, AVX512, bf16, 2 threads" in fig._suptitle.get_text()
    assert front.draw([s for s in FRONT if s["device"] != "cpu"], tmp_path / "none") == []


def test_the_recorded_front_figure_is_drawn_from_results_records(monkeypatch, tmp_path):
    """Every point of the committed records' figure is the mean of a group of results/*.json files:
    its minutes their mean wall time, its score their mean dev score."""
    import numpy as np

    from mtlib.workbook.figures import budget as front
    from mtlib.workbook.figures import plots

    records = results.load_summaries()
    by_group = {}
    for s in records:  # a point is timed only by runs that had the cores to themselves
        if not s.get("shared_cores"):
            by_group.setdefault(s.get("group"), []).append(s)
    drawn = {}
    monkeypatch.setattr(plots, "write_figure", lambda fig, folder, name: drawn.setdefault(name, fig) and [])
    if not front.draw(records, tmp_path) and not drawn:
        pytest.skip("no CPU workbook or budgeted Trainer run is recorded")
    fig = drawn["score_vs_minutes"]
    for ax, panel in zip(fig.axes, front.PANELS):
        for line in ax.lines:
            if line.get_marker() not in "so":
                continue
            for x, y in zip(*line.get_data()):
                assert any(
                    np.isclose(x, np.mean([r["wall_seconds"] for r in runs]) / 60)
                    and np.isclose(y, np.mean([front.score(r, panel) for r in runs]))
                    for runs in by_group.values()
                    if all("dev" in r and r.get("wall_seconds") for r in runs) and set(front.TASKS) <= set(runs[0]["dev"])
                ), (panel, x, y)


def test_recorded_runs_carry_each_class_recall_and_the_recall_table_shows_the_smallest(tmp_path):
    """A collapsed class (never predicted) shows as recall 0.00; a class dev never holds as –."""
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    rows = [(0, 1), (0, 1), (1, 1), (1, 2), (2, 2), (3, 3), (3, 4), (3, 3), (3, 3)]  # (gold, predicted); class 4 has no gold row
    (predictions / "sst-dev-detailed.tsv").write_text(
        "id\tsentence\tlabel\tprediction\n" + "".join(f"r{i}\ts {i}\t{g}\t{p}\n" for i, (g, p) in enumerate(rows))
    )
    recall = results.class_recall(predictions)
    assert list(recall) == ["sst"]  # only the multi-class task, and only where its file is
    assert recall["sst"] == [0.0, 0.5, 1.0, 0.75, None]
    text = results.recall_table([{"run": "r", "group": "g", "recall": recall}, {"run": "old", "group": "g"}])
    assert "| `r` | g | 0.00 | 0.50 | 1.00 | 0.75 | – | 0.00 |" in text
    assert "`old`" not in text
    assert results.recall_table([]) == "No recorded run holds its per-class predictions."


@pytest.mark.parametrize("page", ["docs/results.md", "README.md"])
def test_docs_results_tables_are_those_the_recorded_runs_render(page):
    """docs/results.md's and the README's generated blocks equal what `make results` renders from
    results/*.json now: a hand edit, or a recorded run without `make results`, fails here."""
    text = (results.ROOT / page).read_text(encoding="utf-8")
    blocks = results.render(results.load_summaries(), json.loads((results.RESULTS / "tables.json").read_text()))
    found = 0
    for name, rendered in blocks.items():
        start, end = results.markers(name)
        if start in text:
            found += 1
            assert text.split(start, 1)[1].split(end, 1)[0].strip() == rendered.strip(), f"block {name}: run `make results`"
    assert found >= (4 if page.startswith("docs") else 1)


def test_the_recorded_candidate_runs_trained_the_cpu_profile_as_it_is_now():
    """cpu-450-s0..s2 ran `--profile results/candidates/cpu-450.yaml` and are recorded as the `cpu`
    profile's seeds: the two files must hold the same settings (comments aside)."""
    import yaml

    candidate = yaml.safe_load((results.ROOT / "results" / "candidates" / "cpu-450.yaml").read_text())
    profile = yaml.safe_load((results.ROOT / "mtlib" / "profiles" / "cpu.yaml").read_text())
    assert candidate == profile
    assert profile["stages"]["finetune"]["num_batches_per_epoch"] == 450


def test_runs_that_shared_the_cores_are_named_and_left_out_of_the_time():
    alone = [_summary("a", "g", ["comparison"], 0.4, 0.8, 0.86, wall=810.0), _summary("b", "g", ["comparison"], 0.4, 0.8, 0.86, wall=834.0)]
    shared = _summary("c", "g", ["comparison"], 0.4, 0.8, 0.86, wall=966.0) | {"shared_cores": True}
    assert results.wall_cell(alone) == "13.7 min (13.5 to 13.9)"
    assert results.wall_cell([*alone, shared]) == "13.7 min (13.5 to 13.9); `c` 16.1 min with the cores shared"
    assert results.wall_cell([shared]) == "16.1 min (cores shared)"
    assert "| 3 seeds: `a`, `b`, `c` |" in results.comparison_table([*alone, shared])
