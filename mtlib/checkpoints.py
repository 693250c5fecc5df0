"""Checkpoints: safetensors for tensors, JSON for everything else, every write atomic.

Nothing here unpickles. A model checkpoint is `model.safetensors` (weights) beside
`model.json` (the `ModelSpec` to rebuild the architecture). A training state (for `--resume`)
is a folder of `trainer.safetensors` + `trainer.json`: nested state dicts (optimizer, LR
schedule, GradScaler, GradVac EMA, scheduler and data positions, RNG states) are split into
their tensors and a JSON skeleton that points at them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import CheckpointError

MODEL_WEIGHTS = "model.safetensors"
MODEL_SPEC = "model.json"


# ---- atomic writes ---------------------------------------------------------------------------
def current_umask() -> int:
    """The process's umask (Linux: read from /proc, which changes nothing; elsewhere set and reset)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open()` gives a new file: 0644 under umask 022, 0600 under 077. `tempfile`
    makes its files 0600 and folders 0700 whatever the umask; what it made is set to this (and
    `folder_mode`) before it is renamed into place, as torch.save and Hugging Face files are."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """The mode `mkdir` gives a new folder: 0755 under umask 022, 0700 under 077."""
    return 0o777 & ~current_umask()


def make_temp_folder(target: Path) -> Path:
    """A new empty folder beside `target` (`.<name>.<random>.tmp`), with the umask's mode, to be
    filled and then moved into place by `replace_folder`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    os.chmod(tmp, folder_mode())
    return tmp


def replace_folder(new: Path, target: Path) -> None:
    """Move the complete folder `new` (from `make_temp_folder`) into `target`'s place. An old
    `target` is first renamed aside (`.<name>.old`) and deleted only once the new one is in
    place, so a kill at any moment leaves the old folder, no folder (the old one beside it, as
    `.<name>.old`), or the new one: never a part of either. What `new` holds gets the umask's
    modes first (safetensors, hence `save_pretrained`, writes its files 0600)."""
    files, folders = file_mode(), folder_mode()
    for parent, _subfolders, names in os.walk(new):
        os.chmod(parent, folders)
        for name in names:
            if not os.path.islink(os.path.join(parent, name)):
                os.chmod(os.path.join(parent, name), files)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def atomic_save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        except SafetensorError as exc:  # a failed write (a full disk) is an OSError like any other
            code = re.search(r"code: (\d+)|os error (\d+)", str(exc))
            if code is None:
                raise
            errno_ = int(code.group(1) or code.group(2))
            raise OSError(errno_, os.strerror(errno_), str(path)) from exc
        os.chmod(tmp, file_mode())  # safetensors writes 0600 whatever the umask
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not UTF-8 text; the run folder is damaged") from None


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(
            f"{path}: mtlib loads weights only from .safetensors files (never pickles); convert a reference-project "
            "checkpoint with `python -m mtlib.convert FILE.pt OUT/` (it reads tensors and plain data only), "
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
    atomic_write_json(folder / f"{stem}.json", model.spec.to_dict())
    if tokenizer is not None:  # the tokenizer belongs to this checkpoint: written each time, never a stale one kept
        save_tokenizer(folder / "tokenizer", tokenizer, model.spec.encoder_name)
    return weights


TOKENIZER_SOURCE = "mtlib-encoder.json"  # inside tokenizer/: the encoder the tokenizer came with


def save_tokenizer(target: Path, tokenizer: Any, encoder_name: str) -> None:
    """Replace `target` with `tokenizer` (written aside, then swapped in by renames)."""
    tmp = make_temp_folder(target)
    tokenizer.save_pretrained(str(tmp))
    atomic_write_json(tmp / TOKENIZER_SOURCE, {"encoder": encoder_name})
    replace_folder(tmp, target)


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


def load_weights_into(model: Any, weights: Path) -> list[str]:
    """Load a checkpoint's weights into `model`; returns the names the checkpoint did not have
    (fresh PAL blocks or new heads). Shape mismatches are errors that say which part differs."""
    state = load_tensors(weights)
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
    model.load_state_dict(state, strict=False)
    return missing
