"""Packing and the attention of packed tokens. Where every sequence's tokens are its first positions, sequences of
equal length attend as they are (no padding, no padding mask); any other mask (left padding, a hole) is laid out
padded again. Every layout gives what the reference encoder gives, on stock and frozen layers."""

from __future__ import annotations

import copy
import importlib
import platform

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from embedkit.encoders import BertModel, EncoderConfig, MPNetModel
from embedkit.encoders.engine import InferenceEngine, optimize_for_inference
from embedkit.encoders.engine.packing import Packing

# the module (the package exports its function of the same name)
attention = importlib.import_module("embedkit.encoders.engine.attention")
X86 = platform.machine().lower() in ("x86_64", "amd64")


def _mask(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows)


# Every kind of padding mask a batch can have: (mask, whether sequences of equal length attend as they are)
LAYOUTS = {
    "equal_lengths_in_groups": (_mask([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0],
                                       [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]), True),
    "all_lengths_distinct": (_mask([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]]), True),
    "one_row_without_tokens": (_mask([[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]), True),
    "left_padding": (_mask([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]]), False),
    "a_hole_in_a_row": (_mask([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [1, 1, 1, 0, 0]]), False),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_packing_keeps_each_sequence_contiguous_and_round_trips(layout):
    mask, grouped = LAYOUTS[layout]
    packing = Packing(mask)
    assert (packing.groups is not None) == grouped
    x = torch.randn(*mask.shape, 3)
    packed = packing.unpad(x)
    assert packed.shape == (int(mask.sum()), 3)
    assert torch.equal(packing.pad(packed).view_as(x), x * mask[..., None])
    starts, longest, shortest = packing.sequence_starts()
    order = range(mask.shape[0]) if packing.order is None else packing.order.tolist()
    for place, row in enumerate(order):  # sequence ``row`` sits at rows starts[place]:starts[place + 1], in order
        assert torch.equal(packed[starts[place]:starts[place + 1]], x[row][mask[row].bool()])
    lengths = mask.sum(dim=1)
    assert (longest, shortest) == (int(lengths.max()), int(lengths.min()))
    if grouped:  # runs of equal lengths, longest first, covering every packed row
        assert [length for _, _, length in packing.groups] == sorted(set(lengths.tolist()), reverse=True)
        assert sum(count * length for _, count, length in packing.groups) == packed.shape[0]
        for start, count, length in packing.groups:
            assert all(int(lengths[row]) == length for row in packing.order[
                [place for place in range(len(order)) if starts[place] >= start][:count]])


def _encoder(kind: str) -> nn.Module:
    torch.manual_seed(0)
    common = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
              "intermediate_size": 64}
    if kind == "bert":
        return BertModel(EncoderConfig(**common)).eval()
    return MPNetModel(EncoderConfig(model_type="mpnet", max_position_embeddings=514, **common)).eval()


class _Calls:
    """Records each ``scaled_dot_product_attention`` call the engine makes: (q shape, attn_mask or None)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[tuple[int, ...], torch.Tensor | None]] = []
        sdpa = F.scaled_dot_product_attention

        def record(q, k, v, attn_mask=None, **kwargs):
            self.calls.append((tuple(q.shape), attn_mask))
            return sdpa(q, k, v, attn_mask=attn_mask, **kwargs)

        monkeypatch.setattr(attention.F, "scaled_dot_product_attention", record)


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
@pytest.mark.parametrize("layers", ["stock", "frozen"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_equals_the_reference_encoder(kind, layers, layout, monkeypatch):
    mask, grouped = LAYOUTS[layout]
    encoder = _encoder(kind)
    ids = torch.randint(2, 100, mask.shape, generator=torch.Generator().manual_seed(3)).masked_fill(mask == 0, 1)
    with torch.inference_mode():
        want = encoder(ids, mask, output_hidden_states=True)
    engine_encoder = copy.deepcopy(encoder)
    if layers == "frozen" and optimize_for_inference(engine_encoder) == 0:
        pytest.skip("oneDNN is unavailable here: no frozen layers")
    spy = _Calls(monkeypatch)
    with torch.inference_mode():
        got = InferenceEngine(engine_encoder, text_chunks=False)(ids, mask, output_hidden_states=True)
    real = mask.bool()
    for a, b in zip(got.hidden_states, want.hidden_states, strict=True):
        torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=1e-5)
    assert got.last_hidden_state[~real].abs().max() == 0
    lengths = sorted({n for n in mask.sum(dim=1).tolist() if n}, reverse=True)
    per_layer = spy.calls[: len(spy.calls) // 2]
    if grouped:  # one call per length, on just those sequences' tokens; BERT's padding mask is gone
        assert [shape[2] for shape, _ in per_layer] == lengths
        assert [shape[0] for shape, _ in per_layer] == [int((mask.sum(dim=1) == n).sum()) for n in lengths]
        if kind == "bert":
            assert all(m is None for _, m in per_layer)
        else:  # MPNet's relative position bias, cut to each length
            assert all(m is not None and m.shape[-2:] == (shape[2], shape[2]) for shape, m in per_layer)
    else:  # padded again: one call on the whole (B, T) batch
        assert [shape for shape, _ in per_layer] == [(mask.shape[0], 4, mask.shape[1], 8)]


def test_rows_up_to_the_gemms_row_count_stay_zero_through_attention(monkeypatch):
    """With oneDNN the packed rows run at ``row_count(N)``: the attention of grouped sequences sets the extra rows
    to zero (new memory is made to hold NaN here, so a row left as it was would show)."""
    mask = LAYOUTS["equal_lengths_in_groups"][0]  # N = 20 real tokens
    packing = Packing(mask, row_count=lambda n: n + 3)
    q = torch.randn(packing.rows, 8)
    monkeypatch.setattr(torch.Tensor, "new_empty", lambda self, *size, **kw: torch.full(
        size[0] if len(size) == 1 and not isinstance(size[0], int) else size, float("nan")))
    y = attention.attention(q, q, q, 2, None, packing, varlen=False)
    assert y.shape == (23, 8) and y[20:].abs().max() == 0 and not y.isnan().any()
