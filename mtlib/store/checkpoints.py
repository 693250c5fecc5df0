"""Checkpoints: safetensors for tensors, JSON for everything else, every write atomic.

Nothing here unpickles. A model checkpoint is `model.safetensors` (weights) beside
`model.json` (the `ModelSpec` to rebuild the architecture). A training state (for `--resume`)
is a folder of `trainer.safetensors` + `trainer.json`: nested state dicts (optimizer, LR
schedule, GradScaler, GradVac EMA, scheduler and data positions, RNG states) are split into
their tensors and a JSON skeleton that points at them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..util import paths
from ..util.errors import CheckpointError, as_os_error
from ..util.files import atomic_write_json, built_aside, file_mode, read_json

MODEL_WEIGHTS = "model.safetensors"
MODEL_SPEC = "model.json"


def atomic_save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        except SafetensorError as exc:  # a failed write (a full disk) is an OSError like any other
            failure = as_os_error(exc, path)
            if failure is None:
                raise
            raise failure from exc
        os.chmod(tmp, file_mode())  # safetensors writes 0600 whatever the umask
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(
            f"{path}: mtlib loads weights only from .safetensors files (never pickles); convert a reference-project "
            "checkpoint with `python -m mtlib convert FILE.pt OUT/` (it reads tensors and plain data only), "
            "another PyTorch .bin/.pt file with safetensors.torch.save_file on a machine you trust"
        )
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from None


# ---- nested state <-> (tensors, JSON) --------------------------------------------------------
def split_state(obj: Any, prefix: str = "s") -> tuple[Any, dict[str, torch.Tensor]]:
    """Replace every tensor in a nested structure by {"__tensor__": key}."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(x: Any, key: str) -> Any:
        if isinstance(x, torch.Tensor):
            tensors[key] = x
            return {"__tensor__": key}
        if isinstance(x, dict):
            if not all(isinstance(k, (str, int)) for k in x):
                raise TypeError(f"state key types at {key} cannot be stored")
            return {"__dict__": [[k, walk(v, f"{key}.{k}")] for k, v in x.items()]}
        if isinstance(x, (list, tuple)):
            return {"__list__" if isinstance(x, list) else "__tuple__": [walk(v, f"{key}.{i}") for i, v in enumerate(x)]}
        if isinstance(x, (np.integer, np.floating)):
            return x.item()
        if x is None or isinstance(x, (str, int, float, bool)):
            return x
        raise TypeError(f"cannot store {type(x).__name__} at {key}")

    return walk(obj, prefix), tensors


def join_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            if "__tensor__" in x:
                return tensors[x["__tensor__"]]
            if "__dict__" in x:
                return {k: walk(v) for k, v in x["__dict__"]}
            if "__list__" in x:
                return [walk(v) for v in x["__list__"]]
            if "__tuple__" in x:
                return tuple(walk(v) for v in x["__tuple__"])
        return x

    return walk(skeleton)


