"""What differs between Llama, Mistral and Qwen2 on Qwen3's stack: config reading per family (biases, windows, rotary
scaling, transformers 4 and 5 keys), Llama 3's rotary frequencies worked out by hand, refusals and sizes. Parity with
sentence-transformers for the three families runs in test_decoders.py."""

from __future__ import annotations

import math

import pytest
import torch

from embedkit.encoders import EncoderConfig, build_encoder
from embedkit.encoders.llama import LlamaConfig, LlamaModel
from embedkit.encoders.qwen3 import FULL, SLIDING
from embedkit.encoders.rotary import rotary_inv_freq

BASE = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 3, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 24}
LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 32}


def built_biases(cfg: LlamaConfig) -> dict[str, bool]:
    layer = LlamaModel(cfg).layers[0]
    return {name: getattr(layer.attn, name).bias is not None for name in "qkvo"} | {
        "mlp": layer.mlp.gate.bias is not None}


@pytest.mark.parametrize("model_type,extra,biases,layer_types", [
    ("llama", {}, dict(q=False, k=False, v=False, o=False, mlp=False), (FULL,) * 3),
    ("llama", {"attention_bias": True, "mlp_bias": True}, dict(q=True, k=True, v=True, o=True, mlp=True), (FULL,) * 3),
    ("mistral", {"sliding_window": 6}, dict(q=False, k=False, v=False, o=False, mlp=False), (SLIDING,) * 3),
    ("mistral", {"sliding_window": None}, dict(q=False, k=False, v=False, o=False, mlp=False), (FULL,) * 3),
    ("qwen2", {"use_sliding_window": True, "sliding_window": 6, "max_window_layers": 2},
     dict(q=True, k=True, v=True, o=False, mlp=False), (FULL, FULL, SLIDING)),
    ("qwen2", {"attention_bias": False, "mlp_bias": True},  # keys Qwen2 does not read change nothing
     dict(q=True, k=True, v=True, o=False, mlp=False), (FULL,) * 3),
])
def test_each_family_builds_its_biases_and_windows(model_type, extra, biases, layer_types):
    cfg = EncoderConfig.from_hf_config({"model_type": model_type, **BASE, **extra})
    assert isinstance(cfg, LlamaConfig) and not cfg.qk_norm and cfg.layer_types == layer_types
    assert built_biases(cfg) == biases
    assert not hasattr(LlamaModel(cfg).layers[0].attn.q_norm, "weight")  # no per-head norm
    assert EncoderConfig.from_hf_config(cfg.to_hf_config()) == cfg
    assert cfg.parameter_count() == sum(t.numel() for t in build_encoder(cfg).state_dict().values())


def test_mistral_windows_every_layer_and_defaults_to_4096():
    cfg = EncoderConfig.from_hf_config({"model_type": "mistral", **BASE})
    assert cfg.sliding_window == 4096 and cfg.sliding_reach() == 4095 and set(cfg.layer_types) == {SLIDING}


def test_transformers_4_and_5_rotary_keys_read_alike():
    v5 = EncoderConfig.from_hf_config({"model_type": "llama", **BASE, "rope_parameters": {"rope_theta": 500_000.0,
                                                                                         **LLAMA3}})
    v4 = EncoderConfig.from_hf_config({"model_type": "llama", **BASE, "rope_theta": 500_000.0,
                                       "rope_scaling": {**LLAMA3, "rope_type": None, "type": "llama3"}})  # older
    assert v5 == v4 and v5.rope_scaling == LLAMA3 and v5.rope_theta == 500_000.0
    saved = v5.to_hf_config()
    assert saved["rope_parameters"] == {"rope_theta": 500_000.0, **LLAMA3} and saved["rope_scaling"] == LLAMA3
    assert EncoderConfig.from_hf_config(saved) == v5


def test_llama3_frequencies_worked_out_by_hand():
    # head_dim 16, theta 10000: frequencies 10000^(-2i/16); wavelengths 2 pi / f. With an original context of 32,
    # low_freq_factor 1 and high_freq_factor 4: wavelengths above 32 are divided by 8, those below 8 kept, and those in
    # between interpolated with s = (32 / wavelength - 1) / (4 - 1): (1 - s) * f / 8 + s * f.
    expected, kinds = [], []
    for i in range(8):
        f = 10_000.0 ** (-2 * i / 16)
        wavelength = 2 * math.pi / f
        if wavelength < 8:
            expected.append(f)
            kinds.append("kept")
        elif wavelength > 32:
            expected.append(f / 8)
            kinds.append("divided")
        else:
            s = (32 / wavelength - 1) / 3
            expected.append((1 - s) * f / 8 + s * f)
            kinds.append("interpolated")
    assert set(kinds) == {"kept", "interpolated", "divided"}  # every branch is checked
    assert torch.allclose(rotary_inv_freq(16, 10_000.0, LLAMA3), torch.tensor(expected), rtol=1e-6)
    plain = rotary_inv_freq(16, 10_000.0)
    assert torch.allclose(rotary_inv_freq(16, 10_000.0, {"rope_type": "linear", "factor": 2.0}), plain / 2)


def test_scaled_rotary_changes_outputs_only_through_the_frequencies():
    torch.manual_seed(0)
    plain = LlamaModel(LlamaConfig(**BASE, head_dim=4)).eval()
    scaled = LlamaModel(LlamaConfig(**BASE, head_dim=4, rope_scaling={"rope_type": "linear", "factor": 2.0})).eval()
    scaled.load_state_dict(plain.state_dict())
    ids = torch.randint(1, 50, (1, 8))
    with torch.no_grad():
        first = plain(ids[:, :1]).last_hidden_state
        assert torch.equal(first, scaled(ids[:, :1]).last_hidden_state)  # position 0 is not rotated either way
        assert (plain(ids).last_hidden_state - scaled(ids).last_hidden_state).abs().max() > 1e-4


@pytest.mark.parametrize("edit,message", [
    ({"rope_parameters": {"rope_type": "yarn", "factor": 4.0}}, "rope_type='yarn'"),
    ({"rope_scaling": {"type": "dynamic", "factor": 2.0}}, "rope_type='dynamic'"),
    ({"rope_parameters": {"rope_type": "llama3", "factor": 8.0}}, "lacks \\['low_freq_factor'"),
    ({"rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5}}, "partial_rotary_factor"),
    ({"num_key_value_heads": 3}, "multiple of num_key_value_heads"),
    ({"hidden_act": "tanh"}, "hidden_act"),
    ({"pad_token_id": 50}, "pad_token_id=50"),
])
def test_unsupported_or_inconsistent_configs_are_refused_by_name(edit, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig.from_hf_config({"model_type": "llama", **BASE, **edit}, "x")
