"""Shared pieces of the performance harness (never imported by mtlib or its tests' timing).

- `measure_peaks`: this machine's fp32 and bf16 matmul peak, from timed large `torch.matmul`s;
- `train_flops` / `forward_flops`: the FLOP formula used for model FLOP utilisation (MFU);
- `BenchTrainer`: mtlib's own `Trainer` with the end-of-epoch dev scoring and state saving
  switched off, so that `fit()` times only the optimizer updates;
- `CountingStream`: mtlib's `TaskStream` that also records what each batch holds (examples,
  real tokens, padded width), for sentences/s, tokens/s and the FLOP count;
- `spawn_worker`: run one contender in a fresh Python process and read back its JSON line,
  so that each contender's peak RSS is its own.

The FLOP formula (Kaplan et al. 2020, "Scaling laws", Table 1, applied per sequence):

    forward  = 2 * N * L + 4 * n_layers * L^2 * d          per sequence of L tokens
    training = 3 * forward = 6 * N * L + 12 * n_layers * L^2 * d

N is the encoder's non-embedding parameter count (the weights and biases of the transformer
layers: Q, K, V, O, the two FFN matrices, their LayerNorms); the embedding lookups, the pooler
and the task heads (per sequence, not per token) are left out. The L^2 term is QK^T and A.V.
"Real" FLOPs use each sequence's own length (useful work: the MFU we report); "padded" FLOPs use
the batch's padded width (what the hardware actually computes).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # scripts run as `python benchmarks/x.py` from anywhere
    sys.path.insert(0, str(ROOT))

from mtlib.data.batching import TaskStream  # noqa: E402
from mtlib.train import Trainer  # noqa: E402
from mtlib.train.events import FitStarted, UpdateDone  # noqa: E402

RESULT_PREFIX = "BENCH_RESULT "


# ---- machine ---------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    from mtlib.store.run_folder import cpu_model

    model = cpu_model()  # with family and model numbers where the name has none ("AMD EPYC (family 25, model 1)")
    try:
        flags = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), "")
        isa = sorted({f for f in flags.split() if f.startswith(("avx512", "amx")) or f in ("avx2", "fma")})
    except OSError:
        isa = []
    return {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "isa": isa,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "mkldnn_bf16": bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)()),
        "loadavg": load_average(),
        "python": platform.python_version(),
    }


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def set_threads(threads: int) -> None:
    if threads:
        torch.set_num_threads(threads)


# ---- matmul peak -----------------------------------------------------------------------------
def _best_seconds(fn: Any, min_seconds: float, max_reps: int = 20) -> float:
    """Best time of repeated calls: at least two calls and `min_seconds` in all, except that a
    first call slower than `min_seconds` (a pathologically slow kernel) is taken as it is."""
    times: list[float] = []
    while len(times) < max_reps:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if (len(times) == 1 and times[0] > min_seconds) or (len(times) >= 3 and sum(times[1:]) >= min_seconds):
            break
    return min(times[1:] or times)


def matmul_peak(dtype: torch.dtype, size: int = 1024, min_seconds: float = 1.0) -> dict[str, Any]:
    """Best GFLOP/s of an n x n x n `torch.matmul` over the three operand layouts a@b, a@b.T and
    a.T@b (a CPU without native bf16 runs some layouts far slower than others; the backward pass
    of a linear layer uses all three). Best-of-reps, so background load lowers it least."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(dtype)
    b = torch.randn(size, size, generator=gen).to(dtype)
    flops = 2.0 * size**3
    layouts = {"a@b": lambda: torch.matmul(a, b), "a@b.T": lambda: torch.matmul(a, b.T), "a.T@b": lambda: torch.matmul(a.T, b)}
    out = {name: flops / _best_seconds(fn, min_seconds / 3) / 1e9 for name, fn in layouts.items()}
    return {"gflops": max(out.values()), "by_layout": {k: round(v, 2) for k, v in out.items()}, "size": size}


def measure_peaks(size: int = 1024, min_seconds: float = 2.0) -> dict[str, Any]:
    """fp32 and bf16 matmul peaks of this machine, measured now (GFLOP/s)."""
    fp32_size = size * 2 if size >= 512 else size  # fp32 reaches its peak only on larger products
    return {"fp32": matmul_peak(torch.float32, fp32_size, min_seconds), "bf16": matmul_peak(torch.bfloat16, size, min_seconds)}


def merge_peaks(*measured: dict[str, Any]) -> dict[str, Any]:
    """The best of several peak measurements (e.g. at the start and at the end of a run), each
    dtype separately; the individual measurements are kept under "measurements"."""
    out: dict[str, Any] = {}
    for dtype in ("fp32", "bf16"):
        out[dtype] = dict(max((m[dtype] for m in measured), key=lambda x: x["gflops"]))
    out["measurements"] = [{d: round(m[d]["gflops"], 2) for d in ("fp32", "bf16")} for m in measured]
    return out


# ---- FLOPs -----------------------------------------------------------------------------------
def flop_shape(encoder: torch.nn.Module) -> dict[str, int]:
    """N (non-embedding parameters of the transformer layers), layers and hidden size."""
    layers = encoder.encoder.layer
    return {
        "non_embedding_params": int(sum(p.numel() for p in layers.parameters())),
        "n_layers": len(layers),
        "hidden": int(encoder.config.hidden_size),
    }


