"""The kinds of CPU this project runs on, and what `--amp auto` and `--compile auto` pick on each.

Three kinds, told apart by their ISA flags (Linux's /proc/cpuinfo; torch's own capability
string where there is no such file):
- `AVX2`: no native bf16 (oneDNN emulates it: a bf16 matmul runs 6 to 60 times slower than fp32);
- `AVX512-BF16`: AVX512 with the `avx512_bf16` dot products (e.g. AMD EPYC Zen 4);
- `AMX-BF16`: Intel's tile matrix units (`amx_bf16`; Sapphire Rapids and later), bf16 matmuls
  about 4x fp32's peak.
An AVX512 CPU without bf16 is its own kind, `AVX512`, and is treated as AVX2 for precision.

`AUTO` holds the choice per kind and the benchmark record it follows (benchmarks/results/;
tests/test_cpu_kind.py checks each record-backed choice against its record: the fastest mode
whose dev score is within `DEV_TOLERANCE` of the best). A kind without a record keeps the
earlier rule (bf16 wherever the CPU computes it natively, compile off) and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

KINDS = ("AVX2", "AVX512", "AVX512-BF16", "AMX-BF16")
DEV_TOLERANCE = 0.005  # a faster mode is chosen only if its dev score is no worse than this


@dataclass(frozen=True)
class AutoChoice:
    amp: str  # off | bf16
    compile: str  # off | default | max-autotune
    record: str  # benchmarks/results/<file> this choice follows, or "" (no record of this kind yet)
    why: str


AUTO: dict[str, AutoChoice] = {
    "AVX2": AutoChoice(
        "off",
        "off",
        "benchmarks/results/train_compile_avx2_fp32.json",
        "bf16 is emulated (19x slower than fp32: benchmarks/README.md); inductor trained 30% slower than eager "
        "(steady rate; prediction 14-25% slower: predict_avx2_fp32_compiled.json)",
    ),
    "AVX512": AutoChoice("off", "off", "", "no native bf16; no record of this kind yet (AVX2's rule)"),
    "AVX512-BF16": AutoChoice(
        "bf16", "off", "", "native bf16 dot products; no benchmark record of this kind yet (the workbook runs of results/ used bf16)"
    ),
    "AMX-BF16": AutoChoice("bf16", "off", "", "bf16 tiles at about 4x fp32's peak; no benchmark record of this kind yet"),
}


def kind_from_flags(flags: set[str]) -> str:
    if "amx_bf16" in flags:
        return "AMX-BF16"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    if "avx512f" in flags:
        return "AVX512"
    return "AVX2"


@lru_cache(maxsize=1)
def cpu_kind() -> str:
    """This machine's kind (`KINDS`), from its ISA flags."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        line = next(ln for ln in text.splitlines() if ln.startswith("flags"))
        return kind_from_flags(set(line.split(":", 1)[1].split()))
    except (OSError, StopIteration):
        capability = torch.backends.cpu.get_cpu_capability()
        bf16 = bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
        if capability.startswith("AVX512"):
            return "AVX512-BF16" if bf16 else "AVX512"
        return "AVX2"


def auto_choice(kind: str | None = None) -> AutoChoice:
    return AUTO[kind or cpu_kind()]
