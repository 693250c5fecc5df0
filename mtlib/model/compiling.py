"""`--compile`: torch.compile the shared encoder, and the padded widths that let graphs be reused.

- `off`: eager.
- `default`: inductor kernels (fused elementwise work, fewer launches).
- `reduce-overhead`: inductor plus CUDA graphs, so a whole forward (and backward) is one launch.
  At batch 32 a bert-base update is launch-bound on an H100/H200; CUDA graphs remove that.
- `auto`: `off` for now, on CUDA and on a CPU. On a CPU (a 2-core AVX2 EPYC) inductor's compile
  time outweighs what it saves in a 15-minute run. On CUDA, `auto` is meant to become
  `reduce-overhead`, but that mode has not yet trained successfully here: on an H200 (torch 2.11)
  the backward pass read a CUDA-graph output that a later graph step had overwritten
  (benchmarks/README.md, "GPU"). The step marker now applies to calls without gradients only, as
  the torch docs advise for inference; that change has not yet run on a GPU.

Only the encoder is compiled, in place (`nn.Module.compile`), so parameter names, checkpoints,
resume, the PAL forward hooks (traced with the layers they hook) and the per-task heads are
unchanged. It is compiled with dynamic shapes, so one graph serves every batch size and width;
widths are still padded to multiples of `PAD_MULTIPLE` so CUDA graphs, recorded per shape, are
few and reused. Padding is masked: it changes no result beyond float rounding.
"""

from __future__ import annotations

import torch

from ..config.sections import COMPILE_MODES  # noqa: F401 (declared on the config's fields)

PAD_MULTIPLE = 16


def resolve_compile(mode: str, device: torch.device) -> str:
    """The compile mode that runs: `auto` is `off` on every device for now (the module docstring
    says why); the other modes run as named."""
    if mode == "auto":
        return "off"  # see the module docstring: reduce-overhead on CUDA once it has trained on a GPU
    return mode


def pad_multiple(mode: str) -> int:
    """Round padded widths up to this multiple (1: pad to the batch's longest row)."""
    return 1 if mode == "off" else PAD_MULTIPLE


def compile_encoder(model: torch.nn.Module, mode: str) -> None:
    """Compile `model.encoder` in place (`mode` already resolved). With CUDA graphs, each call of
    the model without gradients (dev scoring, prediction) starts a new graph step, so its outputs
    may be reused by the graph pool at the next call: callers consume (or copy) them first, as
    `predict_split` does. Training calls leave the steps to CUDA-graph trees, which end a step
    when its backward has run."""
    if mode == "off":
        return
    # every train/eval x grad/no-grad variant of the dynamic graph must fit in the cache
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 32)
    options = {"mode": None if mode == "default" else mode, "dynamic": True}
    model.encoder.compile(**options)
    if mode == "reduce-overhead":
        model.register_forward_pre_hook(_new_graph_step)


def _new_graph_step(module: torch.nn.Module, args: tuple) -> None:
    if not torch.is_grad_enabled():
        torch.compiler.cudagraph_mark_step_begin()
