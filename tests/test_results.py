"""The README results tables are rendered from recorded run summaries, never typed."""

from __future__ import annotations

import json

import pytest

from mtlib.errors import ConfigError
from mtlib.workbook import result_tables as results


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
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    path = results.record(run, label="cpu profile", group="cpu", table="comparison,ablation")
    saved = json.loads(path.read_text())
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
