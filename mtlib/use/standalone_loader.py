"""A small loader for a folder written by `python -m mtlib export`: mtlib is not needed.

    import mtlib_loader                            # this file, copied into the export folder
    model = mtlib_loader.load("DIR")               # torch, transformers and safetensors only
    model.predict("sst", ["A gripping film."])     # [{"label": "3 pos.", "probability": 0.61, "probabilities": {...}}]
    model.predict("sts", [("A man plays.", "A person plays.")])   # [{"score": 3.9}]

It rebuilds what mtlib trained from the folder: the encoder (`AutoModel`), the PAL blocks when
the model has them (`pal.py` beside this file, Stickland & Murray 2019), the pooling, each pair
task's encoding (one sequence, or each sentence alone with the head on [u*v, |u-v|]) and each
task's head (`heads.safetensors`), with the settings of `mtlib_model.json`. mtlib copies this
file unchanged into every export, and its tests check that it answers as mtlib does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModel, AutoTokenizer


def _head(width: int, outputs: int, n_hidden_layers: int) -> nn.Sequential:
    """mtlib's head: n x (dropout, linear, GELU), dropout, linear (dropout is off at inference)."""
    layers: list[nn.Module] = []
    for _ in range(n_hidden_layers):
        layers += [nn.Dropout(0.0), nn.Linear(width, width), nn.GELU()]
    return nn.Sequential(*layers, nn.Dropout(0.0), nn.Linear(width, outputs))


def _module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


class ExportedModel(nn.Module):
    def __init__(self, folder: str | Path, device: str = "cpu"):
        super().__init__()
        folder = Path(folder)
        self.info = json.loads((folder / "mtlib_model.json").read_text(encoding="utf-8"))
        self.encoder = AutoModel.from_pretrained(str(folder))
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        hidden = self.encoder.config.hidden_size
        tasks = self.info["tasks"]
        self.heads = nn.ModuleDict(
            {
                t: _head(2 * hidden if t_info["bi_encoded"] else hidden, t_info["outputs"], self.info["n_hidden_layers"])
                for t, t_info in tasks.items()
            }
        )
        tensors = load_file(str(folder / "heads.safetensors"))
        self.heads.load_state_dict({k[len("heads.") :]: v for k, v in tensors.items() if k.startswith("heads.")})
        self.pal = None
        if self.info["use_pal"]:
            pal = _module(folder / "pal.py", "mtlib_export_pal")
            self.pal = pal.PALBank(self.encoder, list(tasks), self.info["pal_size"], self.info["pal_heads"])
            self.pal.load_state_dict({k[len("pal.") :]: v for k, v in tensors.items() if k.startswith("pal.")})
        self.to(device).eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _pooled(self, task: str, first: list[str], second: list[str] | None = None) -> torch.Tensor:
        batch = self.tokenizer(first, second, truncation=True, max_length=self.info["max_length"], padding=True, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        mask = batch["attention_mask"]
        context = self.pal.task(task, mask) if self.pal is not None else contextlib.nullcontext()
        with context:
            out = self.encoder(**batch)
        pooling = self.info["pooling"]
        if pooling == "pooler" and out.pooler_output is not None:
            return out.pooler_output
        if pooling == "cls":
            return out.last_hidden_state[:, 0]
        weights = mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
        return (out.last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1)

    @torch.inference_mode()
    def outputs(self, task: str, inputs: list[Any], batch_size: int = 64) -> torch.Tensor:
        """The head's raw outputs (logits, or the STS score before its 0..5 squash)."""
        t_info = self.info["tasks"][task]
        rows = [(x,) if isinstance(x, str) else tuple(x) for x in inputs]
        chunks = []
        for start in range(0, len(rows), batch_size):
            columns = [list(c) for c in zip(*rows[start : start + batch_size])]
            if t_info["bi_encoded"]:
                u, v = (F.normalize(self._pooled(task, c).float(), dim=-1) for c in columns)
                features = torch.cat([u * v, (u - v).abs()], dim=-1)
            else:
                features = self._pooled(task, *columns)
            chunks.append(self.heads[task](features).float().cpu())
        return torch.cat(chunks)

    def predict(self, task: str, inputs: list[Any], batch_size: int = 64) -> list[dict[str, Any]]:
        """One answer per input: label and probabilities (classification) or score (STS)."""
        t_info = self.info["tasks"][task]
        output = self.outputs(task, inputs, batch_size)
        if t_info["kind"] == "score":
            low, high = t_info["range"]
            return [{"score": float(s)} for s in low + (high - low) * torch.sigmoid(output.squeeze(-1))]
        if t_info["kind"] == "binary":
            p = torch.sigmoid(output.squeeze(-1))
            probs = torch.stack([1 - p, p], dim=-1)
        else:
            probs = output.softmax(-1)
        names = t_info["class_names"]
        return [
            {"label": names[int(row.argmax())], "probability": float(row.max()), "probabilities": dict(zip(names, map(float, row)))}
            for row in probs
        ]


def load(folder: str | Path = ".", device: str = "cpu") -> ExportedModel:
    return ExportedModel(folder, device)
