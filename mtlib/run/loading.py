"""What a run loads before it trains: every task's splits, read, validated and tokenized
(`load_data`), and the model, fresh from the encoder or from a checkpoint (`build_model`,
`load_model`). `mtlib.run.pipeline` calls these; notebooks and benchmarks may call them alone."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from ..config.config import Config
from ..config.tasks import TASKS, pair_mode
from ..data.batching import Encoded, encode
from ..data.eda import note as eda_note
from ..data.eda import prepare_train
from ..data.lean_tokenizer import LeanTokenizer
from ..data.lean_tokenizer import unsupported as tokenizer_unsupported
from ..data.task_files import cap_rows, check_data_dir, load_task, md5_of, resolve_data_dir
from ..model.encoders import encoder_from_config, load_encoder, load_tokenizer
from ..model.lean_bert import LeanBert
from ..model.lean_bert import unsupported as encoder_unsupported
from ..model.multitask_bert import ModelSpec, MultitaskBert
from ..store.checkpoints import check_tokenizer, load_weights_into, read_model_spec, resolve_checkpoint
from ..util import paths
from ..util.errors import CheckpointError


def load_data(
    cfg: Config, tokenizer: Any, splits: tuple[str, ...] = ("train", "dev", "test")
) -> tuple[dict[str, dict[str, Encoded]], list[str], dict[str, Any]]:
    """Read, validate and tokenize every task's splits; returns (data, notes, manifest part).
    Pairs are tokenized as `cfg.model.pair_encoding` says (cross- or bi-encoded)."""
    data_dir = resolve_data_dir(cfg.data.data_dir)
    check_data_dir(data_dir)
    data: dict[str, dict[str, Encoded]] = {}
    notes: list[str] = []
    files: dict[str, Any] = {}
    prepared: dict[str, Any] = {}  # --use_preprocessing: what was done to each training split (mtlib.data.eda)
    for name in cfg.data.tasks:
        spec = TASKS[name]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            splits_ex, task_notes = load_task(spec, data_dir, splits)
        notes += task_notes + [str(w.message).replace(str(data_dir), shown_path(data_dir, cfg)) for w in caught]  # a file's warning
        data[name] = {}
        for split, examples in splits_ex.items():
            cap = cfg.data.max_train_examples if split == "train" else cfg.data.max_eval_examples
            examples = cap_rows(examples, cap, cfg.train.seed)
            if split == "train" and cfg.data.use_preprocessing != "none":  # the reference's prepared training rows
                examples, record = prepare_train(examples, spec, cfg.data.use_preprocessing, cfg.train.seed)
                prepared[name] = record
                notes.append(eda_note(name, record))
            enc = encode(examples, tokenizer, cfg.data.max_length, pair_mode(cfg.model.pair_encoding, name))
            if enc.truncated:
                notes.append(
                    f"{name} {split}: {enc.truncated} of {len(enc)} examples longer than --max_length {cfg.data.max_length} were truncated"
                )
            data[name][split] = enc
            source = Path(examples.source.split(" [")[0])
            if source.exists() and str(source) not in files:
                files[str(source)] = {"md5": md5_of(source), "rows_dropped": len(examples.dropped)}
            files.setdefault("splits", {})[f"{name}/{split}"] = len(enc)
    manifest = {"data_dir": str(data_dir.resolve()), "files": files, "notes": notes}
    if prepared:
        manifest["preparation"] = prepared
    return data, notes, manifest


def build_model(cfg: Config, tokenizer: Any) -> tuple[MultitaskBert, list[str]]:
    """A fresh model from the pretrained encoder, or one initialised from --pretrained_model_name."""
    model, notes = _build_model(cfg)
    if cfg.model.encoder_dropout >= 0:
        for module in model.encoder.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = cfg.model.encoder_dropout
    return model, notes


def _build_model(cfg: Config) -> tuple[MultitaskBert, list[str]]:
    m = cfg.model
    spec_kw = dict(
        tasks=list(cfg.data.tasks),
        pooling=m.pooling,
        n_hidden_layers=m.n_hidden_layers,
        hidden_dropout_prob=m.head_dropout,
        use_pal=m.use_pal,
        pal_size=m.pal_size,
        pal_heads=m.pal_heads,
        pair_encoding=m.pair_encoding,
        head_activation=m.head_activation,
        head_rnn=m.head_rnn,
        head_rnn_hidden=m.head_rnn_hidden,
        head_rnn_tasks=list(m.head_rnn_tasks),
        head_rnn_cls=m.head_rnn_cls,
        sst_adjustment=m.sst_adjustment or cfg.train.option == "optimize",
    )
    notes: list[str] = []
    source = cfg.train.pretrained_model_name
    torch.manual_seed(cfg.train.seed)
    if source and cfg.train.option != "test":
        weights = resolve_checkpoint(source)
        saved = read_model_spec(weights)
        if saved["encoder_name"] != m.encoder:
            raise CheckpointError(
                f"{weights} was trained from encoder {saved['encoder_name']!r} but --encoder is {m.encoder!r}; "
                f"pass --encoder {saved['encoder_name']}"
            )
        encoder = encoder_from_config(saved["encoder_config"])
        spec = ModelSpec(encoder_name=m.encoder, encoder_config=saved["encoder_config"], **spec_kw)
        model = MultitaskBert(encoder, spec)
        fresh = load_weights_into(model, weights)
        if fresh:
            parts = sorted({k.split(".")[0] + "." + k.split(".")[2] if k.startswith(("pal.", "heads.")) else k for k in fresh})
            notes.append(f"started from {shown_path(weights, cfg)}; newly initialised: {', '.join(parts[:6])}")
        else:
            notes.append(f"started from {shown_path(weights, cfg)}")
        return model, notes
    encoder = load_encoder(m.encoder, seed=cfg.train.seed)
    spec = ModelSpec(encoder_name=m.encoder, encoder_config=encoder.config.to_dict(), **spec_kw)
    return MultitaskBert(encoder, spec), notes


def shown_path(path: str | Path, cfg: Config) -> str:
    """`path` in a note the run records: as its run folder records paths (`mtlib.util.paths.recorded`)."""
    return paths.recorded(path, cfg.run.save_path) if cfg.run.save_path else str(path)


def load_model(path: str | Path, device: str | torch.device = "cpu", lean: bool = False) -> tuple[MultitaskBert, Any]:
    """A trained model and its tokenizer from a run folder or weights file (no download).
    `lean`: the encoder and tokenizer without transformers (`mtlib.model.lean_bert`,
    `mtlib.data.lean_tokenizer`: inference only, the same answers, seconds fewer of imports)
    where `why_not_lean` finds no reason against them; transformers' otherwise."""
    weights = resolve_checkpoint(path)
    saved = read_model_spec(weights)
    tok_dir = weights.parent / "tokenizer"
    lean = lean and not why_not_lean(saved, tok_dir)
    try:
        spec = ModelSpec(**saved)
        model = MultitaskBert(LeanBert(spec.encoder_config) if lean else encoder_from_config(spec.encoder_config), spec)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(
            f"{weights.with_suffix('.json')} does not describe an mtlib model ({exc}); the run folder is damaged"
        ) from None
    missing = load_weights_into(model, weights, assign=lean)
    if missing:
        raise CheckpointError(f"{weights} lacks weights for {missing[:3]}")
    check_tokenizer(tok_dir, spec.encoder_name)
    if lean:
        tokenizer: Any = LeanTokenizer(tok_dir)
    else:
        tokenizer = load_tokenizer(str(tok_dir) if tok_dir.is_dir() else spec.encoder_name)
    return model.to(device).eval(), tokenizer


def why_not_lean(saved: dict[str, Any], tok_dir: Path) -> str:
    """Why a checkpoint (its model.json, its tokenizer folder) needs transformers' BertModel or
    tokenizer to be answered as it was trained ("" when the lean ones give the same answers)."""
    config = saved.get("encoder_config")
    if not isinstance(config, dict):
        return "model.json has no encoder_config"
    return encoder_unsupported(config) or tokenizer_unsupported(tok_dir)
