"""`Config.validate`'s checks, and the choices of each setting that has a fixed list.

The choices of the task scheduler, the projection and the combine strategy belong to their
registries (`mtlib.schedulers`, `mtlib.gradients`); those of amp and device to `mtlib.amp`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from . import reference_methods, schedule
from .amp import AMP_MODES, DEVICES
from .compiling import COMPILE_MODES
from .gradients import PROJECTIONS as PROJECTION_REGISTRY
from .schedulers import COMBINE_STRATEGIES
from .schedulers import SCHEDULERS as SCHEDULER_REGISTRY
from .tasks import PAIR_ENCODING_EXAMPLE, TASK_NAMES, pair_modes

if TYPE_CHECKING:
    from .config import Config

OPTIONS = ("individual_pretrain", "pretrain", "finetune", "optimize", "test")
PREPROCESSING = ("none", "lengths", "lengths_augmented")
SCHEDULER_SIZES = ("batches", "micro_batches")
POOLINGS = ("cls", "mean", "pooler")
LR_SCHEDULES = ("constant", "linear")
HEAD_ACTIVATIONS = ("gelu", "relu")
SCHEDULERS = tuple(SCHEDULER_REGISTRY)
PROJECTIONS = tuple(PROJECTION_REGISTRY)


# Inclusive ranges of numeric settings (a dict setting: each of its values), each with why its ends
# are where they are. Values outside them used to end in a traceback far from the flag (an
# allocation of 128 GB, a tokenizer thread pool that cannot start, sampling probabilities that
# overflow to NaN); kept as one table so that the ranges can later be declared on the fields.
RANGES: dict[str, tuple[float, float, str]] = {
    "pal_size": (1, 4096, "a PAL is a low-rank layer: its width stays under the encoder's hidden size (BERT-large: 1024)"),
    "threads": (0, 256, "0 is torch's default; more threads than cores only slows a run down"),
    "sampling_temperature": (0.1, 1000, "p_t ~ N_t^(1/T) overflows below 0.1; above 1000 it is uniform sampling"),
    "schedule_weights": (0, 1e6, "the weights are relative shares; huge ones overflow their sum"),
}


def out_of_range(name: str, value: object) -> str:
    """The problem with `value` of the setting `name` under `RANGES`, or "" when it is in range."""
    low, high, why = RANGES[name]
    values = value.values() if isinstance(value, dict) else [value]
    bad = [v for v in values if not (isinstance(v, (int, float)) and low <= v <= high)]  # NaN is never in range
    if not bad:
        return ""
    if isinstance(value, dict):
        return f"--{name}: each must be in {low:g}..{high:g} (got {', '.join(f'{k}={v}' for k, v in value.items() if v in bad)}): {why}"
    return f"--{name} must be in {low:g}..{high:g} (got {value}): {why}"


def _pair_encoding_ok(setting: str) -> bool:
    try:
        pair_modes(setting)
    except ValueError:
        return False
    return True


def problems(cfg: Config) -> list[str]:
    """Every setting of `cfg` that is wrong, each as one message naming its flag."""
    d, m, t, mt, r = cfg.data, cfg.model, cfg.train, cfg.multitask, cfg.run
    flat = cfg.to_flat()
    problems: list[str] = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    for name, choices in [
        ("option", OPTIONS),
        ("task_scheduler", SCHEDULERS),
        ("combine_strategy", COMBINE_STRATEGIES),
        ("pooling", POOLINGS),
        ("amp", AMP_MODES),
        ("device", DEVICES),
        ("projection", PROJECTIONS),
        ("lr_schedule", LR_SCHEDULES),
        ("head_activation", HEAD_ACTIVATIONS),
        ("compile", COMPILE_MODES),
        ("use_preprocessing", PREPROCESSING),
        ("scheduler_sizes", SCHEDULER_SIZES),
    ]:
        value = flat[name]
        need(value in choices, f"--{name} {value!r} is not one of: {', '.join(choices)}")
    need(
        _pair_encoding_ok(m.pair_encoding),
        f"--pair_encoding {m.pair_encoding!r}: expected cross, bi, or per task like {PAIR_ENCODING_EXAMPLE}",
    )
    unknown = [x for x in d.tasks if x not in TASK_NAMES]
    need(not unknown, f"--tasks: unknown task(s) {unknown}; choose from {', '.join(TASK_NAMES)}")
    need(len(d.tasks) > 0, "--tasks is empty; name at least one of " + ", ".join(TASK_NAMES))
    need(len(set(d.tasks)) == len(d.tasks), f"--tasks lists a task twice: {d.tasks}")
    need(t.batch_size > 0, f"--batch_size must be at least 1 (got {t.batch_size})")
    need(t.eval_batch_size > 0, f"--eval_batch_size must be at least 1 (got {t.eval_batch_size})")
    for name in (
        "lr",
        "weight_decay",
        "warmup_ratio",
        "head_dropout",
        "encoder_dropout",
        "gradvac_beta",
    ):
        value = flat[name]
        need(math.isfinite(value), f"--{name} must be a finite number (got {value})")
    need(not math.isfinite(t.lr) or 0 < t.lr <= 1, f"--lr must be above 0 and at most 1 (got {t.lr})")
    need(not math.isfinite(t.weight_decay) or t.weight_decay >= 0, f"--weight_decay must be 0 or more (got {t.weight_decay})")
    need(d.max_train_examples >= 0, f"--max_train_examples must be 0 (all) or more (got {d.max_train_examples})")
    need(d.max_eval_examples >= 0, f"--max_eval_examples must be 0 (all) or more (got {d.max_eval_examples})")
    need(0 <= t.seed < 2**32, f"--seed must be in 0..{2**32 - 1} (got {t.seed})")
    need(t.epochs > 0 or t.option == "test", f"--epochs must be at least 1 (got {t.epochs})")
    need(t.patience >= 0, f"--patience must be 0 (off) or more (got {t.patience})")
    need(0 <= t.warmup_ratio < 1, f"--warmup_ratio must be in [0, 1) (got {t.warmup_ratio})")
    need(0 <= m.head_dropout < 1, f"--head_dropout must be in [0, 1) (got {m.head_dropout})")
    need(
        m.encoder_dropout == -1.0 or 0 <= m.encoder_dropout < 1,
        f"--encoder_dropout must be -1 (keep) or in [0, 1) (got {m.encoder_dropout})",
    )
    need(m.n_hidden_layers >= 0, f"--n_hidden_layers must be 0 or more (got {m.n_hidden_layers})")
    need(d.max_length >= 8, f"--max_length must be at least 8 (got {d.max_length})")
    need(t.max_bad_steps >= 1, f"--max_bad_steps must be at least 1 (got {t.max_bad_steps})")
    bad_micro = [k for k in t.max_micro_batch if k not in TASK_NAMES]
    need(not bad_micro, f"--max_micro_batch names unknown task(s) {bad_micro}")
    for task, mb in t.max_micro_batch.items():
        need(mb >= 0, f"--max_micro_batch {task}={mb}: must be 0 (no split) or more")
        need(
            mb <= t.batch_size,
            f"--max_micro_batch {task}={mb} (--max_batch_size_{task}) is larger than --batch_size ({t.batch_size}); "
            "it is the micro-batch size for gradient accumulation, so it must not exceed the batch",
        )
    problems += [p for p in (out_of_range(name, flat[name]) for name in RANGES) if p]
    if m.use_pal:
        need(m.pal_heads > 0, f"--pal_heads must be at least 1 (got {m.pal_heads})")
        need(m.pal_size % max(m.pal_heads, 1) == 0, f"--pal_size ({m.pal_size}) must be divisible by --pal_heads ({m.pal_heads})")
    need(0 < mt.gradvac_beta <= 1, f"--gradvac_beta must be in (0, 1] (got {mt.gradvac_beta})")
    need(mt.conflict_every >= 0, f"--conflict_every must be 0 (off) or more (got {mt.conflict_every})")
    need(t.head_lr == 0 or (math.isfinite(t.head_lr) and 0 < t.head_lr <= 1), f"--head_lr must be 0 (--lr) or in (0, 1] (got {t.head_lr})")
    need(0 <= t.label_smoothing < 1, f"--label_smoothing must be in [0, 1) (got {t.label_smoothing})")
    unknown_w = [k for k in mt.schedule_weights if k not in TASK_NAMES]
    need(not unknown_w, f"--schedule_weights names unknown task(s) {unknown_w}")
    need(any(mt.schedule_weights.get(x, 1.0) > 0 for x in d.tasks), "--schedule_weights gives every task weight 0")
    bad_weights = [k for k in mt.task_weights if k not in TASK_NAMES]
    need(not bad_weights, f"--task_weights names unknown task(s) {bad_weights}")
    need(all(math.isfinite(w) and w >= 0 for w in mt.task_weights.values()), "--task_weights must be finite and 0 or more")
    need(any(mt.task_weights.get(x, 1.0) > 0 for x in d.tasks), "--task_weights gives every task weight 0: nothing would train")
    need(
        mt.combine_strategy == "none" or mt.projection != "none",
        f"--combine_strategy {mt.combine_strategy} only applies with a gradient projection; "
        "add e.g. --projection pcgrad, or drop --combine_strategy",
    )
    problems += schedule.problems(cfg)
    problems += reference_methods.problems(cfg)
    need(
        t.option != "test" or bool(t.pretrained_model_name or r.resume),
        "--option test needs a checkpoint: pass --pretrained_model_name RUN_DIR_OR_FILE",
    )
    need(not (r.resume and t.option == "test"), "--resume continues training; use --pretrained_model_name with --option test")
    need(r.save_every >= 0, f"--save_every must be 0 or more (got {r.save_every})")
    splits = cfg.prediction_splits
    need(
        all(s in ("dev", "test") for s in splits) and len(set(splits)) == len(splits),
        f"--predict_splits must be dev, test or dev,test (got {r.predict_splits!r})",
    )
    return problems
