"""The study (`python -m mtlib study`): the reference report's Table 2 as rows, the verdicts on
its findings, a rerun that does no finished work, and notebook 05 on smoke study records."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import nbformat
import pytest

from mtlib.workbook import study
from mtlib.workbook.study import records as study_records
from mtlib.workbook.study import report as study_report
from mtlib.workbook.study.rows import BY_ID, FINDINGS, ROWS
from mtlib.workbook.training.recipe import parse_sets
from mtlib.workbook.training.stages import stage_config

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


def _records(values: dict[str, tuple[float, ...]], profile: str = "p", **extra) -> list[dict]:
    """Hand-made study records: each row's dev mean (all tasks alike) per seed 0, 1, ..."""
    return [
        {"run": f"study-{profile}-{row}-s{seed}", "dev": {"sst": v, "para": v, "sts": v}, "dev_mean": v}
        | {"study": {"row": row, "seed": seed, "profile": profile}, "git": {"commit": "abc1234", "dirty": False}, "cpu": "cpu X"}
        | {"cpu_capability": "AVX2", "precision": "fp32", "encoder": "minilm-l6", "device": "cpu"}
        | extra
        for row, per_seed in values.items()
        for seed, v in enumerate(per_seed)
    ]


def test_findings_are_judged_paired_by_seed_with_holm():
    """base-pal is 0.05 above base on every seed while the seeds themselves spread by 0.1: an
    unpaired rule sees noise, the paired one a result that holds."""
    seeds = [0.55 + 0.01 * k * (-1) ** k for k in range(10)]
    block = study.study_block(_records({"base": tuple(seeds), "base-pal": tuple(v + 0.05 + 0.002 * (k % 3) for k, v in enumerate(seeds))}))
    line = next(x for x in block.splitlines() if x.startswith("- **The pal schedule beats round robin**"))
    assert "base-pal vs base: Δ +0.052 [" in line and "over 10 paired seeds" in line and "**holds**" in line
    assert "holds (partly run)" in line  # the other comparison, concat-embed-pal, has no records


def test_a_dirty_record_and_one_without_its_rows_stage_are_left_out_and_named():
    records = _records({"base": (0.6, 0.61, 0.62), "base-pal": (0.7, 0.71, 0.72)})
    records[0]["git"] = {"commit": "abc1234", "dirty": True}
    records.append(_records({"advanced-pal-after": (0.9,)}, reported_stage="finetune")[0])
    (only,) = study.study_sets(records)
    assert only.dirty == ["study-p-base-s0"] and only.unscored == ["study-p-advanced-pal-after-s0"]
    assert only.scores["mean"]["base"] == {1: 0.61, 2: 0.62} and "advanced-pal-after" not in only.scores["mean"]


def test_a_row_is_scored_on_its_own_stage_not_the_runs_best():
    """advanced-pal-after's stage 3 scored lower than its stage 2: the row takes stage 3."""
    (r,) = _records({"advanced-pal-after": (0.7,)}, reported_stage="finetune")
    r["stages"] = {"finetune": {"dev_mean": 0.7}, "finetune_vaccine": {"dev_mean": 0.69, "dev": {"sst": 0.4}}}
    assert study_report.score(r) == 0.69 and study_report.score(r, "sst") == 0.4


def test_records_of_two_machines_are_two_sets_never_paired():
    records = _records({"base": (0.6, 0.61)}) + _records({"base-pal": (0.7, 0.71)}, precision="bf16", cpu_capability="AVX512")
    sets = study.study_sets(records)
    assert sorted(s.name for s in sets) == ["p-minilm-l6-avx2-fp32", "p-minilm-l6-avx512-bf16"]
    assert all(study_report.comparisons(s) == {} for s in sets)


def test_without_records_the_block_says_so_and_shows_only_the_reports_numbers():
    block = study.study_block([])
    assert "No study run is recorded yet" in block
    lines = [line for line in block.splitlines() if line.startswith("| ") and "report SST" not in line]
    assert len(lines) == 20
    for line in lines:
        mtlib_cells = [c.strip() for c in line.split("|")[3:7]]
        assert all(c in ("–", "not runnable", "") for c in mtlib_cells), line


def test_a_finding_block_and_figure_from_hand_made_records(tmp_path):
    records = _records({"base": (0.60, 0.61, 0.62), "base-pal": (0.70, 0.71, 0.725)})
    block = study.study_block(records)
    assert "| BaseModel + Pal schedule | 0.499 / 0.869 / 0.856 (0.741) | 0.712 ± 0.013 |" in block
    assert "+0.102 [+0.094, +0.109] over 3 (+0.093)" in block
    assert "**The pal schedule beats round robin**: holds (partly run)" in block
    written = study.write_outputs(records, tmp_path)
    assert [p.name for p in written] == ["study.md", "study_differences.png", "study_differences.svg"]
    assert "base-pal vs base (n=3)" in (tmp_path / "study_differences.svg").read_text(encoding="utf-8")


