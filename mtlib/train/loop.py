"""The training loop of one stage: phases, epochs, updates, early stopping, resume, signals.

Stages (`--option`):
- `individual_pretrain`: encoder frozen; each task's head trained alone, one task after the
  other, keeping each head's best dev checkpoint;
- `pretrain`: encoder frozen, all heads trained together;
- `finetune`: everything trained.

One update is `mtlib.train.update.run_update`; what is recorded along the way (metrics.jsonl,
TensorBoard, the best checkpoint, the workbook's figures) hangs off the typed events of
`mtlib.train.events`, one hook per event (`register_callback`; recorders: `mtlib.train.callbacks`).
"""

from __future__ import annotations

import errno
import math
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from ..config.config import Config
from ..data.batching import Encoded, TaskStream
from ..model.amp import Precision
from ..model.multitask_bert import MultitaskBert
from ..store.checkpoints import load_state, load_weights_into, save_state, state_exists
from ..store.metrics_file import Conflict, Dev, PhaseStart, Skipped, Train, as_dict
from ..store.run_folder import RunDir, truncate_metrics
from ..util.errors import CheckpointError, TrainingError, disk_error_message
from ..util.progress import EpochProgress, duration, say
from . import distributed as dist
from .callbacks import BestCheckpoint, MetricsLog, TensorBoardLog
from .evaluate import predict_split, refuse_non_finite, summary
from .events import DevScored, E, EpochEnded, FitStarted, UpdateDone
from .gradients import method_for
from .optimization import EpochPlan, make_lr_schedule, make_optimizer, plan_epoch
from .reference_methods import LossAccLogs, combine_strategy, prepare_phase, scheduler_sizes
from .state import Interrupted, LoopState, Phase, PhaseParts, get_rng, phases_of, seed_everything, set_rng
from .task_schedulers import draw_update, scheduler_for
from .update import Outcome, UpdateContext, run_update

Recorder = Callable[["Trainer"], None]  # registers its hooks on the trainer (e.g. `MetricsLog(run).attach`)


