"""What the notebooks' sections show: data tables (01), stage histories and trivial baselines
(02, 03), error analysis, its driver and the playground (04), and the sentences about results."""
