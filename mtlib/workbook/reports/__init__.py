"""Reports on runs: a run's report.md, results.json and MODEL_CARD.md, run summaries, the score
and result tables of docs/results.md and the README, and run comparisons."""
