"""Device and precision, decided once (as nanoGPT does).

`Precision` holds the device, an autocast context factory and one `GradScaler`; the training
step calls `precision.autocast()` and goes through the scaler without asking which mode is on.
- off:  fp32, a disabled scaler (its calls pass through).
- bf16: autocast to bfloat16 (CPU or GPU); no scaling needed, bf16 has fp32's range.
- fp16: autocast to float16 with a GradScaler (also on the CPU, where torch supports it).
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but this machine has no CUDA device; use --device cpu (or auto)")
    return torch.device(name)


def resolve_amp(amp: str, device: torch.device) -> str:
    if amp == "auto":
        return "fp16" if device.type == "cuda" else "bf16"
    return amp


@dataclass
class Precision:
    device: torch.device
    mode: str  # off | bf16 | fp16
    scaler: torch.amp.GradScaler

    @classmethod
    def create(cls, device_name: str, amp: str) -> Precision:
        device = resolve_device(device_name)
        mode = resolve_amp(amp, device)
        scaler = torch.amp.GradScaler(device.type, enabled=mode == "fp16")
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return cls(device, mode, scaler)

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.mode)

    def autocast(self) -> AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        non_blocking = self.device.type == "cuda"
        return {k: v.to(self.device, non_blocking=non_blocking) for k, v in batch.items()}
