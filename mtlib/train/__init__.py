"""Training, split by responsibility:

state.py      Phase, LoopState, PhaseParts (optimizer, LR schedule, gradient method, task
              scheduler, streams) and the RNG state, all saved for `--resume`
update.py     one update as a function: batches, micro-batches, per-task gradients, step
callbacks.py  metrics.jsonl, TensorBoard, the best checkpoint (the confusion figures are the
              workbook's recorder: mtlib/workbook/figures/error_plots.py)
loop.py       the Trainer: phases, epochs, early stopping, signals, resume
"""

_FROM = {"Trainer": "loop", **dict.fromkeys(("Interrupted", "LoopState", "Phase", "PhaseParts", "phases_of", "seed_everything"), "state")}

__all__ = ["Trainer", "Interrupted", "LoopState", "Phase", "PhaseParts", "phases_of", "seed_everything"]


def __getattr__(name: str):  # loaded on first use, so that mtlib.train.<module> imports only what it needs
    if name not in _FROM:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f".{_FROM[name]}", __name__), name)
