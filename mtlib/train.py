"""The training loop: stages, updates, accumulation, early stopping, checkpoints, resume.

An *update* is one optimizer step. It gathers `batches_per_update` task batches (the tasks
come from the task scheduler, through the combine strategy; how many batches an update and an
epoch hold, and the learning rate of each update, are `mtlib.schedule`'s), and for each task t
present:

    L_t = (1 / n_t) · Σ_{b in t's batches of this update} loss(b)

where n_t is the number of t's batches **in this update** (not in the epoch). Each batch of
`batch_size` examples is split into micro-batches of at most `max_batch_size_<t>` *different*
examples, each weighted by its share of the batch, so accumulation changes memory, not maths.
With `--projection none` the update's gradient is Σ_t w_t L_t; otherwise each task's gradient
on the shared encoder is taken separately and combined by the projection
(`mtlib.gradients`), while heads and PAL blocks keep their own task's gradient.

Stages (`--option`):
- `individual_pretrain`: encoder frozen; each task's head trained alone, one task after the
  other, keeping each head's best dev checkpoint;
- `pretrain`: encoder frozen, all heads trained together;
- `finetune`: everything trained.
"""

from __future__ import annotations

import math
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import distributed as dist
from .amp import Precision
from .checkpoints import load_state, load_weights_into, save_model, save_state, state_exists
from .config import Config
from .data import Encoded, TaskStream
from .errors import CheckpointError, TrainingError
from .evaluate import confusion, predict_split, summary
from .gradients import cosine_matrix, make_method, per_task_gradients, set_flat_grad
from .model import MultitaskBert
from .progress import EpochProgress, duration, say
from .runs import RunDir, truncate_metrics
from .schedule import make_lr_schedule, make_optimizer, plan_epoch
from .schedulers import draw_update, make_scheduler
from .tasks import TASKS


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived; the state was saved and the run can be resumed. The exit code is
    the shell's for that signal: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.exit_code = 128 + int(signum)


@dataclass
class Phase:
    """One training phase: the tasks it trains and whether the encoder is frozen."""

    name: str
    tasks: list[str]
    frozen_encoder: bool


def phases_of(cfg: Config) -> list[Phase]:
    option, tasks = cfg.train.option, cfg.data.tasks
    if option == "individual_pretrain":
        return [Phase(f"individual_pretrain:{t}", [t], True) for t in tasks]
    return [Phase(option, list(tasks), option == "pretrain")]


@dataclass
class LoopState:
    phase: int = 0
    epoch: int = 1
    update: int = 0  # next update to run within the epoch
    global_step: int = 0
    best: float = -math.inf
    bad_epochs: int = 0
    bad_steps: int = 0
    skipped_steps: int = 0
    task_steps: dict[str, int] = field(default_factory=dict)
    epoch_loss: dict[str, list[float]] = field(default_factory=dict)  # [sum, count] per task
    elapsed: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


