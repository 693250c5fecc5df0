"""Device and precision, decided once (as nanoGPT does).

`Precision` holds the device, an autocast context factory and one `GradScaler`; the training
step calls `precision.autocast()` and goes through the scaler without asking which mode is on.
- off:  fp32, a disabled scaler (its calls pass through).
- bf16: autocast to bfloat16 (CPU or GPU); no scaling needed, bf16 has fp32's range.
- fp16: autocast to float16 with a GradScaler (also on the CPU, where torch supports it).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..config.sections import AMP_MODES, DEVICES  # noqa: F401 (declared on the config's fields)
from ..data.batching import collate
from ..util.errors import ConfigError
from .compiling import own_gradients, pad_multiple, resolve_compile
from .cpu_kind import auto_choice


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but this machine has no CUDA device; use --device cpu (or auto)")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 / AMX). Without it, oneDNN emulates
    bf16 and a bf16 matmul runs tens of times slower than fp32 (measured here on an AVX2 EPYC:
    0.8-13 against 80 GFLOP/s in fp32; benchmarks/README.md), so autocast to bf16 only pays off on CPUs that have it."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_amp(amp: str, device: torch.device) -> str:
    """`auto`: on CUDA bf16 where the GPU supports it, else fp16 with a GradScaler; on a CPU what
    `mtlib.model.cpu_kind.AUTO` holds for this kind of CPU (bf16 only where it computes bf16 natively). `auto_fp16` (`--use_amp`): fp16 with a GradScaler
    on CUDA, as the reference; on a CPU as `auto`."""
    if amp in ("auto", "auto_fp16"):
        if device.type == "cuda":  # auto_fp16: the reference's --use_amp (torch.cuda.amp with a GradScaler)
            return "bf16" if amp == "auto" and torch.cuda.is_bf16_supported() else "fp16"
        # per CPU kind, as the benchmark records measured (mtlib.model.cpu_kind); bf16 never without native bf16
        return "bf16" if auto_choice().amp == "bf16" and cpu_has_fast_bf16() else "off"
    if amp in ("bf16", "fp16") and device.type == "cpu" and not cpu_has_fast_bf16():
        warnings.warn(
            f"--amp {amp} on a CPU without native {amp} ({torch.backends.cpu.get_cpu_capability()}): "
            "the matmuls are emulated and much slower than fp32; --amp auto picks off here",
            stacklevel=2,
        )
    return amp


# scaled-dot-product attention under autocast: every backend but cuDNN's (see Precision.autocast)
ATTENTION_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


@dataclass
class Precision:
    device: torch.device
    mode: str  # off | bf16 | fp16
    scaler: torch.amp.GradScaler
    compile: str = "off"  # off | default | max-autotune | reduce-overhead (mtlib.model.compiling), already resolved

    @classmethod
    def create(cls, device_name: str, amp: str, compile: str = "off") -> Precision:
        device = resolve_device(device_name)
        mode = resolve_amp(amp, device)
        scaler = torch.amp.GradScaler(device.type, enabled=mode == "fp16")
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return cls(device, mode, scaler, resolve_compile(compile, device))

    @property
    def graph_safe(self) -> bool:
        """Own each gradient after a backward (`mtlib.model.compiling`): with CUDA graphs only."""
        return self.compile == "reduce-overhead"

    def backward(self, loss: torch.Tensor, parameters: Iterable[torch.nn.Parameter]) -> None:
        """The (scaled) backward of `loss`; with CUDA graphs, the new gradients of `parameters`
        are then copied out of graph memory, so the next compiled call cannot overwrite them."""
        self.scaler.scale(loss).backward()
        if self.graph_safe:
            own_gradients(parameters)

    @property
    def pad_multiple(self) -> int:
        """Padded widths are rounded up to this multiple (compiled graphs are reused per width)."""
        return pad_multiple(self.compile)

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.mode)

    def autocast(self) -> AbstractContextManager[Any]:
        """Autocast to the run's dtype, with the attention backends chosen explicitly: flash,
        memory-efficient and math, never cuDNN's. Under autocast, cuDNN's SDPA re-plans for each
        new padded width and made AMP 4-10x slower than fp32 on an H200 (benchmarks/README.md)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(sdpa_kernel(ATTENTION_BACKENDS))
        stack.enter_context(torch.autocast(device_type=self.device.type, dtype=self.dtype))
        return stack

    def batch(self, encoded: Any, index: Any, pad_id: int = 0) -> dict[str, torch.Tensor]:
        """`mtlib.data.batching.collate` at this run's padding multiple, moved to the device."""
        return self.to_device(collate(encoded, index, pad_id, self.pad_multiple))

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.device.type != "cuda":
            return batch
        # pinned host memory makes the copies asynchronous: the next batch is collated meanwhile
        return {k: v.pin_memory().to(self.device, non_blocking=True) for k, v in batch.items()}
