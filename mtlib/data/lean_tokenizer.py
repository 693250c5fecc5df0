"""A checkpoint's tokenizer without transformers: its saved `tokenizer.json`, run by the
`tokenizers` library that transformers' fast BERT tokenizer runs too.

transformers' `AutoTokenizer` costs seconds of imports that one answer from the command line
does not need (`mtlib.model.lean_bert` says where they go). `LeanTokenizer` answers the calls
`mtlib.data.batching.encode` makes (sentences or pairs; truncation longest first, from the right,
to `max_length`; special tokens; segment ids) with the same ids, and names its pad token's id.
tests/test_lean_predict.py checks its ids against the transformers tokenizer's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOKENIZER_FILE = "tokenizer.json"
SETTINGS_FILE = "tokenizer_config.json"


def unsupported(folder: Path) -> str:
    """Why `LeanTokenizer` cannot stand for the tokenizer saved in `folder` ("" when it can)."""
    if not (folder / TOKENIZER_FILE).is_file():
        return f"no {TOKENIZER_FILE} in {folder}"
    settings = _settings(folder)
    for key, default in (("truncation_side", "right"), ("truncation_strategy", "longest_first")):
        if settings.get(key, default) != default:
            return f"{SETTINGS_FILE}: {key} {settings[key]!r}"
    if settings.get("tokenizer_class", "BertTokenizer") not in ("BertTokenizer", "BertTokenizerFast"):
        return f"{SETTINGS_FILE}: tokenizer_class {settings['tokenizer_class']!r}"
    return ""


def _settings(folder: Path) -> dict[str, Any]:
    path = folder / SETTINGS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


class LeanTokenizer:
    """`tokenizer(texts[, pairs], truncation=..., max_length=...)` as transformers' BERT tokenizer answers it."""

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.backend = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.backend.no_padding()  # padding is collate's (mtlib.data.batching)
        settings = _settings(folder)
        self.model_max_length = int(settings.get("model_max_length") or 512)
        pad = settings.get("pad_token", "[PAD]")
        self.pad_token_id = self.backend.token_to_id(pad if isinstance(pad, str) else pad.get("content", "[PAD]"))

    def __call__(
        self,
        text: str | list[str],
        text_pair: str | list[str] | None = None,
        *,
        add_special_tokens: bool = True,
        truncation: bool = False,
        max_length: int | None = None,
        return_attention_mask: bool = True,
        return_token_type_ids: bool = True,
    ) -> dict[str, Any]:
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        pairs = None if text_pair is None else ([text_pair] if isinstance(text_pair, str) else list(text_pair))
        if truncation:
            self.backend.enable_truncation(max_length or self.model_max_length, stride=0, strategy="longest_first", direction="right")
        else:
            self.backend.no_truncation()
        inputs = texts if pairs is None else list(zip(texts, pairs))
        encodings = self.backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
        out: dict[str, Any] = {"input_ids": [e.ids for e in encodings]}
        if return_token_type_ids:
            out["token_type_ids"] = [e.type_ids for e in encodings]
        if return_attention_mask:
            out["attention_mask"] = [e.attention_mask for e in encodings]
        return {k: v[0] for k, v in out.items()} if single else out
