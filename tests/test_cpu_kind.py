"""CPU kinds, what `--amp auto` / `--compile auto` pick on each, and docs/performance.md's tables
from benchmark records (mtlib.model.cpu_kind, mtlib.workbook.reports.performance_table)."""

from __future__ import annotations

import json

import pytest
import torch

from mtlib.model import amp, compiling, cpu_kind
from mtlib.workbook.reports import performance_table as pt


@pytest.mark.parametrize(
    ("flags", "kind"),
    [
        ({"avx2", "fma"}, "AVX2"),
        ({"avx2", "avx512f"}, "AVX512"),
        ({"avx2", "avx512f", "avx512_bf16"}, "AVX512-BF16"),
        ({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, "AMX-BF16"),
        (set(), "AVX2"),
    ],
)
def test_a_cpu_kind_is_told_by_its_flags(flags, kind):
    assert cpu_kind.kind_from_flags(flags) == kind


def test_auto_follows_the_table_of_this_cpu_kind(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(cpu_kind, "cpu_kind", lambda: "AMX-BF16")
    monkeypatch.setattr(amp, "cpu_has_fast_bf16", lambda: True)
    assert amp.resolve_amp("auto", cpu) == "bf16"
    monkeypatch.setattr(amp, "cpu_has_fast_bf16", lambda: False)
    assert amp.resolve_amp("auto", cpu) == "off", "bf16 is never chosen where the CPU emulates it"
    monkeypatch.setitem(cpu_kind.AUTO, "AMX-BF16", cpu_kind.AutoChoice("bf16", "max-autotune", "", "test"))
    assert compiling.resolve_compile("auto", cpu) == "max-autotune"
    assert compiling.resolve_compile("off", cpu) == "off" and compiling.resolve_compile("default", cpu) == "default"
    monkeypatch.setattr(cpu_kind, "cpu_kind", lambda: "AVX2")
    assert amp.resolve_amp("auto", cpu) == "off" and compiling.resolve_compile("auto", cpu) == cpu_kind.AUTO["AVX2"].compile


def test_every_kind_has_a_choice_and_named_records_exist():
    assert set(cpu_kind.AUTO) == set(cpu_kind.KINDS)
    root = pt.RECORDS.parent.parent
    for kind, choice in cpu_kind.AUTO.items():
        assert choice.amp in ("off", "bf16") and choice.compile in ("off", "default", "max-autotune"), kind
        if choice.record:
            record = json.loads((root / choice.record).read_text())
            assert pt.kind_of(record) == kind, f"{choice.record} was measured on a {pt.kind_of(record)} CPU, not {kind}"
            assert pt.alone(record), f"{choice.record} shared the cores: it cannot decide"
            assert pt.measured_choice(record) == choice.compile, f"{choice.record} measured --compile {pt.measured_choice(record)} fastest"


def _variants(eager: float, compiled: float, compiled_dev: float) -> dict:
    def one(sps: float, dev: float) -> dict:
        return {"sentences_per_s_median": sps, "dev_score_runs": [dev, dev]}

    per = {"mtlib": one(eager, 0.40), "mtlib@default": one(compiled, compiled_dev), "trainer": one(10.0, 0.30)}
    return {
        "summary": {"sst": per, "sts": {**per, "mtlib@default": one(compiled * 0.9, compiled_dev)}},
        "runs": [{"contender": "mtlib", "compile": "off"}, {"contender": "mtlib@default", "compile": "default"}],
    }


def test_the_measured_choice_is_the_fastest_mode_that_scores_as_well():
    assert pt.measured_choice(_variants(eager=50.0, compiled=40.0, compiled_dev=0.40)) == "off"
    assert pt.measured_choice(_variants(eager=50.0, compiled=60.0, compiled_dev=0.397)) == "default"  # 0.003 worse: within 0.005
    assert pt.measured_choice(_variants(eager=50.0, compiled=60.0, compiled_dev=0.39)) == "off"  # faster, but 0.01 worse on dev
    # the geometric mean over tasks: 60 on SST and 54 on STS against 50 on both
    assert pt.measured_choice(_variants(eager=57.0, compiled=60.0, compiled_dev=0.40)) == "off"


def _record(date: str, load: float, sps: float, *, shared: str = "", isa=("avx2", "fma"), amp_mode: str = "off") -> dict:
    per = {"sentences_per_s_median": sps, "dev_score_runs": [0.3], "mfu_vs_fp32_peak": 0.6, "mfu_vs_bf16_peak": 4.0}
    trainer = {**per, "sentences_per_s_median": sps / 2, "dev_score_runs": [0.25]}
    return {
        "benchmark": "train_throughput",
        "settings": {"amp": amp_mode, "shared": shared, "compile": "off"},
        "machine": {"cpu": "Some CPU", "isa": list(isa), "cpu_count": 2, "loadavg": [load, load, load], "date": date},
        "summary": {"sst": {"mtlib": per, "trainer": trainer}},
        "peaks": {"fp32": {"gflops": 100.0}, "bf16": {"gflops": 25.0}},
        "runs": [{"contender": "mtlib", "compile": "off"}],
    }


def test_the_performance_table_shows_every_record_that_ran_alone(tmp_path):
    for name, record in {
        "old.json": _record("2026-01-01", 2.0, 30.0),
        "new.json": _record("2026-02-01", 1.9, 40.0),
        "busy.json": _record("2026-03-01", 4.2, 10.0),  # a loaded machine, from before --shared
        "shared.json": _record("2026-04-01", 1.0, 11.0, shared="a study"),
        "amx.json": _record("2026-01-05", 2.0, 90.0, isa=("avx512f", "avx512_bf16", "amx_bf16"), amp_mode="bf16"),
    }.items():
        (tmp_path / name).write_text(json.dumps(record))
    (tmp_path / "other.json").write_text(json.dumps({"benchmark": "scaling"}))
    table = pt.blocks(tmp_path)["performance-train"]
    rows = [ln for ln in table.splitlines() if ln.startswith("| AVX") or ln.startswith("| AMX")]
    assert [r.split("`")[-2] for r in rows] == ["old.json", "new.json", "amx.json"]  # by kind, then date; busy and shared left out
    assert rows[1].startswith("| AVX2 | Some CPU | 2026-02-01 | 100 / 25 | fp32 | off | sst | 40.0 | 20.0 | 2.00 | 60.0% |")
    assert rows[2].startswith("| AMX-BF16 | Some CPU | 2026-01-05 | 100 / 25 | bf16 |")
    assert "No record yet of: AVX512, AVX512-BF16 (" in table
    assert "| AVX2 | off |" in pt.blocks(tmp_path)["performance-auto"]


def test_an_unreadable_benchmark_record_is_named(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json: not a readable benchmark record"):
        pt.read_records(tmp_path)


def test_the_readme_gives_workbook_minutes_per_profile_and_cpu_kind():
    base = {"device": "cpu", "cpu": "AMD EPYC", "stage_seconds": {"notebook 01": 10.0}}
    summaries = [
        {**base, "run": "a", "group": "cpu profile", "command": "python -m mtlib.workbook --profile cpu --run a", "cpu_capability": "AVX2",
         "precision": "fp32", "wall_seconds": 600.0},
        {**base, "run": "b", "group": "cpu profile", "command": "make workbook PROFILE=cpu RUN=b", "cpu_capability": "AVX2",
         "precision": "fp32", "wall_seconds": 720.0},
        {**base, "run": "c", "group": "g", "command": "python -m mtlib.workbook --profile results/candidates/cpu-1350.yaml --run c",
         "cpu_capability": "AVX512", "precision": "bf16", "wall_seconds": 738.0},
        {**base, "run": "shared", "group": "cpu profile", "command": "make workbook PROFILE=cpu", "cpu_capability": "AVX2",
         "precision": "fp32", "wall_seconds": 9000.0, "shared_cores": True},
        {"device": "cpu", "cpu": "AMD EPYC", "run": "cli", "wall_seconds": 5.0, "command": "python -m mtlib --profile cpu"},
    ]  # fmt: skip
    rows = pt.profile_times(summaries).splitlines()[2:]
    assert rows == [
        "| `cpu` | cpu profile | AVX2 | AMD EPYC | fp32 | 10.0 to 12.0 (a, b) |",
        "| `cpu-1350` | g | AVX512-BF16 | AMD EPYC | bf16 | 12.3 (c) |",
    ]
