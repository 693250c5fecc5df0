"""The reference project's methods and behaviours that mtlib's own recipe sets otherwise.

Each is an option, so the `reference` profile can behave as the reference did while mtlib's
own profiles keep their choices (docs/reference-differences.md):

- `--scheduler_sizes micro_batches`: the task sizes N_t the schedulers weigh are counted in
  micro-batches, as the reference's `len(DataLoader)` of micro-batches was;
- `--combine_only_with_pal`: a combine strategy applies with the `pal` scheduler only; with
  another scheduler and a projection, an update is one batch of each task;
- `--frozen_encoder_dropout`: the frozen encoder of the pretrain stages keeps its dropout;
- `--no_train_classifier`, `--no_train_pal`: freeze the heads, the PAL blocks;
- `--option optimize`: train the SST adjustment matrix alone (`mtlib.heads.Adjustment`);
- `--save_loss_acc_logs`, `--no_tensorboard`: the reference's two logging switches.

The methods themselves live in their own modules: `mtlib.smart`, `mtlib.eda`, `mtlib.heads`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .heads import recurrent_tasks
from .tasks import TASK_NAMES, TASKS, pair_mode

if TYPE_CHECKING:
    from .config import Config


def problems(cfg: Config) -> list[str]:
    """The settings of these methods that are wrong or do not go together, one message each."""
    m, t, mt, tasks = cfg.model, cfg.train, cfg.multitask, cfg.data.tasks
    out: list[str] = []
    if m.head_rnn != "none":
        if m.head_rnn_hidden < 1:
            out.append(f"--head_rnn_hidden must be at least 1 (got {m.head_rnn_hidden})")
        unknown = [x for x in m.head_rnn_tasks if x not in TASK_NAMES]
        if unknown:
            out.append(f"--head_rnn_tasks names unknown task(s) {unknown}; choose from {', '.join(TASK_NAMES)}")
        bi = [x for x in recurrent_tasks(m.head_rnn, tasks, m.head_rnn_tasks) if TASKS[x].is_pair and pair_mode(m.pair_encoding, x) == "bi"]
        if bi and not unknown:
            out.append(f"--head_rnn reads the token states of one sequence, but {', '.join(bi)} is bi-encoded; use --pair_encoding cross")
    if not math.isfinite(t.smart_weight_regularization) or t.smart_weight_regularization < 0:
        out.append(f"--smart_weight_regularization must be finite and 0 or more (got {t.smart_weight_regularization})")
    if t.no_train_pal and not m.use_pal:
        out.append("--no_train_pal freezes PAL blocks, but there are none: add --use_pal or drop --no_train_pal")
    if t.option == "optimize":
        if not any(TASKS[x].label_kind == "class" for x in tasks):
            out.append("--option optimize trains the SST adjustment matrix, but --tasks has no multi-class task: add sst")
        if not t.pretrained_model_name and not cfg.run.resume:
            out.append("--option optimize adjusts a trained model: pass --pretrained_model_name RUN_DIR_OR_FILE")
    if mt.task_scheduler in TASK_NAMES and mt.task_scheduler not in tasks:
        out.append(f"--task_scheduler {mt.task_scheduler} trains that task alone, but --tasks leaves it out")
    if mt.task_scheduler in TASK_NAMES and mt.projection != "none":
        out.append(f"--task_scheduler {mt.task_scheduler} trains one task: there is nothing for --projection {mt.projection} to combine")
    return out


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
    tasks: `mtlib.schedule.batches_per_update`), and without a projection there is nothing to combine."""
    mt = cfg.multitask
    if mt.combine_only_with_pal and mt.task_scheduler != "pal" and mt.combine_strategy != "none":
        return "force" if mt.projection != "none" else "none"
    return mt.combine_strategy


def recorder_wanted(cfg: Config, recorder: Any) -> bool:
    """Whether the loop records with `recorder`: TensorBoard unless `--no_tensorboard`, the
    loss / accuracy files only with `--save_loss_acc_logs`."""
    from .train.callbacks import TensorBoardLog

    if isinstance(recorder, TensorBoardLog):
        return cfg.run.tensorboard
    if isinstance(recorder, LossAccLogs):
        return cfg.run.save_loss_acc_logs
    return True


class LossAccLogs:
    """train_loss.txt and dev_acc.txt in the run folder, as the reference's `--save_loss_acc_logs`
    wrote them: a line per task, `sst: [epoch 1's value, epoch 2's, ...]` (mean train loss of
    the epoch; dev score). Rewritten (atomically) after every epoch."""

    def __init__(self, run: Any):
        self.run = run
        self.loss: dict[str, list[float]] = {}
        self.dev: dict[str, list[float]] = {}

    def __call__(self, event: str, p: dict[str, Any]) -> None:
        if event != "dev":
            return
        from .checkpoints import atomic_write_text

        for task, value in p["record"]["dev"].items():
            total, count = p["epoch_loss"].get(task, [0.0, 0])
            self.loss.setdefault(task, []).append(total / count if count else 0.0)
            self.dev.setdefault(task, []).append(value)
        for name, values in (("train_loss.txt", self.loss), ("dev_acc.txt", self.dev)):
            atomic_write_text(self.run.path / name, "".join(f"{t}: {v}\n" for t, v in values.items()))
