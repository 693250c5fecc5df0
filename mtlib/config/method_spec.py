"""What a method is, declared once and torch-free: `Method`.

A method is one value of a setting that picks a behaviour: a task scheduler (`--task_scheduler`),
a projection (`--projection`), a combine strategy (`--combine_strategy`), a recurrent head reader
(`--head_rnn`), the activation of the heads' hidden blocks (`--head_activation`) or a pooling
(`--pooling`). Its `Method` row holds everything the config, the
checks, the loop, `--help` and the docs need to know about it: its name and help, the config
fields it reads (`options`), its checks, and the facts the rest of mtlib asks instead of
comparing names (how many batches an update of it takes, whether it combines gradients, ...).
Its behaviour (torch code) stays in the layer that runs it and is named here by its import
path, `implementation`, so the config never imports it (`mtlib.config.methods.behaviour`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# each kind is the name of the config field that holds its method
KINDS = ("task_scheduler", "projection", "combine_strategy", "head_rnn", "head_activation", "pooling")


@dataclass(frozen=True)
class Method:
    kind: str  # one of KINDS: the setting this method is a value of
    name: str  # the value: `--task_scheduler pal`
    help: str  # one line for --help and the docs
    implementation: str = ""  # "module:attribute" of the behaviour, looked up by name by the layer that runs it ("": none)
    options: dict[str, str] = field(default_factory=dict)  # the implementation's keyword -> the config field it is given
    arguments: dict[str, Any] = field(default_factory=dict)  # fixed keywords of the implementation
    # checks(cfg, chosen): the problems of `cfg` this method sees; `chosen` maps each kind to cfg's Method of it
    checks: Callable[[Any, dict[str, Method]], list[str]] | None = None
    # ---- what the rest of mtlib asks of a method instead of comparing its name ----------------
    combines: bool = True  # projection: combines per-task gradients (False: the task losses are summed)
    only_task: str = ""  # task scheduler: trains this one task alone
    cycles_tasks: bool = False  # task scheduler: each run of len(tasks) draws holds every task once
    keeps_combine_strategy: bool = False  # task scheduler: --combine_only_with_pal keeps the combine strategy with it
    batches: int = 0  # combine strategy: the batches one update gathers (0: no strategy, one batch of each task)
    recurrent: bool = False  # head reader: a recurrent layer reads the token states
    pools_cls: bool = False  # pooling: the [CLS] representation (a recurrent reader's [CLS] is then the pooled one)
    uses_pooler: bool = False  # pooling: the encoder's pooler is trained
    sentence_transformers: bool = False  # pooling: a sentence-transformers folder can pool the same way (mtlib.use.export)

    def options_of(self, cfg: Any) -> dict[str, Any]:
        """The keywords this method's implementation gets from `cfg` (a `Config`): its fixed
        `arguments` and the values of the config fields its `options` name."""
        flat = cfg.to_flat() if self.options else {}
        return {**self.arguments, **{keyword: flat[name] for keyword, name in self.options.items()}}
