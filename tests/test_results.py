"""The README results table is rendered from recorded run summaries."""

from __future__ import annotations

from mtlib import results


def test_table_and_readme_update(tmp_path, monkeypatch):
    summary = {
        "run": "cpu-x", "label": "cpu profile", "encoder": "minilm-l6", "device": "cpu",
        "dev": {"sst": 0.41, "para": 0.8, "sts": 0.812345}, "ci95": {"sst": [0.38, 0.44], "para": [0.79, 0.81], "sts": [0.79, 0.83]},
        "dev_mean": 0.674, "wall_seconds": 840.0,
    }
    text = results.table([summary])
    assert "| `cpu-x` (cpu profile, minilm-l6) | 0.410 [0.380, 0.440] | 0.800 [0.790, 0.810] | 0.812 [0.790, 0.830] | 0.674 | 14.0 min | cpu |" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"head\n{results.START}\nold\n{results.END}\ntail\n")
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "cpu-x.json").write_text(__import__("json").dumps(summary))
    results.update_readme(readme)
    out = readme.read_text()
    assert out.startswith("head\n") and out.endswith("tail\n") and "old" not in out and "`cpu-x`" in out
