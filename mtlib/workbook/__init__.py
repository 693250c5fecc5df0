"""The workbook: the notebooks' runs, and everything that reports on runs.

The training core (`mtlib/`) knows nothing about notebooks; this package drives it and reads
what it recorded:

    runner.py             `python -m mtlib.workbook`: the four notebooks through papermill
    recipe.py             `python -m mtlib.recipe`: the same stages without notebooks
    sweep.py              a recipe per seed and grid point, then `compare`
    report.py             a workbook run's results.json and report.md
    model_card.py         MODEL_CARD.md of a workbook run
    narrative.py          the notebooks' sentences about their results
    history.py            metrics.jsonl of the stages as tables
    explore.py            notebook 01's data tables
    analysis.py           notebook 04's error analysis (intervals, residuals, confident errors)
    run_analysis.py       notebook 04's run: which run, which stage, which figures
    plots.py              every figure (PNG + SVG under the run's figures/)
    playground.py         the notebooks' interactive predictions
    trivial_baselines.py  majority-class / mean-score baselines for the tables
    result_tables.py      docs/results.md's tables from the recorded runs in results/
    compare.py            a table of several runs' dev scores
"""
