"""Inference-time feed-forward blocking: same result as one pass, bounded intermediates."""

from __future__ import annotations

import torch

from embedkit.encoders import layers
from embedkit.encoders.config import EncoderConfig


def test_blocked_feed_forward_equals_one_pass_and_bounds_intermediates(monkeypatch):
    cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=128)
    ffn = layers.FeedForward(cfg)
    x = torch.randn(4, 50, 32)
    expected = ffn(x)  # autograd on: one pass
    monkeypatch.setattr(layers, "FFN_BLOCK_ELEMENTS", 128 * 30)  # 30 rows per block
    sizes = []
    ffn.up.register_forward_hook(lambda module, args, out: sizes.append(out.shape[0]))
    with torch.no_grad():
        blocked = ffn(x)
    assert sizes == [30] * 6 + [20]  # 200 rows in blocks of 30
    torch.testing.assert_close(blocked, expected, atol=1e-6, rtol=0)
    assert blocked.shape == x.shape


def test_inference_blocks_split_rows_like_one_tracked_call():
    # GradCache's first pass (no autograd, blocked) must equal its replay (autograd, one call) bit for bit: the
    # feed-forward blocks are whole oneDNN row blocks, so both run each row at the same row count.
    torch.manual_seed(0)
    cfg = EncoderConfig(vocab_size=100, hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=1536)
    ffn = layers.FeedForward(cfg)
    x = torch.randn(3000, 64)
    sizes = []
    ffn.up.register_forward_hook(lambda module, args, out: sizes.append(out.shape[0]))
    expected = ffn(x.clone().requires_grad_()).detach()
    with torch.no_grad():
        blocked = ffn(x)
    assert sizes == [3000, 2048, 952]  # one tracked call, then blocks of whole 1024-row oneDNN blocks
    assert torch.equal(blocked, expected)
