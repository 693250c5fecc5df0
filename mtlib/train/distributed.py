"""torch.distributed helpers; every function is a no-op in a single process.

Route (see `mtlib.train`): every rank draws the same task schedule and the same global batch
indices from the shared seed; `shard` gives each rank its slice of each batch, so a task's data
is split across ranks and reshuffled each pass exactly as in one process. Gradients are summed
across ranks by hand (`all_reduce_grads`, and `all_reduce_sum` on the per-task gradient matrix
*before* a projection), and each micro-batch loss is weighted by its share of the *global*
batch, so the summed gradient equals the single-process one and every rank applies the same
update.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as tdist


def is_distributed() -> bool:
    return tdist.is_available() and tdist.is_initialized()


def rank() -> int:
    return tdist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return tdist.get_world_size() if is_distributed() else 1


def init_from_env(device_type: str) -> bool:
    """Join the process group that torchrun describes (WORLD_SIZE/RANK/MASTER_ADDR...)."""
    if is_distributed() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return is_distributed()
    backend = "nccl" if device_type == "cuda" else "gloo"
    tdist.init_process_group(backend=backend)
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


def shard(index: np.ndarray) -> np.ndarray:
    if not is_distributed():
        return index
    return index[rank() :: world_size()]


def all_reduce_sum(tensor: torch.Tensor) -> None:
    if is_distributed():
        tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)


def all_reduce_grads(params: list[torch.nn.Parameter]) -> None:
    """Sum the gradients of `params` across ranks in one flattened all-reduce."""
    if not is_distributed():
        return
    for p in params:  # a rank whose shard was empty still joins with zeros
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    tdist.all_reduce(flat, op=tdist.ReduceOp.SUM)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def barrier() -> None:
    if is_distributed():
        tdist.barrier()


def broadcast_object(value: object) -> object:
    """Rank 0's value on every rank."""
    if not is_distributed():
        return value
    box = [value]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def gather_rows(array: np.ndarray) -> np.ndarray:
    """Sum an array across ranks (each rank fills its own rows, zeros elsewhere)."""
    if not is_distributed():
        return array
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
    tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
    return tensor.numpy()


def any_true(flag: bool) -> bool:
    """True on every rank when `flag` is true on any rank (a single process: `flag`)."""
    if not is_distributed():
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0])
    tdist.all_reduce(tensor, op=tdist.ReduceOp.MAX)
    return bool(tensor.item())
