"""What a run keeps on disk: the run folder, checkpoints, results.json, its recorded config, TensorBoard."""
