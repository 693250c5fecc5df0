"""`python -m mtlib compare`: dev scores with intervals, time, machine, and only the settings that differ."""

from __future__ import annotations

import json

import mtlib.__main__ as cli
from mtlib.workbook.reports import compare
from mtlib.workbook.reports.result_tables import score_cell, summarise


def test_two_runs_side_by_side_with_only_their_differing_settings(smoke_run, tmp_path, capsys):
    a, b = smoke_run("pal-cross"), smoke_run("bi-no-pal")
    assert compare.setting_differences([a, b]) == {"pair_encoding": ["cross", "bi"], "finetune_vaccine.use_pal": [True, False]}
    capsys.readouterr()  # the runs' own training output, when this test trained them
    assert cli.main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    for run in (a, b):
        results = json.loads((run / "results.json").read_text())
        row = next(line for line in printed.splitlines() if line.startswith(f"| `{run.name}` |"))
        for task, value in results["dev"].items():
            low, high = results["ci95"][task]
            assert f"{value:.3f} [{low:.3f}, {high:.3f}]" in row
        assert (
            f"| {results['reported_stage']} | {results['total_seconds'] / 60:.1f} min | {results['cpu']} ({results['cpu_capability']}), fp32, 1 threads |"
            in row
        )
    assert "| `pair_encoding` | cross | bi |" in printed and "| `finetune_vaccine.use_pal` | True | False |" in printed
    assert "lr" not in printed.split("## Settings that differ")[1]
    written = tmp_path / "cmp"
    assert printed.split("written:")[0].strip() in (written / "compare.md").read_text()
    assert (written / "compare.png").stat().st_size > 10_000 and (written / "compare.svg").is_file()


def test_same_settings_say_so_and_groups_get_mean_and_sd(smoke_run):
    a, b = smoke_run("pal-cross"), smoke_run("bi-no-pal")
    assert "None: the runs were trained with the same settings." in compare.render([a, a])
    grouped = compare.render([a, b], groups={"pal-cross": "both", "bi-no-pal": "both"})
    means = [summarise(r)["dev_mean"] for r in (a, b)]
    import statistics

    assert "## By group (seeds)" in grouped and f"{statistics.mean(means):.3f} ± {statistics.stdev(means):.3f}" in grouped


def test_a_stage_folder_is_compared_by_its_own_config_and_an_unfinished_one_refused(smoke_run, tmp_path, capsys):
    a = smoke_run("pal-cross")
    stage = a / "stages" / "individual_pretrain"
    diff = compare.setting_differences([a, stage])  # a CLI-style folder: the reported stage's config against it
    assert "option" in diff and diff["option"][1] == "individual_pretrain"
    assert score_cell(summarise(stage), "sst") in compare.render([a, stage])
    (tmp_path / "half").mkdir()
    assert cli.main(["compare", str(a), str(tmp_path / "half")]) == 2
    assert "not a finished run" in capsys.readouterr().err


def test_bad_output_places_and_damaged_records_are_one_line_and_nothing_is_written(smoke_run, tmp_path, capsys):
    import shutil

    a = smoke_run("pal-cross")
    damaged = tmp_path / "damaged"
    shutil.copytree(a, damaged)

    def refused(*args) -> str:
        assert cli.main(["compare", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mtlib compare: error:") and err.count("\n") == 1, err
        return err

    out = tmp_path / "cmp"
    for text, said in [
        ('{"dev": ', "results.json:1:9: not valid JSON"),
        ("[1, 2]", "not a results record (a JSON object)"),
        ('{"dev": 5, "stages": 3}', "results.json: cannot be read (TypeError"),
    ]:
        (damaged / "results.json").write_text(text)
        assert said in refused(str(a), str(damaged), "--out", str(out))
        assert not out.exists()  # everything is read before anything is written
    (tmp_path / "notes.md").write_text("mine")
    assert "notes.md is a file" in refused(str(a), str(a), "--out", str(tmp_path / "notes.md"))
    assert "cannot write /sys/mtlib-compare" in refused(str(a), str(a), "--out", "/sys/mtlib-compare")  # not writable, even for root
    assert (tmp_path / "notes.md").read_text() == "mine"


def test_compare_replaces_only_the_files_it_wrote_unless_overwrite(smoke_run, tmp_path, capsys):
    """`compare --out DIR` replaced a user's own compare.md."""
    a = str(smoke_run("pal-cross"))
    out = tmp_path / "notes"
    out.mkdir()
    (out / "compare.md").write_text("# my comparison, by hand\n")
    assert cli.main(["compare", a, a, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds compare.md, not written by compare" in err and "pass --overwrite" in err and err.count("\n") == 1, err
    assert [p.name for p in out.iterdir()] == ["compare.md"] and (out / "compare.md").read_text() == "# my comparison, by hand\n"
    assert cli.main(["compare", a, a, "--out", str(out), "--overwrite"]) == 0
    assert (out / "compare.md").read_text().startswith("# 2 runs compared\n") and (out / "compare.png").is_file()
    assert cli.main(["compare", a, a, "--out", str(out)]) == 0  # its own files: replaced without asking
    capsys.readouterr()
