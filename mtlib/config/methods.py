"""The registry of methods: every task scheduler, projection, combine strategy, recurrent head
reader, head activation and pooling, by kind and name (rows: `mtlib.config.method_table`; the row type:
`mtlib.config.method_spec.Method`).

Torch-free, so the config reads it: a field's choices are the registry's live names
(`Names`), the checks ask each chosen method for its own (`problems`), and the epoch plan asks
how many batches an update takes (`batches_per_update`). The layers that run a method find its
behaviour by name (`behaviour`); nothing outside a method's own module compares its name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import Any

from .method_spec import KINDS, Method
from .method_table import BUILT_IN, COMBINE_BATCHES, DRAWN, EVERY_TASK_FIRST

__all__ = ["KINDS", "Method", "Names", "register", "registered", "method", "chosen", "behaviour", "batches_per_update"]
__all__ += ["problems", "recurrent_tasks", "COMBINE_BATCHES", "DRAWN", "EVERY_TASK_FIRST"]

REGISTRY: dict[str, dict[str, Method]] = {kind: {} for kind in KINDS}


def register(m: Method) -> Method:
    """Add a method to the registry: from then on it is a choice of its setting, checked,
    shown by `--help` and run by the loop. A name is registered once."""
    if m.kind not in REGISTRY:
        raise ValueError(f"{m.kind!r} is not a kind of method; expected one of {', '.join(KINDS)}")
    if m.name in REGISTRY[m.kind]:
        raise ValueError(f"a {m.kind} named {m.name!r} is registered already")
    REGISTRY[m.kind][m.name] = m
    return m


for _m in BUILT_IN:
    register(_m)


class Names:
    """The registered names of one kind, read when asked (a field's `choices`: a method registered
    later is a choice too)."""

    def __init__(self, kind: str):
        self.kind = kind

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(REGISTRY[self.kind]))

    def __contains__(self, name: object) -> bool:
        return name in REGISTRY[self.kind]

    def __len__(self) -> int:
        return len(REGISTRY[self.kind])

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, (Names, tuple, list)) else NotImplemented

    def __repr__(self) -> str:
        return repr(tuple(self))

    def described(self) -> str:
        """`name: help` for each, as --help lists them."""
        return "; ".join(f"{m.name}: {m.help}" for m in REGISTRY[self.kind].values())


def registered(kind: str) -> dict[str, Method]:
    return dict(REGISTRY[kind])


def method(kind: str, name: str) -> Method:
    try:
        return REGISTRY[kind][name]
    except KeyError:
        raise KeyError(f"no {kind} named {name!r}; registered: {', '.join(REGISTRY.get(kind, ()))}") from None


def chosen(cfg: Any) -> dict[str, Method] | None:
    """`cfg`'s method of each kind (a kind's config field holds its name); None where one of
    them is registered under no name (the checks of the fields' choices say which)."""
    flat = cfg.to_flat()
    if any(flat[kind] not in REGISTRY[kind] for kind in KINDS):
        return None
    return {kind: REGISTRY[kind][flat[kind]] for kind in KINDS}


def behaviour(m: Method) -> Any:
    """The object `m.implementation` names (a class or function in the layer that runs `m`)."""
    if not m.implementation:
        raise LookupError(f"{m.kind} {m.name!r} has no implementation")
    module, _, attribute = m.implementation.partition(":")
    return getattr(importlib.import_module(module), attribute)


def problems(cfg: Any) -> list[str]:
    """What each method `cfg` chooses finds wrong with it (its `checks`); nothing while one of
    its names is unknown (the checks of the fields' choices say so)."""
    picked = chosen(cfg)
    if picked is None:
        return []
    return [p for m in picked.values() if m.checks is not None for p in m.checks(cfg, picked)]


def batches_per_update(cfg: Any, n_tasks: int) -> int:
    """The batches one update of `cfg` (a `Config`) gathers in a phase of `n_tasks` tasks: 1
    without a projection; with one, one batch of each task, or the combine strategy's batches."""
    mt = cfg.multitask
    if mt.batches_per_update:
        return mt.batches_per_update
    if not method("projection", mt.projection).combines or n_tasks == 1:
        return 1
    strategy = method("combine_strategy", mt.combine_strategy)
    # with --combine_only_with_pal (the reference) a combine strategy applies under `pal` only
    keeps = method("task_scheduler", mt.task_scheduler).keeps_combine_strategy or not mt.combine_only_with_pal
    return strategy.batches if strategy.batches and keeps else n_tasks


def recurrent_tasks(kind: str, tasks: Iterable[str], only: Iterable[str]) -> list[str]:
    """The tasks whose heads get a recurrent reader (`--head_rnn`, mtlib.model.heads): all of
    `tasks`, or those named in `only`; none when the reader `kind` is not recurrent."""
    if not method("head_rnn", kind).recurrent:
        return []
    only = list(only)
    return [t for t in tasks if not only or t in only]
