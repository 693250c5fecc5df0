"""Mixed precision: the attention backends chosen under autocast, and what --amp auto picks."""

from __future__ import annotations

import torch

from mtlib.model.amp import ATTENTION_BACKENDS, Precision, resolve_amp


def _precision(mode):
    return Precision(torch.device("cpu"), mode, torch.amp.GradScaler("cpu", enabled=False))


def test_autocast_turns_cudnn_attention_off_and_keeps_the_others():
    """cuDNN's SDPA under autocast made AMP 4-10x slower than fp32 on an H200: it is off inside
    every autocast region mtlib opens (training, dev scoring, prediction, the playground), and
    the global setting is restored after it."""
    before = torch.backends.cuda.cudnn_sdp_enabled()
    with _precision("bf16").autocast():
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
        assert torch.backends.cuda.math_sdp_enabled()
        assert torch.is_autocast_enabled("cpu")
    assert torch.backends.cuda.cudnn_sdp_enabled() == before
    assert len(ATTENTION_BACKENDS) == 3


def test_a_tiny_model_runs_its_attention_under_the_chosen_backends():
    from mtlib.model.encoders import load_encoder

    encoder = load_encoder("tiny-random").eval()
    ids = torch.randint(5, 1000, (2, 12))
    with torch.inference_mode():
        plain = encoder(input_ids=ids).last_hidden_state
        with _precision("bf16").autocast():
            mixed = encoder(input_ids=ids).last_hidden_state
    assert torch.isfinite(mixed).all() and (plain - mixed.float()).abs().max() < 0.25  # bf16 matmuls, fp32 layer norms


def test_amp_auto_on_cuda_prefers_bf16_and_falls_back_to_fp16(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_amp("auto", cuda) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_amp("auto", cuda) == "fp16"  # with a GradScaler (Precision.create)


def test_use_amp_is_fp16_with_a_grad_scaler_on_cuda_as_the_reference(monkeypatch):
    """The reference's --use_amp was torch.cuda.amp with a GradScaler: fp16 even where bf16 is supported."""
    from mtlib.config.command_line import parse_args

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    amp = parse_args(["--use_amp"]).train.amp
    assert resolve_amp(amp, torch.device("cuda")) == "fp16"
    assert resolve_amp(amp, torch.device("cpu")) == resolve_amp("auto", torch.device("cpu"))
