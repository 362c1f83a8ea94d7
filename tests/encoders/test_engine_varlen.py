"""The variable-length attention route of the inference engine (encoders/engine/varlen.py).

The FlashAttention kernel itself runs on CUDA only; here a reference with its documented semantics (attention
within each sequence of the packed tokens, sequences given by int32 start offsets) stands in for it, so that the
plumbing (packing order, offsets, lengths, shapes, the gradient) is checked against the padded route on CPU.
"""

from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F

from embedkit.encoders import BertModel, EncoderConfig, MPNetModel
from embedkit.encoders.engine import InferenceEngine, varlen
from embedkit.encoders.engine.packing import Packing

calls: list[tuple[int, int]] = []


def reference_varlen_attn(q, k, v, cu_seq_q, cu_seq_k, max_q, max_k):
    assert q.dim() == 3 and cu_seq_q.dtype == torch.int32 and torch.equal(cu_seq_q, cu_seq_k) and max_q == max_k
    bounds = cu_seq_q.tolist()
    assert bounds[0] == 0 and bounds[-1] == q.shape[0]
    assert max(b - a for a, b in pairwise(bounds)) == max_q
    calls.append((len(bounds) - 1, max_q))
    out = [F.scaled_dot_product_attention(*(t[a:b].transpose(0, 1) for t in (q, k, v))).transpose(0, 1)
           for a, b in pairwise(bounds)]
    return torch.cat(out)  # (N, H, Dh)


def _padding_mask_only(q, attn_mask, dropout_p):  # stands in for applies() on CPU: the mask rule alone
    return attn_mask is None or attn_mask.dtype == torch.bool


def _model(kind: str):
    torch.manual_seed(0)
    common = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
              "intermediate_size": 64, "attention_probs_dropout_prob": 0.0}
    if kind == "bert":
        return BertModel(EncoderConfig(**common)).eval()
    return MPNetModel(EncoderConfig(model_type="mpnet", max_position_embeddings=514, **common)).eval()


IDS = torch.tensor([[0, 5, 17, 33, 9, 2], [0, 8, 2, 1, 1, 1], [0, 44, 45, 46, 2, 1]])
MASK = (IDS != 1).long()


def _forward(model, **options):
    with torch.inference_mode():
        return InferenceEngine(model, **options)(IDS, MASK).last_hidden_state


def test_varlen_route_matches_padded_attention(monkeypatch):
    model = _model("bert")
    padded = _forward(model, varlen_attention=False)
    monkeypatch.setattr(varlen, "_kernel", reference_varlen_attn)
    monkeypatch.setattr(varlen, "_looked_up", True)
    monkeypatch.setattr(varlen, "applies", _padding_mask_only)
    calls.clear()
    assert torch.equal(_forward(model, varlen_attention=False), padded) and calls == []  # the option turns it off
    packed = _forward(model)
    assert calls == [(3, 6), (3, 6)]  # both layers, 3 sequences, the longest of 6 real tokens
    real = MASK.bool()
    torch.testing.assert_close(packed[real], padded[real], atol=1e-6, rtol=1e-5)
    assert packed[~real].abs().max() == 0


def test_mpnet_relative_bias_keeps_the_padded_route(monkeypatch):
    monkeypatch.setattr(varlen, "_kernel", reference_varlen_attn)
    monkeypatch.setattr(varlen, "_looked_up", True)
    monkeypatch.setattr(varlen, "applies", _padding_mask_only)
    calls.clear()
    _forward(_model("mpnet"))  # its additive float bias cannot go to the kernel
    assert calls == []


@pytest.mark.parametrize("case", ["cpu", "fp32", "dropout", "float_mask", "head_size"])
def test_applies_only_where_the_kernel_computes_the_same(case, monkeypatch):
    monkeypatch.setattr(varlen, "_kernel", reference_varlen_attn)
    monkeypatch.setattr(varlen, "_looked_up", True)
    q = torch.randn(5, 4, 8, dtype=torch.float16)
    mask = torch.ones(1, 1, 1, 5, dtype=torch.bool)
    dropout = 0.0
    monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda self: True))  # pretend, to reach the other checks
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert varlen.applies(q, mask, dropout)
    if case == "cpu":
        monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda self: False))
    elif case == "fp32":
        q = q.float()
    elif case == "dropout":
        dropout = 0.1
    elif case == "float_mask":
        mask = torch.zeros(1, 4, 5, 5)
    else:
        q = torch.randn(5, 4, 12, dtype=torch.float16)
    assert not varlen.applies(q, mask, dropout)


def test_sequence_starts_follow_the_packed_order():
    packing = Packing(torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]))  # packed longest first
    starts, longest, shortest = packing.sequence_starts()
    assert starts.tolist() == [0, 4, 6, 7] and starts.dtype == torch.int32 and (longest, shortest) == (4, 1)
    assert packing.index.tolist() == [4, 5, 6, 7, 0, 1, 8]  # each sequence's tokens are contiguous
    left = Packing(torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]]))  # left padding: batch order
    starts, longest, shortest = left.sequence_starts()
    assert starts.tolist() == [0, 2, 6, 7] and (longest, shortest) == (4, 1)
    assert left.index.tolist() == [2, 3, 4, 5, 6, 7, 11]


def test_a_row_without_tokens_keeps_the_padded_route(monkeypatch):
    monkeypatch.setattr(varlen, "_kernel", reference_varlen_attn)
    monkeypatch.setattr(varlen, "_looked_up", True)
    monkeypatch.setattr(varlen, "applies", _padding_mask_only)
    packing = Packing(torch.tensor([[1, 1], [0, 0]]))
    q = torch.randn(2, 2, 8)
    assert varlen.varlen_attention(q, q, q, packing, None, 0.0) is None
    full = Packing(torch.tensor([[1, 1], [1, 0]]))
    assert varlen.varlen_attention(torch.randn(3, 2, 8), q[:1].repeat(3, 1, 1), q[:1].repeat(3, 1, 1), full, None,
                                   0.0).shape == (3, 2, 8)
