"""The methods mtlib ships, one `Method` row each (see `mtlib.config.method_spec`).

A new task scheduler or projection is one new file holding its behaviour (a `TaskScheduler` in
mtlib/train/, a `GradientMethod` in mtlib/train/gradients/) plus its row here, or a
`mtlib.config.methods.register(Method(...))` call (docs/architecture.md has a worked example).
The config's choices, its checks, `--help`, the loop and the epoch plan read these rows.
"""

from __future__ import annotations

from typing import Any

from .method_spec import Method
from .tasks import TASK_NAMES, TASKS, pair_mode

COMBINE_BATCHES = 16  # the reference's nb_batches_per_update for `pal` with `force` / `encourage`
DRAWN, EVERY_TASK_FIRST = "none", "force"  # the strategies `mtlib.train.reference_methods.combine_strategy` falls back to
SCHEDULERS = "mtlib.train.task_schedulers"
GRADIENTS = "mtlib.train.gradients"


def _one_task_alone(cfg: Any, chosen: dict[str, Method]) -> list[str]:
    task, projection = chosen["task_scheduler"].only_task, chosen["projection"]
    out = []
    if task not in cfg.data.tasks:
        out.append(f"--task_scheduler {task} trains that task alone, but --tasks leaves it out")
    if projection.combines:
        out.append(f"--task_scheduler {task} trains one task: there is nothing for --projection {projection.name} to combine")
    return out


def _every_task_in_each_update(cfg: Any, chosen: dict[str, Method]) -> list[str]:
    mt, n = cfg.multitask, len(cfg.data.tasks)
    out = []
    if not chosen["projection"].combines:
        out.append(
            f"--combine_strategy {mt.combine_strategy} only applies with a gradient projection; "
            "add e.g. --projection pcgrad, or drop --combine_strategy"
        )
    if 0 < mt.batches_per_update < n:
        out.append(
            f"--combine_strategy {mt.combine_strategy} puts every task in each update, so "
            f"--batches_per_update must be at least the number of tasks ({n})"
        )
    return out


def _reads_one_sequence(cfg: Any, chosen: dict[str, Method]) -> list[str]:
    m = cfg.model
    unknown = [x for x in m.head_rnn_tasks if x not in TASK_NAMES]
    if unknown:
        return [f"--head_rnn_tasks names unknown task(s) {unknown}; choose from {', '.join(TASK_NAMES)}"]
    read = [t for t in cfg.data.tasks if not m.head_rnn_tasks or t in m.head_rnn_tasks]
    bi = [x for x in read if TASKS[x].is_pair and pair_mode(m.pair_encoding, x) == "bi"]
    if bi:
        return [f"--head_rnn reads the token states of one sequence, but {', '.join(bi)} is bi-encoded; use --pair_encoding cross"]
    return []


def _scheduler(name: str, help: str, cls: str, **kw: Any) -> Method:
    return Method("task_scheduler", name, help, f"{SCHEDULERS}:{cls}", **kw)


def _projection(name: str, help: str, cls: str, **kw: Any) -> Method:
    return Method("projection", name, help, f"{GRADIENTS}.{cls}", **kw)


def _torchjd(name: str, help: str) -> Method:
    return _projection(name, f"TorchJD's {help}", "torchjd_methods:TorchJDMethod", arguments={"aggregator": name})


BUILT_IN: tuple[Method, ...] = (
    # task schedulers: round_robin .. pal draw among the tasks; sst, para, sts train that task alone
    _scheduler("round_robin", "t0, t1, t2, t0, ...", "RoundRobin", cycles_tasks=True),
    _scheduler("random", "uniform over the tasks", "Uniform"),
    _scheduler("proportional", "p_t ~ N_t", "Proportional"),
    _scheduler("temperature", "p_t ~ N_t^(1/T), T = --sampling_temperature", "Temperature", options={"temperature": "sampling_temperature"}),
    _scheduler("weighted", "p_t ~ w_t, the shares of --schedule_weights", "Weighted", options={"weights": "schedule_weights"}),
    _scheduler("pal", "annealed p_t ~ N_t^alpha (Stickland & Murray, 2019)", "AnnealedPAL", keeps_combine_strategy=True),
    *(
        _scheduler(t, f"{t} alone (the reference's single-task scheduler)", "SingleTask", arguments={"task": t}, only_task=t, checks=_one_task_alone)
        for t in TASK_NAMES
    ),
    # projections: how per-task gradients on the shared encoder combine
    _projection("none", "no projection: the weighted task losses are summed", "base:Sum", combines=False),
    _projection("pcgrad", "PCGrad (Yu et al., 2020)", "pcgrad:PCGrad"),
    _projection("vaccine", "GradVac (Wang et al., 2021), EMA rate --gradvac_beta", "gradvac:GradVac", options={"beta": "gradvac_beta"}),
    _torchjd("upgrad", "UPGrad (Quinton & Rey, 2024)"),
    _torchjd("mgda", "MGDA (Desideri, 2012)"),
    _torchjd("dualproj", "DualProj (Quinton & Rey, 2024)"),
    _torchjd("aligned_mtl", "Aligned-MTL (Senushkin et al., 2023)"),
    _torchjd("imtl_g", "IMTL-G (Liu et al., 2021)"),
    _torchjd("cagrad", "CAGrad (Liu et al., 2021; needs cvxpy)"),
    _torchjd("nash_mtl", "Nash-MTL (Navon et al., 2022; needs cvxpy)"),
    # combine strategies: which tasks an update's batches come from when projecting
    Method("combine_strategy", DRAWN, "every batch drawn from the scheduler", "mtlib.train.combine_strategies:drawn"),
    Method(
        "combine_strategy", EVERY_TASK_FIRST, f"one batch of each task, then draws ({COMBINE_BATCHES} batches an update)",
        "mtlib.train.combine_strategies:force", batches=COMBINE_BATCHES, checks=_every_task_in_each_update,
    ),
    Method(
        "combine_strategy", "encourage", f"draws, each missing task replacing a draw of the most drawn ({COMBINE_BATCHES} batches an update)",
        "mtlib.train.combine_strategies:encourage", batches=COMBINE_BATCHES, checks=_every_task_in_each_update,
    ),
    # recurrent head readers (--head_rnn, mtlib.model.heads.RecurrentReader)
    Method("head_rnn", "none", "no recurrent reader"),
    Method("head_rnn", "rnn", "an Elman RNN over the token states", "torch.nn:RNN", recurrent=True, checks=_reads_one_sequence),
    Method("head_rnn", "lstm", "an LSTM over the token states", "torch.nn:LSTM", recurrent=True, checks=_reads_one_sequence),
    # the activation of the heads' hidden blocks (--head_activation, mtlib.model.multitask_bert.make_head)
    Method("head_activation", "gelu", "GELU", "torch.nn:GELU"),
    Method("head_activation", "relu", "ReLU (the reference project)", "torch.nn:ReLU"),
    # poolings (mtlib.model.pooling): the sentence representation fed to the heads
    Method("pooling", "cls", "the [CLS] token's last hidden state", "mtlib.model.pooling:cls_token", pools_cls=True),
    Method("pooling", "mean", "the mean of the real tokens' last hidden states", "mtlib.model.pooling:mean_tokens", sentence_transformers=True),
    Method("pooling", "pooler", "the encoder's pooler on [CLS]", "mtlib.model.pooling:pooler", pools_cls=True, uses_pooler=True),
)  # fmt: skip