def test_record_never_replaces_a_record_made_elsewhere(tmp_path):
    """Issue 34, finding 1: a tiny random run labelled study-cpu must not replace the MiniLM
    record of the same name; with --replace it may; the same run again is no conflict."""
    (minilm,) = _records({"base": (0.643,)}, profile="study-cpu")
    first = study_records.write([minilm], tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in first] == ["study-cpu-minilm-l6-avx2-fp32/study-study-cpu-base-s0.json"]
    assert study_records.write([minilm], tmp_path) == first  # the same run: rewritten as it was
    elsewhere = minilm | {"cpu": "AMD EPYC 7B13", "dev_mean": 0.601, "git": {"commit": "fff0000", "dirty": False}}
    with pytest.raises(
        study_records.ConfigError, match=r"made elsewhere \(commit 'abc1234' -> 'fff0000', cpu 'cpu X' -> 'AMD EPYC 7B13'\)"
    ):
        study_records.write([elsewhere], tmp_path)
    assert study_records.load(tmp_path)[0]["dev_mean"] == 0.643
    tiny = minilm | {"encoder": "tiny-random", "dev_mean": 0.197}  # another encoder: another set, beside it
    assert study_records.write([tiny], tmp_path)[0].parent.name == "study-cpu-tiny-random-avx2-fp32"
    assert sorted(r["dev_mean"] for r in study_records.load(tmp_path)) == [0.197, 0.643]
    study_records.write([elsewhere], tmp_path, replace=True)
    assert sorted(r["dev_mean"] for r in study_records.load(tmp_path)) == [0.197, 0.601]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"run": "r", "study": {"row": "base", "seed": 0, "profile": "p"}, "dev": {"sst": "high"}, "dev_mean": 0.5}', "'dev' must map"),
        ('{"run": "r", "dev": {}, "dev_mean": 0.5}', "no 'study' object"),
        ('{"run": "r", "study": {"row": "nope", "seed": 0, "profile": "p"}, "dev": {}, "dev_mean": 0.5}', "no row of the study"),
        ('{"run": "r", "study": {"row": "base", "seed": -1, "profile": "p"}, "dev": {}, "dev_mean": 0.5}', "'study.seed' -1"),
        ('{"run": "r", "study": {"row": "base", "seed": 0, "profile": "p"}, "dev": {}, "dev_mean": NaN}', "'dev_mean' nan"),
    ],
)
def test_a_damaged_record_is_one_line_naming_it(tmp_path, text, says, capsys):
    """make results, study --record and notebook 05 on a truncated, list-shaped, string-scored or
    study-less record: one line naming the file, never a traceback nor a partial verdict."""
    bad = tmp_path / "set" / "study-p-base-s0.json"
    bad.parent.mkdir()
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(study_records.ConfigError, match=says) as caught:
        study_records.load(tmp_path)
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)
    (good,) = _records({"base": (0.6,)})
    with pytest.raises(study_records.ConfigError, match="or pass --replace"):  # recording over it is refused too
        _write_over(good, bad)


def _write_over(good: dict, bad: Path) -> None:
    target = bad.parent.parent
    (target / study_records.set_name(good)).mkdir(exist_ok=True)
    (target / study_records.set_name(good) / f"{good['run']}.json").write_text(bad.read_text(encoding="utf-8"), encoding="utf-8")
    study_records.write([good], target)


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

    from mtlib.workbook.notebooks import execute as notebook_exec

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
        parameters={"runs_dir": str(runs), "profile": "smoke", "out": str(tmp_path / "study"), "recorded": False},
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
    images = [o for c in nbformat.read(out, as_version=4).cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the figure, drawn once


def test_notebook_05_shows_the_committed_records_with_no_parameter_set(capsys):
    """Issue 35: on a fresh clone notebook 05's defaults read results/study/, which is committed."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert "recorded: bool = True" in nb.cells[1].source
    summaries = study.open_records("", "", True)
    assert len(summaries) >= 54 and "finished study run(s) in" in capsys.readouterr().out
    block = study.study_block(summaries)
    assert "Study set `study-cpu-minilm-l6-avx512-bf16`" in block and "runs//" not in block


def test_a_setting_given_to_the_whole_study_makes_another_set():
    """Runs of one row with a study-wide `--set` (here a learning rate) are never paired with
    those without it; threads and other run-only settings do not count."""
    plain, fast = _records({"base": (0.6,)}), _records({"base": (0.7,)})
    row_sets = {"all_stages": {"threads": "1"}, "finetune": {"lr": "1e-3"}}
    fast[0]["settings"] = row_sets
    plain[0]["settings"] = {"all_stages": {"threads": "1"}}
    assert study_records.extra_settings(plain[0]) == {} and study_records.extra_settings(fast[0]) == {"finetune": {"lr": "1e-3"}}
    assert study_records.set_name(plain[0]) == "p-minilm-l6-avx2-fp32"
    assert study_records.set_name(fast[0]).startswith("p-minilm-l6-avx2-fp32-x")


def test_the_readme_sentence_counts_the_verdicts_and_prices_a_study_that_detects_001():
    seeds = [0.55 + 0.01 * k * (-1) ** k for k in range(10)]
    records = _records(
        {"base": tuple(seeds), "base-pal": tuple(v + 0.05 + 0.002 * (k % 3) for k, v in enumerate(seeds))}, wall_seconds=120.0
    )
    lead = study_report.study_lead(records)
    assert lead.startswith("Study set `p-minilm-l6-avx2-fp32`: 20 runs, 10 paired seeds per comparison.")
    assert "Of the report's 12 findings: 1 holds (partly run), 11 not run." in lead
    assert "paired seeds per row" in lead and "2.0 min a run as recorded" in lead
    assert study_report.study_lead([]).startswith("No study run is recorded yet")
    shared = [r | {"shared_cores": True} for r in records]  # timed with the cores shared: no cost is claimed
    assert "paired seeds per row" in study_report.study_lead(shared) and "min a run" not in study_report.study_lead(shared)
