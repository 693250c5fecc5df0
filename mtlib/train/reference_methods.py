"""The reference project's methods and behaviours that mtlib's own recipe sets otherwise.

Each is an option, so the `reference` profile can behave as the reference did while mtlib's
own profiles keep their choices (docs/reference-differences.md):

- `--scheduler_sizes micro_batches`: the task sizes N_t the schedulers weigh are counted in
  micro-batches, as the reference's `len(DataLoader)` of micro-batches was;
- `--combine_only_with_pal`: a combine strategy applies with the `pal` scheduler only; with
  another scheduler and a projection, an update is one batch of each task;
- `--frozen_encoder_dropout`: the frozen encoder of the pretrain stages keeps its dropout;
- `--no_train_classifier`, `--no_train_pal`: freeze the heads, the PAL blocks;
- `--option optimize`: train the SST adjustment matrix alone (`mtlib.model.heads.Adjustment`);
- `--save_loss_acc_logs`, `--no_tensorboard`: the reference's two logging switches.

The methods themselves live in their own modules: `mtlib.train.smart`, `mtlib.data.eda`,
`mtlib.model.heads`; their settings are checked with the rest (`mtlib.config.checks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import methods
from ..util.files import atomic_write_text
from .events import DevScored

if TYPE_CHECKING:
    from ..config.config import Config


def prepare_phase(model: Any, cfg: Config, phase: Any) -> None:
    """Freeze what the phase does not train. `optimize` trains the adjustment matrices alone,
    with the whole model in eval mode (the reference's `model.eval()`); otherwise the encoder
    is frozen in the pretrain stages (keeping its dropout with `--frozen_encoder_dropout`), the
    heads with `--no_train_classifier` and PAL with `--no_train_pal` (both kept in train mode,
    as the reference's were), and the adjustment matrices never train."""
    t = cfg.train
    if phase.name == "optimize":
        model.freeze(encoder=True, heads=True, pal=True, adjustment=False)
        return
    keep = {"heads", "pal"} | ({"encoder"} if t.frozen_encoder_dropout else set())
    model.freeze(encoder=phase.frozen_encoder, heads=t.no_train_classifier, pal=t.no_train_pal, adjustment=True, keep_dropout=keep)


def scheduler_sizes(cfg: Config, streams: dict[str, Any]) -> dict[str, int]:
    """The sizes N_t the task scheduler weighs: each task's batches of `--batch_size`, or with
    `--scheduler_sizes micro_batches` its micro-batches as the reference's data loaders counted
    them: batches of `batch_size // ceil(batch_size / max_micro_batch)` examples."""
    sizes = {t: s.num_batches for t, s in streams.items()}
    if cfg.multitask.scheduler_sizes != "micro_batches":
        return sizes
    batch = cfg.train.batch_size
    out = {}
    for t, s in streams.items():
        micro = batch // -(-batch // cfg.max_micro_batch_of(t))
        out[t] = -(-len(s.encoded) // micro)
    return out


def combine_strategy(cfg: Config) -> str:
    """The combine strategy updates are drawn with. With `--combine_only_with_pal` and another
    scheduler, a projection's update is one batch of each task (`force` over as many batches as
    tasks: `mtlib.config.methods.batches_per_update`), and without a projection there is nothing to combine."""
    mt = cfg.multitask  # asked once per update: three registry look-ups, no copy of the config
    scheduler, strategy = methods.method("task_scheduler", mt.task_scheduler), methods.method("combine_strategy", mt.combine_strategy)
    if mt.combine_only_with_pal and not scheduler.keeps_combine_strategy and strategy.batches:
        return methods.EVERY_TASK_FIRST if methods.method("projection", mt.projection).combines else methods.DRAWN
    return mt.combine_strategy


class LossAccLogs:
    """train_loss.txt and dev_acc.txt in the run folder, as the reference's `--save_loss_acc_logs`
    wrote them: a line per task, `sst: [epoch 1's value, epoch 2's, ...]` (mean train loss of
    the epoch; dev score). Rewritten (atomically) after every epoch."""

    def __init__(self, run: Any):
        self.run = run
        self.loss: dict[str, list[float]] = {}
        self.dev: dict[str, list[float]] = {}

    def attach(self, trainer: Any) -> None:
        trainer.register_callback(DevScored, self.on_dev)

    def on_dev(self, e: DevScored) -> None:
        for task, value in e.record.dev.items():
            total, count = e.epoch_loss.get(task, [0.0, 0])
            self.loss.setdefault(task, []).append(total / count if count else 0.0)
            self.dev.setdefault(task, []).append(value)
        for name, values in (("train_loss.txt", self.loss), ("dev_acc.txt", self.dev)):
            atomic_write_text(self.run.path / name, "".join(f"{t}: {v}\n" for t, v in values.items()))
