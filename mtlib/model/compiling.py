"""`--compile`: torch.compile the shared encoder, and the padded widths that let graphs be reused.

- `off`: eager.
- `default`: inductor kernels (fused elementwise work, fewer launches).
- `reduce-overhead`: inductor plus CUDA graphs, so a whole forward (and backward) is one launch.
  At batch 32 a bert-base update is launch-bound on an H100/H200; CUDA graphs remove that.
- `auto`: `off` for now, on CUDA and on a CPU. On a CPU (a 2-core AVX2 EPYC) inductor's compile
  time outweighs what it saves in a 15-minute run. On CUDA, `auto` is meant to become
  `reduce-overhead` once that mode has trained on a GPU (issue 28: no GPU has been lent since the
  accumulation-safe path below was built).

CUDA graphs and accumulation. On an H200 (torch 2.11) `reduce-overhead` failed at the first
backward with "accessing tensor output of CUDAGraphs that has been overwritten by a subsequent
run". The cause: whenever an update runs more than one compiled forward and backward (micro-
batches, several batches of a task, one backward per task for a projection), the first
backward's gradient becomes `.grad` *as* the graph's output (autograd adopts a fresh gradient
rather than copying it), so it lives in the graph pool that the next replay overwrites. The
mechanism chosen here, two parts, both cheap:
1. `new_graph_step` before every call of the compiled encoder (with or without gradients): each
   call's outputs are consumed, its backward run, before the next call, so each call is a step;
2. `own_gradients` after every backward: each gradient the backward has just created is
   replaced by a copy outside the pool, and later backwards of the update add into that copy in
   place (autograd accumulates into an existing `.grad`). One copy per parameter and update.
Capturing the whole micro-step, accumulation included, as one graph was the alternative; it would
take the optimizer's gradients, the projections and the SMART inner loop into the graph, and
every task and width would need its own capture. `Precision.graph_safe` switches the two parts
on (with `reduce-overhead`); tests/test_compile.py drives them on the CPU with a pool that is
overwritten at every step, as CUDA graphs do.

Only the encoder is compiled, in place (`nn.Module.compile`), so parameter names, checkpoints,
resume, the PAL forward hooks (traced with the layers they hook) and the per-task heads are
unchanged. It is compiled with dynamic shapes, so one graph serves every batch size and width;
widths are still padded to multiples of `PAD_MULTIPLE` so CUDA graphs, recorded per shape, are
few and reused. Padding is masked: it changes no result beyond float rounding.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..config.sections import COMPILE_MODES  # noqa: F401 (declared on the config's fields)
from .cpu_kind import auto_choice

PAD_MULTIPLE = 16


def resolve_compile(mode: str, device: torch.device) -> str:
    """The compile mode that runs: `auto` is, on a CPU, what `mtlib.model.cpu_kind.AUTO` holds for
    its kind, and `off` on CUDA (the module docstring says why); the other modes run as named."""
    if mode == "auto":
        if device.type == "cpu":
            return auto_choice().compile  # what the benchmark records measured fastest on this kind of CPU
        return "off"  # see the module docstring: reduce-overhead on CUDA once it has trained on a GPU
    return mode


def pad_multiple(mode: str) -> int:
    """Round padded widths up to this multiple (1: pad to the batch's longest row)."""
    return 1 if mode == "off" else PAD_MULTIPLE


def compile_encoder(model: torch.nn.Module, mode: str) -> None:
    """Compile `model.encoder` in place (`mode` already resolved). With CUDA graphs the model
    starts a new graph step before every encoder call (`model.graph_step`), so a call's outputs
    may be reused by the pool at the next call: callers consume (or copy) them first, as
    `predict_split` and the update's backward do, and own their gradients (`own_gradients`)."""
    if mode == "off":
        return
    # every train/eval x grad/no-grad variant of the dynamic graph must fit in the cache
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 32)
    options = {"mode": None if mode == "default" else mode, "dynamic": True}
    model.encoder.compile(**options)
    if mode == "reduce-overhead":
        model.graph_step = new_graph_step


def new_graph_step() -> None:
    """Start a new CUDA-graph step: the previous call's outputs may be overwritten from here on."""
    torch.compiler.cudagraph_mark_step_begin()


OWNED = "_mtlib_owned"  # set on a gradient that lives outside CUDA-graph memory


def own_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace each gradient a backward has just created (`.grad` not yet owned) with a copy
    outside CUDA-graph memory; gradients already owned are left alone, and autograd adds the
    next backward's gradient into them in place."""
    for p in parameters:
        grad = p.grad
        if grad is not None and not getattr(grad, OWNED, False):
            owned = grad.clone()
            setattr(owned, OWNED, True)
            p.grad = owned