def forward_flops(shape: dict[str, int], sum_len: float, sum_len_sq: float) -> float:
    """Forward FLOPs of a set of sequences given Σ L and Σ L² over them."""
    return 2.0 * shape["non_embedding_params"] * sum_len + 4.0 * shape["n_layers"] * shape["hidden"] * sum_len_sq


def train_flops(shape: dict[str, int], sum_len: float, sum_len_sq: float) -> float:
    return 3.0 * forward_flops(shape, sum_len, sum_len_sq)


class BatchLog:
    """What each training batch held: examples, Σ L, Σ L² (real), and the padded width."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, int]] = []

    def add(self, lengths: np.ndarray) -> None:
        lengths = np.asarray(lengths, dtype=np.int64)
        self.rows.append((len(lengths), int(lengths.sum()), int((lengths**2).sum()), int(lengths.max())))

    def totals(self, first: int = 0, last: int | None = None) -> dict[str, float]:
        rows = self.rows[first:last]
        n = sum(r[0] for r in rows)
        real = sum(r[1] for r in rows)
        padded = sum(r[0] * r[3] for r in rows)
        return {
            "examples": n,
            "real_tokens": real,
            "padded_tokens": padded,
            "sum_len_sq": sum(r[2] for r in rows),
            "padded_sum_len_sq": sum(r[0] * r[3] ** 2 for r in rows),
            "padding_efficiency": real / padded if padded else float("nan"),
        }


def flop_report(
    shape: dict[str, int], totals: dict[str, float], seconds: float, peaks: dict[str, Any] | None, kind: str = "train"
) -> dict[str, Any]:
    fn = train_flops if kind == "train" else forward_flops
    real = fn(shape, totals["real_tokens"], totals["sum_len_sq"])
    padded = fn(shape, totals["padded_tokens"], totals["padded_sum_len_sq"])
    out: dict[str, Any] = {
        "gflop_per_s_real": real / seconds / 1e9,
        "gflop_per_s_padded": padded / seconds / 1e9,
    }
    if peaks:
        for dtype in ("bf16", "fp32"):
            out[f"mfu_vs_{dtype}_peak"] = out["gflop_per_s_real"] / peaks[dtype]["gflops"]
            out[f"hfu_vs_{dtype}_peak"] = out["gflop_per_s_padded"] / peaks[dtype]["gflops"]
    return out


# ---- mtlib pieces with instrumentation ------------------------------------------------------
class CountingStream(TaskStream):
    """mtlib's TaskStream, also logging each batch it hands out into `log` (the Trainer builds
    these through its `stream_factory` hook)."""

    def __init__(self, log: BatchLog, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.log = log

    def next_index(self) -> np.ndarray:
        index = super().next_index()
        self.log.add(self.lengths[index])
        return index


class Clock:
    """Wall and process-CPU time stamps at the end of each update. Process CPU time (all threads)
    is less sensitive than wall time to other processes sharing the cores, so it is reported too."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.start_wall = self.start_cpu = 0.0

    def start(self) -> None:
        self.start_wall, self.start_cpu = time.perf_counter(), time.process_time()

    def stamp(self) -> None:
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def __len__(self) -> int:
        return len(self.wall)

    def summary(self, skip: int = 1) -> dict[str, Any]:
        """Seconds of all updates, and of updates skip+1..N ("steady": the first update carries
        one-off costs such as lazy allocations and the TensorBoard writer's start-up; a compiled
        model also compiles in its first updates, hence `skip`)."""
        total = self.wall[-1] - self.start_wall
        if len(self.wall) <= skip:
            return {"total": total, "steady": total, "steady_cpu": self.cpu[-1] - self.start_cpu, "step_seconds": [total]}
        steps = np.diff(self.wall[skip - 1 :]).tolist()
        steady = self.wall[-1] - self.wall[skip - 1]
        return {"total": total, "steady": steady, "steady_cpu": self.cpu[-1] - self.cpu[skip - 1], "step_seconds": steps}


class BenchTrainer(Trainer):
    """mtlib's Trainer, timing only the updates: no dev scoring, no checkpoint, no state file at
    the end of the epoch (`score_and_save=False`; the equivalents are switched off for
    transformers.Trainer too), and each batch recorded in `batch_log` (`stream_factory`).
    Everything each update does (batching, collation, forward/backward, projection, optimizer,
    LR schedule, metrics.jsonl + TensorBoard logging) is mtlib's own code."""

    def __init__(self, *args: Any, **kw: Any):
        self.batch_log = BatchLog()
        super().__init__(*args, stream_factory=partial(CountingStream, self.batch_log), score_and_save=False, **kw)
        self.clock = Clock()
        self.register_callback(FitStarted, lambda e: self.clock.start())
        self.register_callback(UpdateDone, lambda e: self.clock.stamp())


# ---- subprocess workers ----------------------------------------------------------------------
def emit(result: dict[str, Any]) -> None:
    print(RESULT_PREFIX + json.dumps(result, default=_json_default), flush=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)


def spawn_worker(script: Path, args: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run `python script args` in a fresh process; return the dict it emitted."""
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=os.getcwd())
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stdout + "\n" + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"worker {script.name} {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return path


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")