class Trainer:
    """Trains `model` on `data` as `cfg` says, recording into `run`.

    Two hooks for code that measures the loop rather than training a model (benchmarks/):
    `stream_factory` builds each task's `TaskStream` (e.g. one that also counts what it hands
    out), and `score_and_save=False` skips the end-of-epoch dev scoring, best checkpoint and
    state file, so that only the updates are timed. `recorders` attach more hooks on rank 0 (the
    workbook's figures)."""

    def __init__(
        self, cfg: Config, model: MultitaskBert, tokenizer: Any, data: dict[str, dict[str, Encoded]], precision: Precision, run: RunDir,
        *, stream_factory: Callable[..., TaskStream] = TaskStream, score_and_save: bool = True, recorders: Sequence[Recorder] = (),
    ):  # fmt: skip
        self.cfg, self.model, self.tokenizer, self.data, self.precision, self.run = cfg, model, tokenizer, data, precision, run
        self.bench = UpdateContext(cfg, model, precision, data, tokenizer.pad_token_id or 0)
        self.stream_factory, self.score_and_save = stream_factory, score_and_save
        self.state = LoopState()
        self.callbacks: dict[type, list[Callable[[Any], None]]] = defaultdict(list)
        self._stop_signal: int | None = None
        self.rank, self.world = dist.rank(), dist.world_size()
        # dev predictions of the saved best model, per task: the final scoring reuses them
        self.best_dev_predictions: dict[str, Any] = {}
        if self.rank == 0:
            wanted = [TensorBoardLog(run)] if cfg.run.tensorboard else []  # the reference's --no_tensorboard
            wanted += [MetricsLog(run), BestCheckpoint(run, model, tokenizer)]
            wanted += [LossAccLogs(run)] if cfg.run.save_loss_acc_logs else []  # the reference's two text logs
            for attach in (*(r.attach for r in wanted), *recorders):
                attach(self)

    def register_callback(self, event: type[E], fn: Callable[[E], None]) -> None:
        """Call `fn(e)` for each event of type `event` (`mtlib.train.events`), as minGPT's register_callback."""
        self.callbacks[event].append(fn)

    def _emit(self, event: Any) -> None:
        for fn in self.callbacks[type(event)]:
            fn(event)

    # ---- the whole stage ---------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        phases = phases_of(self.cfg)
        resumed = self._maybe_resume()
        previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        self._emit(FitStarted())
        try:
            while self.state.phase < len(phases):
                self._run_phase(phases[self.state.phase], resumed)
                resumed = None
                self.state.phase += 1
                self.state.epoch, self.state.update, self.state.best, self.state.bad_epochs = 1, 0, -math.inf, 0
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            raise TrainingError(self._disk_full(exc)) from exc
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
        return {"history": self.state.history, "train_seconds": self.state.elapsed, "skipped_steps": self.state.skipped_steps}

    def _disk_full(self, exc: OSError) -> str:
        """The line for a disk that filled during the stage (checkpoints are written aside and
        renamed into place, so the last one written whole is still there)."""
        text = f"the disk is full: {disk_error_message(exc)}. "
        if state_exists(self.run.state):
            return text + f"The last whole checkpoint is kept: free some space, then continue from it with: --resume {self.run.path}"
        return text + "No training state was saved before that: free some space, then run the same command again with --overwrite"

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop_signal = signum

    def _maybe_resume(self) -> dict[str, Any] | None:
        if not self.cfg.run.resume:
            return None
        if not state_exists(self.run.state):
            raise TrainingError(f"--resume {self.run.path}: no saved training state yet; start the run again with --overwrite")
        saved = load_state(self.run.state)
        source = next((c / "trainer.json" for c in (self.run.state, self.run.path / "state.old") if (c / "trainer.json").is_file()), None)
        self.state = LoopState.from_saved(
            saved.get("loop") if isinstance(saved, dict) else None, source, len(phases_of(self.cfg)), self.cfg.train.epochs
        )
        tasks = phases_of(self.cfg)[self.state.phase].tasks  # the saved position lies inside its phase's epochs
        sizes = {t: TaskStream(self.data[t]["train"], self.cfg.train.batch_size, 0, 0).num_batches for t in tasks}
        self.state.check_position(source, plan_epoch(self.cfg, sizes).updates_per_epoch)
        try:
            self.model.load_state_dict(saved["model"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"{self.run.state}: the saved training state is damaged ({exc}); start the run again with --overwrite"
            ) from None
        if self.rank == 0:
            truncate_metrics(self.run.path, self.state.global_step)
            self.run.writer(purge_step=self.state.global_step + 1)  # TensorBoard drops the events after the saved step too
        return saved

    # ---- one phase ---------------------------------------------------------------------------
    def _build_parts(self, phase: Phase) -> tuple[PhaseParts, EpochPlan, dict[str, int]]:
        """The phase's parts, its epoch plan and each task's batches per pass, computed once."""
        cfg, model = self.cfg, self.model
        streams = {
            t: self.stream_factory(self.data[t]["train"], cfg.train.batch_size, cfg.train.seed, i) for i, t in enumerate(phase.tasks)
        }
        sizes = {t: s.num_batches for t, s in streams.items()}
        scheduler = scheduler_for(cfg, phase.tasks, scheduler_sizes(cfg, streams))
        plan = plan_epoch(cfg, sizes)
        total = plan.updates_per_epoch * cfg.train.epochs
        optimizer = make_optimizer(cfg, model, phase.tasks)
        lr_schedule = make_lr_schedule(optimizer, cfg.train.lr_schedule, int(cfg.train.warmup_ratio * total), total)
        method = method_for(cfg, phase.tasks)  # with the config fields it reads (its registry row)
        return PhaseParts(optimizer, lr_schedule, method, scheduler, streams, self.precision.scaler), plan, sizes

    def _run_phase(self, phase: Phase, resumed: dict[str, Any] | None) -> None:
        cfg, st = self.cfg, self.state
        prepare_phase(self.model, cfg, phase)
        parts, plan, sizes = self._build_parts(phase)
        if resumed is not None:
            parts.load_state_dict(resumed)
            set_rng(resumed["rng"])
        else:
            seed_everything(cfg.train.seed + st.phase)
        self._start_phase(phase, sizes, plan.updates_per_epoch, plan.batches_per_update)
        while st.epoch <= cfg.train.epochs:
            parts.scheduler.set_epoch(st.epoch)
            show = cfg.run.progress and self.rank == 0
            bar = EpochProgress(f"[{phase.name}] epoch {st.epoch}/{cfg.train.epochs}", plan.updates_per_epoch, st.update, show)
            start = time.perf_counter()
            while st.update < plan.updates_per_epoch:
                draws = draw_update(parts.scheduler, plan.batches_per_update, combine_strategy(cfg))
                losses = self._update(draws, parts)
                bar.update(losses)
                if dist.any_true(self._stop_signal is not None):  # all ranks stop at the same update
                    st.elapsed += time.perf_counter() - start
                    self._save_state(parts)
                    raise Interrupted(
                        f"stopped by signal {self._stop_signal or 'on another rank'}; state saved. Continue with: --resume {self.run.path}",
                        self._stop_signal or signal.SIGTERM,
                    )
                if cfg.run.save_every and st.global_step % cfg.run.save_every == 0 and st.update < plan.updates_per_epoch:
                    st.elapsed += time.perf_counter() - start
                    start = time.perf_counter()
                    self._save_state(parts)
            bar.close()
            st.elapsed += time.perf_counter() - start
            stop = self._end_epoch(phase, st.epoch)
            st.epoch, st.update = st.epoch + 1, 0
            self._save_state(parts)
            if stop:
                self._print(f"early stopping: no better mean dev score for {cfg.train.patience} epoch(s)")
                break
        if phase.frozen_encoder and len(phase.tasks) == 1 and (self.run.path / "model.safetensors").exists():
            # individual_pretrain: keep this head's best epoch (the saved best model)
            load_weights_into(self.model, self.run.path / "model.safetensors")

    # ---- one update --------------------------------------------------------------------------
    def _update(self, draws: list[str], parts: PhaseParts) -> dict[str, float]:
        """`run_update`, then its records and the non-finite policy; returns the task losses."""
        st, every = self.state, self.cfg.multitask.conflict_every
        out: Outcome = run_update(self.bench, draws, parts, bool(every) and st.global_step % every == 0)
        for tasks, cos in out.conflicts:
            pairs = {f"{tasks[i]}-{tasks[j]}": float(cos[i, j]) for i in range(len(tasks)) for j in range(i + 1, len(tasks))}
            self._emit(Conflict(st.global_step + 1, pairs))
        if out.non_finite:
            st.bad_steps += 1
            st.skipped_steps += 1
            self._emit(Skipped(st.global_step + 1, out.non_finite))
            if st.bad_steps >= self.cfg.train.max_bad_steps:
                raise TrainingError(
                    f"{st.bad_steps} non-finite losses in a row, the last at step {st.global_step + 1} "
                    f"on task(s) {', '.join(out.non_finite)}; lower --lr, try --amp bf16 or off, or check the data"
                )
        else:
            st.bad_steps = 0
            for task, value in out.losses.items():
                st.task_steps[task] = st.task_steps.get(task, 0) + out.counts[task]
                acc = st.epoch_loss.setdefault(task, [0.0, 0])
                acc[0], acc[1] = acc[0] + value, acc[1] + 1
        st.update += 1
        st.global_step += 1
        train = Train(st.global_step, st.epoch, dict(out.counts), out.losses, out.lr) if out.losses else None
        self._emit(UpdateDone(st.global_step, train, st.task_steps))
        return out.losses

    # ---- the end of an epoch -----------------------------------------------------------------
    def _end_epoch(self, phase: Phase, epoch: int) -> bool:
        """Score dev, record, keep the best checkpoint; True when patience ran out."""
        if not self.score_and_save:
            return False
        cfg, st = self.cfg, self.state
        label = f"[{phase.name}] epoch {epoch}/{cfg.train.epochs} dev " if cfg.run.progress else ""  # the bar goes; the dev line says
        preds = {
            t: predict_split(
                self.model, self.data[t]["dev"], self.precision, cfg.train.eval_batch_size, self.bench.pad_id, label and label + t
            )
            for t in phase.tasks
        }
        scores = {t: p.score() for t, p in preds.items()}
        mean = summary(scores)
        refuse_non_finite(self.model, f"[{phase.name}] epoch {epoch}", scores)
        improved = mean > st.best
        st.best, st.bad_epochs = (mean, 0) if improved else (st.best, st.bad_epochs + 1)
        record = Dev(phase.name, epoch, st.global_step, scores, mean, improved)
        st.history.append(as_dict(record))
        self._emit(DevScored(record, preds, st.epoch_loss))
        if improved:
            self.best_dev_predictions.update(preds)
        shown = "  ".join(f"{t} {v:.3f}" for t, v in scores.items())
        left = (st.elapsed / max(len(st.history), 1)) * (cfg.train.epochs - epoch)
        self._print(
            f"[{phase.name}] epoch {epoch}/{cfg.train.epochs}: dev {shown}  mean {mean:.3f}"
            + ("  * best, saved" if improved else f"  (best {st.best:.3f})")
            + f"  | {duration(st.elapsed)} of training so far"
            + (f", ~{duration(left)} left in this phase" if epoch < cfg.train.epochs else "")
        )
        st.epoch_loss = {}
        dist.barrier()  # other ranks may read the checkpoint rank 0 just wrote
        self._emit(EpochEnded(record))
        return bool(cfg.train.patience) and st.bad_epochs >= cfg.train.patience

    # ---- records -----------------------------------------------------------------------------
    def _print(self, text: str) -> None:
        if self.rank == 0:
            say(text)

    def _start_phase(self, phase: Phase, sizes: dict[str, int], per_epoch: int, k: int) -> None:
        batch, train = self.cfg.train.batch_size, self.cfg.train
        self._print(
            f"[{phase.name}] tasks {phase.tasks}, train batches per pass {sizes}, {per_epoch * k} batches/epoch = "
            f"{per_epoch} updates/epoch x {k} batch(es), x {train.epochs} epochs; "
            f"effective batch {batch * k} examples/update = "
            f"{batch / self.world:g} per rank x {self.world} rank(s) x {k} batch(es) accumulated; "
            f"learning rate {train.lr:g}, {train.lr_schedule}"
        )
        self._emit(PhaseStart(self.state.global_step, phase.name, sizes, per_epoch, k, per_epoch * k))

    def _save_state(self, parts: PhaseParts) -> None:
        if self.rank != 0 or not self.score_and_save:
            return
        save_state(
            self.run.state, {"model": self.model.state_dict(), "loop": self.state.state_dict(), **parts.state_dict(), "rng": get_rng()}
        )
