"""Running stages end to end: a run's inputs, `pipeline.run(cfg)`, and the chain of stages."""
