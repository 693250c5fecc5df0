"""`python -m mtlib convert FILE.pt OUT/`: a reference-project checkpoint as an mtlib run folder.

The reference project (a fork of the CS224N default final project, "minbert") saves
`torch.save({"model": state_dict, "optim": ..., "args": Namespace, "model_config": ..., RNG states})`.
mtlib never unpickles: `torch.load(weights_only=True)` builds tensors and plain containers only,
plus exactly the plain-data types `save_model` writes (`argparse.Namespace`, `types.SimpleNamespace`,
the numpy array of its RNG state); anything else is refused, not run. A NaN weight is refused too.

Parameter names, as minbert's `bert.py` / `multitask_classifier.py` define them, mapped onto
transformers' `BertModel` (the `encoder.` of `MultitaskBert`) and mtlib's heads:

    bert.word_embedding / pos_embedding / tk_type_embedding   embeddings.{word,position,token_type}_embeddings
    bert.embed_layer_norm                                     embeddings.LayerNorm
    bert.bert_layers.N.self_attention.{query,key,value}       encoder.layer.N.attention.self.{query,key,value}
    bert.bert_layers.N.attention_dense / attention_layer_norm encoder.layer.N.attention.output.{dense,LayerNorm}
    bert.bert_layers.N.interm_dense                           encoder.layer.N.intermediate.dense
    bert.bert_layers.N.out_dense / out_layer_norm             encoder.layer.N.output.{dense,LayerNorm}
    bert.pooler_dense                                         pooler.dense
    linear_{sentiment,paraphrase,similarity}[.J]              heads.{sst,para,sts}.(3J + 1)

The heads are the reference's `n_hidden_layers` x (dropout, linear, ReLU) + (dropout, linear) on
the pooler output of one `s1 [SEP] s2` sequence: `--pooling pooler --head_activation relu`. PAL
blocks, LSTM heads and the baseline's concatenated pair heads have no counterpart here and are
refused, named. docs/reference-differences.md says how a converted model still reads inputs
differently (token types, the pair layout, the STS output).
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ..config.config import Config
from ..config.tasks import TASKS
from ..store.checkpoints import MODEL_WEIGHTS, save_model
from ..util.errors import CheckpointError, run_command
from ..util.files import atomic_write_text, built_aside, check_output_folder

# what the reference's save_model writes besides tensors: plain data, nothing that runs on load
_reconstruct = (getattr(np, "_core", None) or np.core).multiarray._reconstruct
_PLAIN_DATA = [
    argparse.Namespace,
    types.SimpleNamespace,
    np.ndarray,
    np.dtype,
    np.dtypes.UInt32DType,
    _reconstruct,
    (_reconstruct, "numpy.core.multiarray._reconstruct"),  # the name in files written with numpy 1.x
]

_ENCODER = [
    (r"bert\.word_embedding\.", "embeddings.word_embeddings."),
    (r"bert\.pos_embedding\.", "embeddings.position_embeddings."),
    (r"bert\.tk_type_embedding\.", "embeddings.token_type_embeddings."),
    (r"bert\.embed_layer_norm\.", "embeddings.LayerNorm."),
    (r"bert\.bert_layers\.(\d+)\.self_attention\.(query|key|value)\.", r"encoder.layer.\1.attention.self.\2."),
    (r"bert\.bert_layers\.(\d+)\.attention_dense\.", r"encoder.layer.\1.attention.output.dense."),
    (r"bert\.bert_layers\.(\d+)\.attention_layer_norm\.", r"encoder.layer.\1.attention.output.LayerNorm."),
    (r"bert\.bert_layers\.(\d+)\.interm_dense\.", r"encoder.layer.\1.intermediate.dense."),
    (r"bert\.bert_layers\.(\d+)\.out_dense\.", r"encoder.layer.\1.output.dense."),
    (r"bert\.bert_layers\.(\d+)\.out_layer_norm\.", r"encoder.layer.\1.output.LayerNorm."),
    (r"bert\.pooler_dense\.", "pooler.dense."),
]
_HEADS = {spec.reference_head: t for t, spec in TASKS.items() if spec.reference_head}
_OUTPUTS = {t: TASKS[t].num_outputs for t in _HEADS.values()}
_IGNORED = ("bert.position_ids",)  # a constant buffer (0..511), rebuilt by BertModel
MARKER = ".mtlib-convert"  # in every folder convert writes (last): --overwrite replaces only such a folder


def load_reference_checkpoint(path: str | Path) -> dict[str, Any]:
    """The saved dict, read by weights_only's unpickler (see the module docstring)."""
    if not (path := Path(path)).is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        with torch.serialization.safe_globals(_PLAIN_DATA):
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, or a damaged / foreign file
        first = str(exc).strip().splitlines()
        hint = next((line.strip() for line in first if "GLOBAL" in line or "Unsupported" in line), first[-1] if first else "")
        hint = hint.split(" Please use")[0]  # torch goes on to say how to allow it; we do not
        raise CheckpointError(
            f"{path}: refused by torch.load(weights_only=True), which builds tensors and plain data only "
            f"and runs no code from the file ({type(exc).__name__}: {hint})"
        ) from None
    if isinstance(saved, dict) and isinstance(saved.get("model"), dict):
        bad = [f"{k!r} ({type(v).__name__})" for k, v in saved["model"].items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
        if bad:
            raise CheckpointError(f"{path}: the 'model' state dict holds entries that are not named tensors: {', '.join(bad[:4])}")
        return saved
    if isinstance(saved, dict) and all(isinstance(v, torch.Tensor) for v in saved.values()):
        return {"model": saved}  # a bare state dict
    raise CheckpointError(f"{path}: expected the reference's dict with a 'model' state dict, got {type(saved).__name__}")


def map_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(mtlib state dict, what the shapes say: tasks, n_hidden_layers, encoder config values)."""
    out: dict[str, torch.Tensor] = {}
    heads: dict[str, dict[int, dict[str, torch.Tensor]]] = {}
    unknown = []
    for key, value in state.items():
        if key in _IGNORED:
            continue
        for pattern, target in _ENCODER:
            if re.match(pattern, key):
                out["encoder." + re.sub(pattern, target, key, count=1)] = value
                break
        else:
            match = re.fullmatch(r"(linear_\w+?)(?:\.(\d+))?\.(weight|bias)", key)
            if match and match[1] in _HEADS:
                heads.setdefault(_HEADS[match[1]], {}).setdefault(int(match[2] or 0), {})[match[3]] = value
            else:
                unknown.append(key)
    if unknown:
        pal = [k for k in unknown if ".task_attention." in k or "project_" in k]
        why = (
            "PAL blocks: the reference adds them inside each layer, to the self-attention output before its dense layer "
            "and layer norm, with its own attention weights (12 heads in a 132-wide space); mtlib's run beside each "
            "layer, after it, so their weights do not carry over"
            if pal
            else "no counterpart in mtlib's model (LSTM heads or other additions of later reference versions)"
        )
        raise CheckpointError(f"{len(unknown)} weights cannot be mapped ({why}): {', '.join(unknown[:6])}")
    if "encoder.embeddings.word_embeddings.weight" not in out:
        raise CheckpointError("no BERT weights found (expected bert.word_embedding.weight, bert.bert_layers.N...)")
    for key in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        found = out.get(f"encoder.embeddings.{key}.weight")
        if found is None or found.dim() != 2:
            shown = "missing" if found is None else f"of shape {tuple(found.shape)}"
            raise CheckpointError(f"the {key} table is {shown}; BERT's is a 2-D (rows, hidden size) weight")
    if not any(re.match(r"encoder\.encoder\.layer\.\d+\.", k) for k in out):
        raise CheckpointError("no transformer layers found (expected bert.bert_layers.0. ...)")
    if "encoder.encoder.layer.0.intermediate.dense.weight" not in out:
        raise CheckpointError("layer 0 has no interm_dense.weight (bert.bert_layers.0.interm_dense.weight)")
    hidden = out["encoder.embeddings.word_embeddings.weight"].shape[1]
    depth = {len(layers) - 1 for layers in heads.values()}
    if len(depth) > 1:
        raise CheckpointError(f"the task heads have different depths {sorted(depth)}; mtlib's share one --n_hidden_layers")
    for task, layers in heads.items():
        for j in range(len(layers)):
            lacking = [p for p in ("weight", "bias") if p not in layers.get(j, {})]
            if lacking:
                raise CheckpointError(f"head {task} layer {j} has no {' or '.join(lacking)}: the head is incomplete")
        for j, params in sorted(layers.items()):
            width = _OUTPUTS[task] if j == len(layers) - 1 else hidden
            if tuple(params["weight"].shape) != (width, hidden):
                raise CheckpointError(
                    f"head {task} layer {j} has shape {tuple(params['weight'].shape)}, expected {(width, hidden)}: "
                    "a head on two concatenated sentence embeddings (the CS224N baseline's) or of another width has no mtlib counterpart"
                )
            for name, value in params.items():
                out[f"heads.{task}.{3 * j + 1}.{name}"] = value
    layers = 1 + max(int(m[1]) for k in out if (m := re.match(r"encoder\.encoder\.layer\.(\d+)\.", k)))
    shapes = {
        "vocab_size": out["encoder.embeddings.word_embeddings.weight"].shape[0],
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "intermediate_size": out["encoder.encoder.layer.0.intermediate.dense.weight"].shape[0],
        "max_position_embeddings": out["encoder.embeddings.position_embeddings.weight"].shape[0],
        "type_vocab_size": out["encoder.embeddings.token_type_embeddings.weight"].shape[0],
    }
    tasks = [t for t in _OUTPUTS if t in heads]
    return out, {"tasks": tasks, "n_hidden_layers": depth.pop() if depth else 0, "encoder": shapes}


def heads_per_layer(hidden: int, asked: int) -> int:
    """Heads per layer: `asked`, else BERT's 64-wide heads; they must divide the hidden size."""
    heads = asked or hidden // 64
    if asked < 0 or heads < 1 or hidden % heads:
        default = "" if asked else f"; BERT's 64-wide heads do not fit {hidden}"
        raise CheckpointError(
            f"the hidden size {hidden} cannot be split into {heads or asked} attention heads{default}: "
            f"pass --num_attention_heads N with N dividing {hidden} (the reference model's own setting)"
        )
    return heads


def check_fits(state: dict[str, torch.Tensor], skeleton: dict[str, torch.Tensor], source: Path) -> None:
    """Every mapped weight has the shape the config gives it, and nothing is missing or extra."""
    wrong = [
        f"{k}: {tuple(v.shape)}, expected {tuple(skeleton[k].shape)}"
        for k, v in state.items()
        if k in skeleton and v.shape != skeleton[k].shape
    ]
    missing = [k for k in skeleton if k not in state]
    unexpected = [k for k in state if k not in skeleton]
    not_finite = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if not_finite:  # a model built from it would predict nothing meaningful, and say so nowhere
        raise CheckpointError(
            f"{source}: weight {not_finite[0]} holds NaN or infinite values, so the checkpoint is damaged; nothing converted"
        )
    if wrong or missing or unexpected:
        parts = [
            f"shapes differ ({'; '.join(wrong[:3])})" if wrong else "",
            f"missing {missing[:4]}" if missing else "",
            f"unexpected {unexpected[:4]}" if unexpected else "",
        ]
        raise CheckpointError(f"{source}: the weights do not fit one BERT config: " + ", ".join(p for p in parts if p))


def convert(
    source: str | Path, out: str | Path, tokenizer: str = "bert-base-uncased", attention_heads: int = 0, overwrite: bool = False
) -> Path:
    """Write `out/` (model.safetensors, model.json, config.yaml, tokenizer/, `MARKER`) from the
    reference's `source` .pt file; returns the weights path. `out` must be new, empty, or with
    `overwrite` an earlier output of convert (never a run folder, nor the folder of `source`)."""
    from transformers import BertConfig

    from ..model.encoders import encoder_from_config, load_tokenizer
    from ..model.multitask_bert import ModelSpec, MultitaskBert

    source, out = Path(source), Path(out)
    check_output_folder(out, MARKER, overwrite, flag="", what="a converted checkpoint", reads=(source,))  # files.py: the rule
    saved = load_reference_checkpoint(source)
    state, shape = map_state_dict(saved["model"])
    if not shape["tasks"]:
        raise CheckpointError(f"{source} has no task heads (linear_sentiment, linear_paraphrase, linear_similarity)")
    args = vars(saved["args"]) if isinstance(saved.get("args"), argparse.Namespace) else {}
    model_config = vars(saved["model_config"]) if isinstance(saved.get("model_config"), types.SimpleNamespace) else {}
    dropout = model_config.get("hidden_dropout_prob", args.get("hidden_dropout_prob", 0.1))
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise CheckpointError(f"{source}: hidden_dropout_prob {dropout!r} is not a probability in [0, 1)")
    encoder = shape["encoder"]
    heads = heads_per_layer(encoder["hidden_size"], attention_heads)
    if any(TASKS[t].is_pair for t in shape["tasks"]) and encoder["type_vocab_size"] < 2:
        raise CheckpointError(
            f"the token type table has {encoder['type_vocab_size']} row(s); pairs are read as `s1 [SEP] s2`, which needs 2"
        )
    encoder_config = BertConfig(**encoder, num_attention_heads=heads, layer_norm_eps=1e-12).to_dict()
    spec = ModelSpec(
        encoder_name="bert-base-uncased",
        encoder_config=encoder_config,
        tasks=shape["tasks"],
        pooling="pooler",
        n_hidden_layers=shape["n_hidden_layers"],
        hidden_dropout_prob=float(dropout),
        pair_encoding="cross",
        head_activation="relu",
        extra={"converted_from": str(source)},
    )
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        skeleton = MultitaskBert(encoder_from_config(encoder_config), spec).state_dict()
    check_fits(state, skeleton, source)
    words = load_tokenizer(tokenizer)
    if len(words) > encoder["vocab_size"]:
        raise CheckpointError(
            f"{source}: its vocabulary has {encoder['vocab_size']} rows, but tokenizer {tokenizer!r} has {len(words)} tokens "
            "(a token past the table would fail at test time): give the tokenizer the model was trained with (--tokenizer)"
        )
    model = MultitaskBert(encoder_from_config(encoder_config), spec)
    model.load_state_dict(state, strict=False)
    cfg = Config.from_dict(
        {
            "encoder": "bert-base-uncased",
            "tasks": shape["tasks"],
            "pooling": "pooler",
            "pair_encoding": "cross",
            "n_hidden_layers": shape["n_hidden_layers"],
            "head_activation": "relu",
            "hidden_dropout_prob": float(dropout),
            "max_length": min(512, encoder["max_position_embeddings"]),  # the reference truncated only at BERT's limit
            "amp": "auto_fp16" if args.get("use_amp") else "off",
            "pretrained_model_name": str(source),
            "save_path": str(out),
        }
    )
    with built_aside(out, MARKER, "choose a writable output folder") as tmp:  # renamed into place whole, marker last
        save_model(tmp, model, words)
        atomic_write_text(tmp / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        atomic_write_text(tmp / MARKER, "made by python -m mtlib convert: convert --overwrite may replace this folder\n")
    return out / MODEL_WEIGHTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="the reference project's .pt checkpoint")
    parser.add_argument("out", help="the mtlib run folder to write (then: python -m mtlib --option test --pretrained_model_name OUT)")
    parser.add_argument(
        "--tokenizer", default="bert-base-uncased", help="tokenizer saved beside the weights (offline: minilm-l6, same vocabulary)"
    )
    parser.add_argument("--num_attention_heads", type=int, default=0, help="attention heads per layer (0: hidden size / 64, as BERT)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    def work() -> None:
        weights = convert(args.source, args.out, args.tokenizer, args.num_attention_heads, args.overwrite)
        print(f"wrote {weights}; test it with: python -m mtlib --option test --pretrained_model_name {args.out}")

    return run_command("mtlib.convert", work)


if __name__ == "__main__":
    sys.exit(main())
