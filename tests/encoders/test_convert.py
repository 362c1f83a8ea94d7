"""Weight-name tables and strict loading."""

from __future__ import annotations

import pytest
import torch

from embedkit.encoders import EncoderConfig, build_encoder
from embedkit.encoders.convert import ek_to_hf, normalize_hf_key, split_hf_state_dict
from embedkit.encoders.loading import load_strict, read_state_dict
from tests.conftest import FIXTURES


def tiny_config(model_type: str) -> EncoderConfig:
    return EncoderConfig(model_type=model_type, vocab_size=50, hidden_size=16, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=32, max_position_embeddings=40)


@pytest.mark.parametrize("model_type", ["bert", "mpnet"])
def test_round_trip_ek_hf_ek_is_identity(model_type):
    encoder = build_encoder(tiny_config(model_type))
    state = encoder.state_dict()
    hf = ek_to_hf(state, model_type)
    back, heads = split_hf_state_dict(hf, model_type)
    assert heads == {}
    assert set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_hf_names_match_a_real_checkpoint_exactly():
    state, _ = read_state_dict(FIXTURES / "tiny_mpnet_v6")
    encoder_state, heads = split_hf_state_dict(state, "mpnet")
    assert heads == {}
    assert set(ek_to_hf(encoder_state, "mpnet")) == set(state)


def test_prefix_and_legacy_gamma_beta_are_normalised():
    assert normalize_hf_key("bert.embeddings.LayerNorm.gamma") == "embeddings.LayerNorm.weight"
    assert normalize_hf_key("mpnet.encoder.layer.3.output.LayerNorm.beta") == "encoder.layer.3.output.LayerNorm.bias"
    assert normalize_hf_key("model.pooler.dense.weight") == "pooler.dense.weight"


def test_prefixed_mlm_checkpoint_splits_encoder_and_head():
    state, _ = read_state_dict(FIXTURES / "tiny_bert_hf")  # BertForMaskedLM: "bert." prefix + cls.predictions.*
    assert any(k.startswith("bert.") for k in state)
    encoder_state, heads = split_hf_state_dict(state, "bert")
    assert "mlm.dense.weight" in heads and "embed.tok.weight" in encoder_state


def test_unknown_key_raises_naming_it():
    state = ek_to_hf(build_encoder(tiny_config("bert")).state_dict(), "bert")
    state["encoder.layer.0.attention.self.rotary.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="rotary"):
        split_hf_state_dict(state, "bert", "x.safetensors")


def test_strict_load_names_missing_and_mismatched_keys():
    encoder = build_encoder(tiny_config("bert"))
    state = dict(encoder.state_dict())
    del state["layers.1.ffn.up.bias"]
    state["embed.tok.weight"] = torch.zeros(51, 16)
    with pytest.raises(ValueError, match=r"f\.safetensors.*missing keys \['layers\.1\.ffn\.up\.bias'\].*embed\.tok"):
        load_strict(encoder, state, "f.safetensors")


def test_absurd_config_is_rejected_before_allocating():
    with pytest.raises(ValueError, match="num_hidden_layers"):
        EncoderConfig.from_hf_config({"model_type": "bert", "vocab_size": 10, "num_hidden_layers": 10**9})
    with pytest.raises(ValueError, match="model_type"):
        EncoderConfig.from_hf_config({"model_type": "gpt2", "vocab_size": 10})