def loss_options(cfg: Config, spec: Any, train: Encoded, device: torch.device) -> dict[str, Any]:
    """The keyword arguments of `spec.loss` for this run: label smoothing and class weights
    (`--label_smoothing`, `--class_balance`) for a multi-class task, nothing for the others."""
    if spec.label_kind != "class":
        return {}
    weights = spec.class_weights_of(train.examples.labels) if cfg.train.class_balance else None
    return {"label_smoothing": cfg.train.label_smoothing, "class_weights": None if weights is None else weights.to(device)}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    def __init__(
        self, cfg: Config, model: MultitaskBert, tokenizer: Any, data: dict[str, dict[str, Encoded]], precision: Precision, run: RunDir
    ):
        self.cfg, self.model, self.tokenizer, self.data, self.precision, self.run = cfg, model, tokenizer, data, precision, run
        self.pad_id = tokenizer.pad_token_id or 0
        self.state = LoopState()
        self.callbacks: list[Callable[[str, dict[str, Any]], None]] = []
        self._stop_signal: int | None = None
        self.rank, self.world = dist.rank(), dist.world_size()
        # dev predictions of the saved best model, per task: the final scoring reuses them
        self.best_dev_predictions: dict[str, Any] = {}
        self.loss_options = {t: loss_options(cfg, TASKS[t], d["train"], precision.device) for t, d in data.items() if "train" in d}

    def add_callback(self, fn: Callable[[str, dict[str, Any]], None]) -> None:
        """`fn(event, payload)` for events 'update' and 'epoch' (as minGPT's add_callback)."""
        self.callbacks.append(fn)

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        for fn in self.callbacks:
            fn(event, payload)

    # ---- the whole stage ---------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        phases = phases_of(self.cfg)
        resumed = self._maybe_resume()
        previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            while self.state.phase < len(phases):
                self._run_phase(phases[self.state.phase], resumed)
                resumed = None
                self.state.phase += 1
                self.state.epoch, self.state.update, self.state.best, self.state.bad_epochs = 1, 0, -math.inf, 0
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
        return {"history": self.state.history, "train_seconds": self.state.elapsed, "skipped_steps": self.state.skipped_steps}

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop_signal = signum

    def _maybe_resume(self) -> dict[str, Any] | None:
        if not self.cfg.run.resume:
            return None
        if not state_exists(self.run.state):
            raise TrainingError(f"--resume {self.run.path}: no saved training state yet; start the run again with --overwrite")
        saved = load_state(self.run.state)
        try:
            self.model.load_state_dict(saved["model"])
            self.state = LoopState(**saved["loop"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"{self.run.state}: the saved training state is damaged ({exc}); start the run again with --overwrite"
            ) from None
        if self.rank == 0:
            truncate_metrics(self.run.path, self.state.global_step)
            self.run.writer(purge_step=self.state.global_step + 1)  # TensorBoard drops the events after the saved step too
        return saved

    # ---- one phase ---------------------------------------------------------------------------
    def _run_phase(self, phase: Phase, resumed: dict[str, Any] | None) -> None:
        cfg, model = self.cfg, self.model
        model.freeze_encoder(phase.frozen_encoder)
        streams = {t: TaskStream(self.data[t]["train"], cfg.train.batch_size, cfg.train.seed, i) for i, t in enumerate(phase.tasks)}
        sizes = {t: s.num_batches for t, s in streams.items()}
        scheduler = make_scheduler(
            cfg.multitask.task_scheduler,
            phase.tasks,
            sizes,
            cfg.train.seed,
            cfg.train.epochs,
            cfg.multitask.sampling_temperature,
            cfg.multitask.schedule_weights,
        )
        plan = plan_epoch(cfg, sizes)
        k, per_epoch = plan.batches_per_update, plan.updates_per_epoch
        total = per_epoch * cfg.train.epochs
        optimizer = make_optimizer(cfg, model, phase.tasks)
        lr_schedule = make_lr_schedule(optimizer, cfg.train.lr_schedule, int(cfg.train.warmup_ratio * total), total)
        method = make_method(cfg.multitask.projection, phase.tasks, beta=cfg.multitask.gradvac_beta)
        scaler = self.precision.scaler
        if resumed is not None:
            optimizer.load_state_dict(resumed["optimizer"])
            lr_schedule.load_state_dict(resumed["lr_schedule"])
            if resumed["scaler"]:
                scaler.load_state_dict(resumed["scaler"])
            method.load_state_dict(resumed["method"])
            scheduler.load_state_dict(resumed["scheduler"])
            for t, s in streams.items():
                s.load_state_dict(resumed["streams"][t])
            _set_rng(resumed["rng"])
        else:
            seed_everything(cfg.train.seed + self.state.phase)
        self._log_phase_start(phase, sizes, per_epoch, k)
        parts = dict(optimizer=optimizer, lr_schedule=lr_schedule, method=method, scheduler=scheduler, streams=streams)
        while self.state.epoch <= cfg.train.epochs:
            epoch = self.state.epoch
            scheduler.set_epoch(epoch)
            bar = EpochProgress(
                f"[{phase.name}] epoch {epoch}/{cfg.train.epochs}", per_epoch, self.state.update, cfg.run.progress and self.rank == 0
            )
            start = time.perf_counter()
            while self.state.update < per_epoch:
                draws = draw_update(scheduler, k, cfg.multitask.combine_strategy)
                losses = self._update(draws, streams, optimizer, lr_schedule, method)
                self.state.update += 1
                self.state.global_step += 1
                bar.update(losses)
                self._emit("update", {"step": self.state.global_step, "losses": losses})
                if dist.any_true(self._stop_signal is not None):  # all ranks stop at the same update
                    self.state.elapsed += time.perf_counter() - start
                    self._save_state(parts)
                    raise Interrupted(
                        f"stopped by signal {self._stop_signal or 'on another rank'}; state saved. Continue with: --resume {self.run.path}",
                        self._stop_signal or signal.SIGTERM,
                    )
                if cfg.run.save_every and self.state.global_step % cfg.run.save_every == 0 and self.state.update < per_epoch:
                    self.state.elapsed += time.perf_counter() - start
                    start = time.perf_counter()
                    self._save_state(parts)
            bar.close()
            self.state.elapsed += time.perf_counter() - start
            stop = self._end_epoch(phase, epoch)
            self.state.epoch += 1
            self.state.update = 0
            self._save_state(parts)
            if stop:
                self._print(f"early stopping: no better mean dev score for {cfg.train.patience} epoch(s)")
                break
        if phase.frozen_encoder and len(phase.tasks) == 1 and (self.run.path / "model.safetensors").exists():
            # individual_pretrain: keep this head's best epoch (the saved best model)
            load_weights_into(self.model, self.run.path / "model.safetensors")

    # ---- one update --------------------------------------------------------------------------
    def _update(self, draws: list[str], streams: dict[str, TaskStream], optimizer: Any, lr_schedule: Any, method: Any) -> dict[str, float]:
        cfg, model, precision = self.cfg, self.model, self.precision
        scaler = precision.scaler
        counts = Counter(draws)
        present = [t for t in streams if counts[t]]
        batches = {t: [] for t in present}
        for t in draws:  # fetch in draw order: the data order depends only on the draws
            batches[t].append(streams[t].next_index())
        loss_sum: dict[str, torch.Tensor] = {}

        def backward(task: str) -> None:
            spec = TASKS[task]
            weight = cfg.task_weight(task) / counts[task]
            micro_size = cfg.max_micro_batch(task)
            total = torch.zeros((), device=precision.device)
            for index in batches[task]:
                local = dist.shard(index)
                for start in range(0, len(local), micro_size):
                    micro = local[start : start + micro_size]
                    batch = precision.batch(self.data[task]["train"], micro, self.pad_id)
                    with precision.autocast():
                        output = model(task, **batch)
                    loss = spec.loss(output, batch["labels"], **self.loss_options[task])
                    share = len(micro) / len(index)
                    scaler.scale(loss * (weight * share)).backward()
                    total += loss.detach() * share / counts[task]
            loss_sum[task] = total

        shared = model.shared_parameters()
        monitor = cfg.multitask.conflict_every and self.state.global_step % cfg.multitask.conflict_every == 0
        if monitor and shared and len(present) < 2 and len(streams) > 1:
            self._probe_conflicts(list(streams), shared)
        if shared and (method.per_task or monitor) and len(present) > 1:
            rows = per_task_gradients(present, backward, shared)
            dist.all_reduce_sum(rows)
            scale = scaler.get_scale() if scaler.is_enabled() else 1.0
            rows.div_(scale)
            if monitor:
                self._log_conflicts(present, cosine_matrix(rows))
            finite = bool(torch.isfinite(rows).all())
            combined = method.aggregate(rows, present) if finite else rows.sum(0)
            set_flat_grad(shared, combined * scale)
            dist.all_reduce_grads([p for t in present for p in model.task_parameters(t)])
        else:
            for task in present:
                backward(task)
            dist.all_reduce_grads([p for p in model.parameters() if p.requires_grad])

        losses = torch.stack([loss_sum[t] for t in present])
        dist.all_reduce_sum(losses)
        values = losses.tolist()  # the one host sync of the update
        if not all(math.isfinite(v) for v in values):
            bad = [t for t, v in zip(present, values) if not math.isfinite(v)]
            optimizer.zero_grad(set_to_none=True)
            self.state.bad_steps += 1
            self.state.skipped_steps += 1
            if self.rank == 0:
                self.run.log(kind="skipped", step=self.state.global_step + 1, tasks=bad)
            if self.state.bad_steps >= cfg.train.max_bad_steps:
                raise TrainingError(
                    f"{self.state.bad_steps} non-finite losses in a row, the last at step {self.state.global_step + 1} "
                    f"on task(s) {', '.join(bad)}; lower --lr, try --amp bf16 or off, or check the data"
                )
            return {}
        self.state.bad_steps = 0
        scaler.step(optimizer)
        scaler.update()
        lr_schedule.step()
        optimizer.zero_grad(set_to_none=True)
        result = dict(zip(present, values))
        self._log_update(result, counts, lr_schedule.get_last_lr()[-1])
        return result

    def _probe_conflicts(self, tasks: list[str], shared: list[torch.nn.Parameter]) -> None:
        """For updates that hold one task: measure the task-gradient cosines on a fixed probe
        batch of each task (gradients discarded, nothing stepped), so the conflict monitor also
        works with one batch per update. The monitor only watches: training takes the same
        steps, with the same dropout masks, whatever `--conflict_every` is."""
        if not hasattr(self, "_probe"):
            size = self.cfg.train.batch_size
            self._probe = {}
            for i, t in enumerate(tasks):
                n = len(self.data[t]["train"])
                self._probe[t] = np.sort(np.random.default_rng([self.cfg.train.seed, 4099, i]).choice(n, min(size, n), replace=False))

        def backward(task: str) -> None:
            batch = self.precision.batch(self.data[task]["train"], dist.shard(self._probe[task]), self.pad_id)
            with self.precision.autocast():
                output = self.model(task, **batch)
            self.precision.scaler.scale(TASKS[task].loss(output, batch["labels"], **self.loss_options[task])).backward()

        cuda = [self.precision.device] if self.precision.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # the probe's dropout draws leave training's random stream alone
            rows = per_task_gradients(tasks, backward, shared)
        dist.all_reduce_sum(rows)
        self.model.zero_grad(set_to_none=True)
        if bool(torch.isfinite(rows).all()):
            self._log_conflicts(tasks, cosine_matrix(rows))

    # ---- logging -----------------------------------------------------------------------------
    def _print(self, text: str) -> None:
        if self.rank == 0:
            say(text)

    def _log_phase_start(self, phase: Phase, sizes: dict[str, int], per_epoch: int, k: int) -> None:
        if self.rank != 0:
            return
        batch = self.cfg.train.batch_size
        self._print(
            f"[{phase.name}] tasks {phase.tasks}, train batches per pass {sizes}, {per_epoch * k} batches/epoch = "
            f"{per_epoch} updates/epoch x {k} batch(es), x {self.cfg.train.epochs} epochs; "
            f"effective batch {batch * k} examples/update = "
            f"{batch / self.world:g} per rank x {self.world} rank(s) x {k} batch(es) accumulated; "
            f"learning rate {self.cfg.train.lr:g}, {self.cfg.train.lr_schedule}"
        )
        self.run.log(
            kind="phase",
            step=self.state.global_step,
            phase=phase.name,
            sizes=sizes,
            updates_per_epoch=per_epoch,
            batches_per_update=k,
            batches_per_epoch=per_epoch * k,
        )

    def _log_update(self, losses: dict[str, float], counts: Counter, lr: float) -> None:
        if self.rank != 0:
            return
        step = self.state.global_step + 1
        writer = self.run.writer()
        for task, value in losses.items():
            self.state.task_steps[task] = self.state.task_steps.get(task, 0) + counts[task]
            acc = self.state.epoch_loss.setdefault(task, [0.0, 0])
            acc[0], acc[1] = acc[0] + value, acc[1] + 1
            writer.add_scalar(f"Loss [{task.upper()}]", value, step)
            writer.add_task_scalar(f"Specific Loss [{task.upper()}]", value, self.state.task_steps[task])
        writer.add_scalar("Learning rate", lr, step)
        self.run.log(kind="train", step=step, epoch=self.state.epoch, tasks=dict(counts), loss=losses, lr=lr)

    def _log_conflicts(self, tasks: list[str], cos: torch.Tensor) -> None:
        if self.rank != 0:
            return
        step = self.state.global_step + 1
        values = {}
        for i in range(len(tasks)):
            for j in range(i + 1, len(tasks)):
                name = f"{tasks[i]}-{tasks[j]}"
                values[name] = float(cos[i, j])
                self.run.writer().add_scalar(f"Grad cosine [{name}]", values[name], step)
        self.run.log(kind="conflict", step=step, cosine=values)

    def _end_epoch(self, phase: Phase, epoch: int) -> bool:
        """Score dev, log, keep the best checkpoint; True when patience ran out."""
        cfg = self.cfg
        scores, preds = {}, {}
        for t in phase.tasks:
            preds[t] = predict_split(self.model, self.data[t]["dev"], self.precision, cfg.train.eval_batch_size, self.pad_id)
            scores[t] = preds[t].score()
        mean = summary(scores)
        self._refuse_non_finite(phase, epoch, scores)
        improved = mean > self.state.best
        if improved:
            self.state.best, self.state.bad_epochs = mean, 0
        else:
            self.state.bad_epochs += 1
        step = self.state.global_step
        record = {"phase": phase.name, "epoch": epoch, "step": step, "dev": scores, "dev_mean": mean, "best": improved}
        self.state.history.append(record)
        if self.rank == 0:
            writer = self.run.writer()
            for t, value in scores.items():
                writer.add_scalar(f"Dev accuracy [{t.upper()}]", value, step)
                total, count = self.state.epoch_loss.get(t, [0.0, 0])
                if count:
                    writer.add_task_scalar(f"[EPOCH] Loss [{t.upper()}]", total / count, epoch)
                matrix = confusion(preds[t])
                if matrix is not None:
                    from .plots import confusion_pair_figure

                    writer.add_figure(f"Confusion Matrix [{t.upper()}]", confusion_pair_figure(matrix, t), step)
            writer.add_scalar("Dev accuracy mean", mean, step)
            writer.flush()
            self.run.log(kind="dev", **record)
            if improved:
                save_model(self.run.path, self.model, self.tokenizer)
        if improved:
            self.best_dev_predictions.update(preds)
        shown = "  ".join(f"{t} {v:.3f}" for t, v in scores.items())
        epochs = cfg.train.epochs
        left = (self.state.elapsed / max(self._epochs_run(), 1)) * (epochs - epoch)
        self._print(
            f"[{phase.name}] epoch {epoch}/{epochs}: dev {shown}  mean {mean:.3f}"
            + ("  * best, saved" if improved else f"  (best {self.state.best:.3f})")
            + f"  | {duration(self.state.elapsed)} of training so far"
            + (f", ~{duration(left)} left in this phase" if epoch < epochs else "")
        )
        self.state.epoch_loss = {}
        dist.barrier()  # other ranks may read the checkpoint rank 0 just wrote
        self._emit("epoch", record)
        return bool(cfg.train.patience) and self.state.bad_epochs >= cfg.train.patience

    def _refuse_non_finite(self, phase: Phase, epoch: int, scores: dict[str, float]) -> None:
        """A diverged model is never "best": a non-finite dev score or weight ends the run."""
        bad = [t for t, v in scores.items() if not math.isfinite(v)]
        weights = [n for n, p in self.model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad or weights:
            what = (
                f"dev score of {', '.join(bad)} is not finite"
                if bad
                else f"{len(weights)} weight tensor(s) are not finite ({weights[0]}, ...)"
            )
            raise TrainingError(
                f"[{phase.name}] epoch {epoch}: the model diverged: {what}. Nothing of this epoch was kept as best; "
                "lower --lr, try --amp off, or check the data"
            )

    def _epochs_run(self) -> int:
        """Epochs finished so far in the whole stage, this one included (for the time left)."""
        return len(self.state.history)

    def _save_state(self, parts: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        loop = {k: getattr(self.state, k) for k in LoopState.__dataclass_fields__}
        scaler = self.precision.scaler
        save_state(
            self.run.state,
            {
                "model": self.model.state_dict(),
                "loop": loop,
                "optimizer": parts["optimizer"].state_dict(),
                "lr_schedule": parts["lr_schedule"].state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                "method": parts["method"].state_dict(),
                "scheduler": parts["scheduler"].state_dict(),
                "streams": {t: s.state_dict() for t, s in parts["streams"].items()},
                "rng": _get_rng(),
            },
        )


def _get_rng() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": torch.from_numpy(np_state[1].astype(np.int64)), "numpy_pos": int(np_state[2])}
    state["python"] = list(random.getstate()[1])
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
