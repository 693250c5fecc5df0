"""The study (`python -m mtlib study`): the reference report's Table 2 as rows, the verdicts on
its findings, a rerun that does no finished work, and notebook 05 on smoke study records."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import nbformat
import pytest

from mtlib.run.stages import stage_config
from mtlib.workbook import study
from mtlib.workbook.recipe import parse_sets
from mtlib.workbook.study_report import HOLDS, MIXED, NOT_RUN, REVERSED, UNMEASURED, WITHIN, Stats, finding_verdict, verdict
from mtlib.workbook.study_rows import BY_ID, FINDINGS, ROWS, Finding

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "../shared/reference/Final_Report_CS224N.txt"  # beside the project, as tests/test_reference.py reads it
NOTEBOOK = ROOT / "notebooks" / "05_reference_study.ipynb"
NUMBER = r"(\d*\.\d+)"


def table_2() -> list[tuple[str, tuple[float, ...]]]:
    """(label, (SST, para, STS, mean)) of each row of the report's Table 2 (section 4.4); a label
    printed over two lines is joined."""
    text = REPORT.read_text(encoding="utf-8").replace("ﬁ", "fi")
    body = text.split("Method Dev. SST Dev. Paraphase Dev. STS Dev. Mean", 1)[1].split("Table 2:", 1)[0]
    rows, pending = [], ""
    for line in body.strip().splitlines():
        m = re.fullmatch(rf"(.*?)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}", line.strip())
        if m is None:
            pending += line.strip() + " "
            continue
        rows.append(((pending + m.group(1)).strip(), tuple(float(g) for g in m.groups()[1:])))
        pending = ""
    return rows


@pytest.mark.skipif(not REPORT.is_file(), reason="the reference report sits beside the project, in ../shared/reference/")
def test_the_row_table_is_table_2_row_for_row_with_the_reports_numbers():
    report = table_2()
    assert len(report) == 20
    assert [label for label, _ in report] == [r.label for r in ROWS]
    for (label, numbers), row in zip(report, ROWS):
        assert row.report == numbers[:3], label
        assert abs(row.report_mean - numbers[3]) < 0.0015, label  # the report rounds its mean


def test_every_row_runs_over_each_study_profile_or_says_why_not():
    """A runnable row's settings validate in every stage it runs, over the smoke and both study
    profiles; a row that cannot run names why; no two runnable rows are the same settings."""
    with tempfile.TemporaryDirectory() as tmp:
        for profile in ("smoke", "study-cpu", "study-gpu"):
            for row in ROWS:
                if not row.runnable:
                    assert len(row.not_runnable) > 30 and not row.settings, row.id
                    continue
                common, per_stage = parse_sets(row.sets)
                for stage in row.stages:
                    stage_config(profile, Path(tmp) / row.id, stage, {**common, **per_stage[stage]}).validate()
    runnable = [tuple(sorted(r.sets)) for r in ROWS if r.runnable]
    assert len(set(runnable)) == len(runnable)
    assert {r.id for r in ROWS if not r.runnable} == {"random", "advanced-pal-adjust"}
    assert all(r.against in BY_ID for r in ROWS if r.against)
    assert all(row in BY_ID and against in BY_ID for f in FINDINGS for row, against, _ in f.comparisons)


def test_verdicts_on_hand_made_numbers():
    assert verdict(+0.02, 0.01, +1) == HOLDS
    assert verdict(-0.02, 0.01, +1) == REVERSED
    assert verdict(+0.005, 0.01, +1) == WITHIN
    assert verdict(-0.02, 0.01, -1) == HOLDS
    assert verdict(+0.02, 0.01, -1) == REVERSED
    assert verdict(-0.009, 0.01, -1) == WITHIN
    assert verdict(0.004, 0.01, 0) == HOLDS  # "did not really influence": holds within the spread
    assert verdict(0.03, 0.01, 0) == "does not hold"
    assert verdict(0.3, None, +1) == UNMEASURED  # one seed: no spread to judge by
    diff, spread = study.difference(Stats(0.70, 0.03, 3), Stats(0.66, 0.04, 3))
    assert diff == pytest.approx(0.04) and spread == pytest.approx(0.05)
    assert study.difference(Stats(0.7, 0.0, 1), Stats(0.6, 0.01, 3))[1] is None

    stats = {"base-pal": Stats(0.70, 0.005, 3), "base": Stats(0.65, 0.005, 3), "base-pal-h1": Stats(0.72, 0.005, 3)}
    two = Finding("x", (("base-pal", "base", +1), ("base-pal-h1", "base-pal", +1)))
    assert finding_verdict(two, stats)[0] == HOLDS
    assert finding_verdict(Finding("x", (("base-pal", "base", +1), ("base", "base-pal", +1))), stats)[0] == MIXED
    assert finding_verdict(Finding("x", (("base-pal", "base", -1),)), stats)[0] == REVERSED
    partly = finding_verdict(Finding("x", (("base-pal", "base", +1), ("random", "base-pal", +1))), stats)
    assert partly[0] == f"{HOLDS} (partly run)" and "nothing trains" in partly[1][1]
    assert finding_verdict(Finding("x", (("random", "base-pal", +1),)), stats)[0] == NOT_RUN


def test_without_records_the_block_says_so_and_shows_only_the_reports_numbers():
    block = study.study_block([])
    assert "No study run is recorded yet" in block
    lines = [line for line in block.splitlines() if line.startswith("| ") and "report SST" not in line]
    assert len(lines) == 20
    for line in lines:
        mtlib_cells = [c.strip() for c in line.split("|")[3:7]]
        assert all(c in ("–", "not runnable", "") for c in mtlib_cells), line


def test_a_finding_block_and_figure_from_hand_made_records(tmp_path):
    records = [
        {"run": f"r{row}{seed}", "dev": {"sst": v, "para": v, "sts": v}, "dev_mean": v, "study": {"row": row, "seed": seed, "profile": "p"}}
        for row, values in {"base": (0.60, 0.61, 0.62), "base-pal": (0.70, 0.71, 0.72)}.items()
        for seed, v in enumerate(values)
    ]
    block = study.study_block(records)
    assert "| BaseModel + Pal schedule | 0.499 / 0.869 / 0.856 (0.741) | 0.710 ± 0.010 |" in block
    assert "+0.100 ±0.014 (+0.093)" in block
    assert "**The pal schedule beats round robin**: holds (partly run)" in block
    written = study.write_outputs(records, tmp_path)
    assert [p.name for p in written] == ["study.md", "study_differences.png", "study_differences.svg"]
    assert "base-pal" in (tmp_path / "study_differences.svg").read_text(encoding="utf-8")


def test_an_unknown_row_is_one_line_and_exit_2(capsys):
    assert study.main(["--rows", "nope", "--seeds", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'nope' is no row of the study" in err


def test_notebook_05_is_committed_without_outputs_with_one_parameters_cell_first():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1


@pytest.mark.slow
def test_a_rerun_does_no_finished_work_and_notebook_05_tables_the_smoke_records(tmp_path, monkeypatch):
    """Two cheap rows with the smoke profile and one seed; the same command again trains nothing;
    notebook 05, run by papermill on that runs folder, tables both rows with their one seed."""
    import papermill as pm

    from mtlib.workbook import notebook_exec

    runs = tmp_path / "runs"
    first = study.study("smoke", [0], ["base", "base-pal"], root=runs, say=lambda _: None)
    assert first["trained"] == ["study-smoke-base-s0", "study-smoke-base-pal-s0"] and first["not_run"] == []

    def no_training(*args, **kwargs):
        raise AssertionError("a finished row was trained again")

    monkeypatch.setattr(study, "run_recipe_for", no_training)
    again = study.study("smoke", [0], ["base", "base-pal"], root=runs, say=lambda _: None)
    assert again["trained"] == [] and again["skipped"] == first["trained"]

    out = tmp_path / "05.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"runs_dir": str(runs), "profile": "smoke", "out": str(tmp_path / "study")},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
        kernel_manager_class=notebook_exec._ipc_kernel_manager(),
    )
    shown = "\n".join(
        str(o.get("data", {}).get("text/markdown", "")) for c in nbformat.read(out, as_version=4).cells for o in c.get("outputs", [])
    )
    for row in (BY_ID["base"], BY_ID["base-pal"]):
        line = next(line for line in shown.splitlines() if line.startswith(f"| {row.label} |"))
        assert re.search(r"\| \d\.\d{3} \| 1 \|", line), line  # the mean over its one seed, and the seed count
    assert "| BERT + concat embed. |" in shown and "not run yet" in shown
    assert (tmp_path / "study" / "study_differences.png").is_file()
