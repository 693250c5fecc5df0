"""Training, split by responsibility:

state.py      Phase, LoopState, PhaseParts (optimizer, LR schedule, gradient method, task
              scheduler, streams) and the RNG state, all saved for `--resume`
update.py     one update as a function: batches, micro-batches, per-task gradients, step
callbacks.py  metrics.jsonl, TensorBoard, confusion figures, the best checkpoint
loop.py       the Trainer: phases, epochs, early stopping, signals, resume
"""

from .loop import Trainer
from .state import Interrupted, LoopState, Phase, PhaseParts, phases_of, seed_everything

__all__ = ["Trainer", "Interrupted", "LoopState", "Phase", "PhaseParts", "phases_of", "seed_everything"]