def save_state(folder: str | Path, state: dict[str, Any]) -> None:
    """Write a training state folder so that a kill at any moment leaves a whole one.

    The new state goes to `<folder>.new/`; then the old folder is moved aside, the new one
    moved in, and the old one deleted. `load_state` falls back to `<folder>.old/` if a kill
    landed between the two renames.
    """
    folder = Path(folder)
    new, old = folder.with_name(folder.name + ".new"), folder.with_name(folder.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    skeleton, tensors = split_state(state)
    try:
        atomic_save_tensors(new / "trainer.safetensors", tensors)
        atomic_write_json(new / "trainer.json", skeleton)  # written last: marks the folder complete
    except BaseException:  # e.g. a full disk: free what the half-written state took; `folder` is untouched
        shutil.rmtree(new, ignore_errors=True)
        raise
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(new, folder)
    shutil.rmtree(old, ignore_errors=True)


def load_state(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / "trainer.json").is_file():
            tensors = load_tensors(candidate / "trainer.safetensors")
            return join_state(read_json(candidate / "trainer.json"), tensors)
    raise CheckpointError(f"no training state in {folder}; was the run started with this mtlib and did it reach its first save?")


def state_exists(folder: str | Path) -> bool:
    folder = Path(folder)
    return any((c / "trainer.json").is_file() for c in (folder, folder.with_name(folder.name + ".old")))


# ---- model checkpoints -----------------------------------------------------------------------
def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder or a weights file -> the `.safetensors` weights file."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_WEIGHTS
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; pass a run folder or its {MODEL_WEIGHTS}")
    if path.suffix != ".safetensors":
        load_tensors(path)  # raises the explanation: never unpickled
    return path


def save_model(folder: str | Path, model: Any, tokenizer: Any = None, stem: str = "model") -> Path:
    folder = Path(folder)
    weights = folder / f"{stem}.safetensors"
    atomic_save_tensors(weights, model.state_dict(), metadata={"format": "pt", "mtlib": "model"})
    atomic_write_json(folder / f"{stem}.json", portable_spec(model.spec.to_dict(), folder))
    if tokenizer is not None:  # the tokenizer belongs to this checkpoint: written each time, never a stale one kept
        save_tokenizer(folder / "tokenizer", tokenizer, model.spec.encoder_name)
    return weights


def portable_spec(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """model.json names no place of this machine: transformers' `_name_or_path` (where the encoder
    was loaded from, in the virtual environment for the packaged one) becomes the encoder's name
    as mtlib knows it (`minilm-l6`), or, for a folder given as the encoder, its path as the run
    records paths (`mtlib.util.paths.recorded_argument`). Loading never reads it."""
    config = dict(spec.get("encoder_config") or {})
    where = config.get("_name_or_path")
    if isinstance(where, str) and os.path.isabs(where):
        name = spec.get("encoder_name") or ""
        config["_name_or_path"] = paths.recorded_argument(name if name and not os.path.isabs(name) else where, folder)
    return {**spec, "encoder_config": config}


TOKENIZER_SOURCE = "mtlib-encoder.json"  # inside tokenizer/: the encoder the tokenizer came with


def save_tokenizer(target: Path, tokenizer: Any, encoder_name: str) -> None:
    """Replace `target` with `tokenizer` (written aside, then swapped in by renames). A full disk
    is the OSError it is (tokenizers raises it as a bare Exception's text), the old folder kept."""
    with built_aside(target) as tmp:
        tokenizer.save_pretrained(str(tmp))
        atomic_write_json(tmp / TOKENIZER_SOURCE, {"encoder": encoder_name})


def check_tokenizer(folder: Path, encoder_name: str) -> None:
    """A checkpoint's tokenizer must come from the encoder its model.json names."""
    source = folder / TOKENIZER_SOURCE
    if source.is_file():
        recorded = read_json(source).get("encoder")
        if recorded != encoder_name:
            raise CheckpointError(
                f"{folder} is the tokenizer of encoder {recorded!r}, but the weights beside it were trained from {encoder_name!r}; "
                "the run folder is inconsistent: train it again with --overwrite"
            )


def remove_orphans(folder: Path) -> list[Path]:
    """Temporary files and folders that a kill left inside `folder` (the atomic writes' `.*.tmp`,
    `.tokenizer.*`); removed at the start of the next run in it."""
    found = [p for p in folder.glob(".*") if p.name.endswith(".tmp") or p.name.startswith((".tokenizer.", ".model."))]
    for sub in ("predictions", "figures"):
        if (folder / sub).is_dir():
            found += [p for p in (folder / sub).glob(".*.tmp")]
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return found


def read_model_spec(weights: Path) -> dict[str, Any]:
    path = weights.with_suffix(".json")
    spec = read_json(path)
    if not isinstance(spec, dict) or not isinstance(spec.get("encoder_name"), str) or not isinstance(spec.get("encoder_config"), dict):
        raise CheckpointError(
            f"{path}: not an mtlib model description (it needs encoder_name and encoder_config); the run folder is damaged"
        )
    return spec


def all_finite(tensor: torch.Tensor) -> bool:
    """No NaN or infinity in `tensor`. A NaN or an infinity makes the sum NaN or infinite, so the
    sum answers for almost every tensor in one pass without a temporary (a MiniLM checkpoint:
    0.15 against 1.6 CPU-s for `isfinite(...).all()` here); only a sum that overflowed is looked
    at element by element."""
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def load_weights_into(model: Any, weights: Path, assign: bool = False) -> list[str]:
    """Load a checkpoint's weights into `model`; returns the names the checkpoint did not have
    (fresh PAL blocks or new heads). Shape mismatches are errors that say which part differs,
    and a weight that is not finite (NaN, inf) names the file and the weight: nothing computed
    from it would mean anything. `assign`: the loaded tensors become the parameters (no copy), as
    a model built on the meta device needs."""
    state = load_tensors(weights)
    not_finite = next((k for k, v in state.items() if v.is_floating_point() and not all_finite(v)), None)
    if not_finite:
        raise CheckpointError(
            f"{weights}: weight {not_finite} holds NaN or infinite values, so the checkpoint is damaged; "
            "train the run again, or load another checkpoint"
        )
    own = model.state_dict()
    problems = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in state.items() if k in own and own[k].shape != v.shape
    ]
    if problems:
        raise CheckpointError(
            f"{weights} does not fit this model (different encoder size or --n_hidden_layers?):\n  " + "\n  ".join(problems[:5])
        )
    unexpected = [k for k in state if k not in own]
    if unexpected:
        hint = "it has PAL blocks: add --use_pal" if any(k.startswith("pal.") for k in unexpected) else "extra heads or layers"
        raise CheckpointError(f"{weights} has weights this model lacks ({hint}): {unexpected[:3]}")
    missing = [k for k in own if k not in state]
    bad_missing = [k for k in missing if k.startswith("encoder.")]
    if bad_missing:
        raise CheckpointError(f"{weights} lacks encoder weights {bad_missing[:3]}: it was saved from another encoder")
    model.load_state_dict(state, strict=False, assign=assign)
    return missing
