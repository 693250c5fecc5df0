"""`Config.validate`'s checks: the choices and ranges declared on the fields (`sections`), then
the settings that must go together; each chosen method (`mtlib.config.methods`) adds its own.

Reads the config's sections only; it imports none of the training core, so the config stays a
leaf (no torch) and no module of the core is needed to say what is wrong.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from . import methods
from .sections import SCHEDULE_WEIGHT
from .tasks import PAIR_ENCODING_EXAMPLE, TASK_NAMES, TASKS, pair_modes


def _pair_encoding_ok(setting: str) -> bool:
    try:
        pair_modes(setting)
    except ValueError:
        return False
    return True


def problems(cfg: Any) -> list[str]:
    """Every setting of `cfg` that is wrong, each as one message naming its flag."""
    d, m, t, mt, r = cfg.data, cfg.model, cfg.train, cfg.multitask, cfg.run
    problems: list[str] = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    for section in (d, m, t, mt, r):  # what the fields declare: a fixed list of choices, or a range
        for f in fields(section):
            value, choices, allowed = getattr(section, f.name), f.metadata.get("choices"), f.metadata.get("range")
            need(choices is None or value in choices, f"--{f.name} {value!r} is not one of: {', '.join(choices or ())}")
            if allowed is not None and not allowed.admits(value):
                finite = not isinstance(value, float) or math.isfinite(value)
                problems.append(f"--{f.name} must be {allowed.describe() if finite else 'a finite number'} (got {value})")
    need(
        _pair_encoding_ok(m.pair_encoding),
        f"--pair_encoding {m.pair_encoding!r}: expected cross, bi, or per task like {PAIR_ENCODING_EXAMPLE}",
    )
    unknown = [x for x in d.tasks if x not in TASK_NAMES]
    need(not unknown, f"--tasks: unknown task(s) {unknown}; choose from {', '.join(TASK_NAMES)}")
    need(len(d.tasks) > 0, "--tasks is empty; name at least one of " + ", ".join(TASK_NAMES))
    need(len(set(d.tasks)) == len(d.tasks), f"--tasks lists a task twice: {d.tasks}")
    need(t.epochs > 0 or t.option == "test", f"--epochs must be at least 1 (got {t.epochs})")
    need(not m.use_pal or m.pal_size % m.pal_heads == 0, f"--pal_size ({m.pal_size}) must be divisible by --pal_heads ({m.pal_heads})")
    bad_micro = [k for k in t.max_micro_batch if k not in TASK_NAMES]
    need(not bad_micro, f"--max_micro_batch names unknown task(s) {bad_micro}")
    for task, mb in t.max_micro_batch.items():
        need(mb >= 0, f"--max_micro_batch {task}={mb}: must be 0 (no split) or more")
        need(
            mb <= t.batch_size,
            f"--max_micro_batch {task}={mb} (--max_batch_size_{task}) is larger than --batch_size ({t.batch_size}); "
            "it is the micro-batch size for gradient accumulation, so it must not exceed the batch",
        )
    unknown_w = [k for k in mt.schedule_weights if k not in TASK_NAMES]
    need(not unknown_w, f"--schedule_weights names unknown task(s) {unknown_w}")
    bad_w = {k: w for k, w in mt.schedule_weights.items() if not SCHEDULE_WEIGHT.admits(w)}  # huge ones overflow their sum
    need(
        not bad_w,
        f"--schedule_weights: each must be {SCHEDULE_WEIGHT.describe()} (got {', '.join(f'{k}={w:g}' for k, w in bad_w.items())})",
    )
    need(any(mt.schedule_weights.get(x, 1.0) > 0 for x in d.tasks), "--schedule_weights gives every task weight 0")
    bad_weights = [k for k in mt.task_weights if k not in TASK_NAMES]
    need(not bad_weights, f"--task_weights names unknown task(s) {bad_weights}")
    need(all(math.isfinite(w) and w >= 0 for w in mt.task_weights.values()), "--task_weights must be finite and 0 or more")
    need(any(mt.task_weights.get(x, 1.0) > 0 for x in d.tasks), "--task_weights gives every task weight 0: nothing would train")
    problems += methods.problems(cfg)
    problems += epoch_problems(cfg)
    problems += reference_method_problems(cfg)
    need(
        t.option != "test" or bool(t.pretrained_model_name or r.resume),
        "--option test needs a checkpoint: pass --pretrained_model_name RUN_DIR_OR_FILE",
    )
    need(not (r.resume and t.option == "test"), "--resume continues training; use --pretrained_model_name with --option test")
    splits = cfg.prediction_splits
    need(
        all(s in ("dev", "test") for s in splits) and len(set(splits)) == len(splits),
        f"--predict_splits must be dev, test or dev,test (got {r.predict_splits!r})",
    )
    return problems


def epoch_problems(cfg: Any) -> list[str]:
    """The settings of epoch length, update size and task coverage that do not go together."""
    t, mt, tasks = cfg.train, cfg.multitask, cfg.data.tasks
    out = []
    if t.num_batches_per_epoch and t.updates_per_epoch:
        out.append(
            "--num_batches_per_epoch (task batches, as the reference counted) and --updates_per_epoch both set the "
            "length of an epoch; give one of them"
        )
    picked = methods.chosen(cfg)  # None: a name is unknown, which the fields' checks say
    if picked is None or not picked["projection"].combines or picked["combine_strategy"].batches:
        return out  # no projection, or a combine strategy that puts every task in each update (its own checks)
    if t.option == "individual_pretrain" or len(tasks) < 2:
        return out
    # a projection combines the gradients of the tasks present in an update: one that is missing
    # is left out of the projection for that update (the reference README: "Make sure to use
    # --combine_strategy [STRATEGY] if you plan to use a scheduler as well as a projection")
    if not picked["task_scheduler"].cycles_tasks:
        out.append(
            f"--task_scheduler {mt.task_scheduler} with --projection {mt.projection} needs a combine strategy, "
            "else updates drawn from the scheduler miss tasks: add --combine_strategy encourage (every task in each "
            "update, the rest as the scheduler draws; the reference's advice) or force, or leave --task_scheduler "
            "out to take one batch of each task per update"
        )
    elif methods.batches_per_update(cfg, len(tasks)) % len(tasks):
        out.append(
            f"--batches_per_update {mt.batches_per_update} with --projection {mt.projection}: round-robin updates of "
            f"{mt.batches_per_update} batches miss some of the {len(tasks)} tasks; use a multiple of {len(tasks)}, "
            "or add --combine_strategy encourage"
        )
    return out


def reference_method_problems(cfg: Any) -> list[str]:
    """The settings of the reference's methods (SMART, `optimize`, frozen parts) that are wrong or
    do not go together (the RNN heads' and single-task schedulers' are their methods' checks)."""
    m, t, tasks = cfg.model, cfg.train, cfg.data.tasks
    out: list[str] = []
    if t.no_train_pal and not m.use_pal:
        out.append("--no_train_pal freezes PAL blocks, but there are none: add --use_pal or drop --no_train_pal")
    if t.option == "optimize":
        if not any(TASKS[x].label_kind == "class" for x in tasks):
            out.append("--option optimize trains the SST adjustment matrix, but --tasks has no multi-class task: add sst")
        if not t.pretrained_model_name and not cfg.run.resume:
            out.append("--option optimize adjusts a trained model: pass --pretrained_model_name RUN_DIR_OR_FILE")
    return out
