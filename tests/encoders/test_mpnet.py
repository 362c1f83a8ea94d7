"""MPNet specifics: relative position buckets and pad-offset positions."""

from __future__ import annotations

import torch

from embedkit.encoders.mpnet import PADDING_IDX, MPNetEmbeddings
from embedkit.encoders.relative_position import relative_position_bucket
from tests.encoders.test_convert import tiny_config


def test_relative_position_buckets_known_values():
    # 32 buckets: keys after the query use 0..15, before it 16..31; distances < 8 are exact, then log-spaced to 128.
    distances = torch.tensor([0, 1, 7, 8, 12, 16, 32, 64, 127, 128, 500, -1, -7, -8, -128, -500])
    buckets = relative_position_bucket(distances, num_buckets=32).tolist()
    assert buckets == [0, 17, 23, 24, 25, 26, 28, 30, 31, 31, 31, 1, 7, 8, 15, 15]  # HF MPNetEncoder values


def test_buckets_keep_changing_past_128_tokens_only_up_to_max_distance():
    d = torch.arange(0, 300)
    b = relative_position_bucket(-d, 32)
    assert len(set(b[:129].tolist())) == 16 and set(b[128:].tolist()) == {15}


def test_positions_start_after_padding_idx_and_padding_keeps_padding_idx():
    emb = MPNetEmbeddings(tiny_config("mpnet"))
    seen = {}
    emb.pos.register_forward_hook(lambda m, inp, out: seen.update(pos=inp[0]))
    emb(torch.tensor([[0, 5, 6, 2, PADDING_IDX, PADDING_IDX]]))
    assert seen["pos"].tolist() == [[2, 3, 4, 5, 1, 1]]
