"""NomicBERT (nomic-embed-text): parity with sentence-transformers 6.2 on transformers 5's native ``nomic_bert``
(fixtures from tests/generate_nomic_fixtures.py), Nomic's original config.json dialect, refusals, strict loading,
saving in Nomic's weight names, the engine's fallback and one training step."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from embedkit import CrossEncoder, SentenceTransformer
from embedkit.encoders import EncoderConfig
from embedkit.encoders.nomic_bert import NomicBertConfig, NomicBertModel
from tests.conftest import FIXTURES, golden
from tests.encoders.family_checks import (
    check_engine_falls_back_to_the_reference_path,
    check_matches_bi_encoder_goldens,
    check_one_training_step_moves,
    check_strict_loading,
)

# nomic-embed-text's config.json keys (Nomic's own dialect) for the tiny fixture's sizes
ORIGINAL_DIALECT = {
    "model_type": "nomic_bert", "architectures": ["NomicBertModel"], "vocab_size": None, "n_embd": 32, "n_layer": 2,
    "n_head": 4, "n_inner": 48, "n_positions": 128, "rotary_emb_base": 1000, "rotary_emb_fraction": 1.0,
    "rotary_emb_interleaved": False, "rotary_scaling_factor": None, "activation_function": "swiglu",
    "layer_norm_epsilon": 1e-12, "prenorm": False, "qkv_proj_bias": False, "mlp_fc1_bias": False,
    "mlp_fc2_bias": False, "causal": False, "type_vocab_size": 2, "pad_token_id": 0,
    "auto_map": {"AutoConfig": "nomic-ai/nomic-bert-2048--configuration_hf_nomic_bert.NomicBertConfig",
                 "AutoModel": "nomic-ai/nomic-bert-2048--modeling_hf_nomic_bert.NomicBertModel"},
}


@pytest.fixture(scope="module")
def g() -> dict[str, np.ndarray]:
    return golden("nomic_golden")


@pytest.fixture(scope="module")
def st() -> SentenceTransformer:
    return SentenceTransformer(str(FIXTURES / "nomic_st"), device="cpu")


def original_dialect_copy(tmp_path) -> str:
    """``nomic_plain`` with its config.json in Nomic's original keys (as the hub's nomic-embed-text ships it)."""
    path = tmp_path / "original"
    shutil.copytree(FIXTURES / "nomic_plain", path)
    native = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**ORIGINAL_DIALECT, "vocab_size": native["vocab_size"]}))
    return str(path)


# ---- parity with sentence-transformers 6.2 -------------------------------------------------------------------------


def test_token_ids_and_types_match_st(st, g, texts):
    features = st.preprocess(texts["tiny"])
    assert sorted(features) == ["attention_mask", "input_ids", "modality", "token_type_ids"]
    np.testing.assert_array_equal(features["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_array_equal(features["attention_mask"].numpy(), g["attention_mask"])


def test_embeddings_with_and_without_prompts_match_st(st, g, texts):
    assert np.abs(st.encode(texts["tiny"], batch_size=3) - g["emb"]).max() <= 2e-5
    assert np.abs(st.encode_query(texts["tiny"], batch_size=4) - g["emb_query"]).max() <= 2e-5
    assert np.abs(st.encode_document(texts["tiny"], batch_size=4) - g["emb_document"]).max() <= 2e-5
    assert np.abs(g["emb_query"] - g["emb_document"]).max() > 1e-2  # search_query: / search_document: differ
    alone = np.stack([st.encode([t])[0] for t in texts["tiny"]])
    assert np.abs(alone - g["emb_alone"]).max() <= 2e-5


def test_token_embeddings_and_every_layer_match_transformers(st, g, texts):
    check_matches_bi_encoder_goldens(st, g, texts["tiny"])  # also the embeddings, batched and alone


def test_a_plain_folder_and_the_same_folder_in_nomics_original_dialect_match_st(g, texts, tmp_path):
    plain = SentenceTransformer(str(FIXTURES / "nomic_plain"), device="cpu")
    assert [type(m).__name__ for m in plain] == ["Transformer", "Pooling"] and plain[1].pooling_mode == "mean"
    assert np.abs(plain.encode(texts["tiny"], batch_size=4) - g["plain_emb"]).max() <= 2e-5
    original = SentenceTransformer(original_dialect_copy(tmp_path), device="cpu")  # auto_map read, never run
    config = original[0].auto_model.config
    assert (config.hidden_size, config.intermediate_size, config.max_position_embeddings) == (32, 48, 128)
    assert np.abs(original.encode(texts["tiny"], batch_size=4) - g["plain_emb"]).max() <= 2e-5


# ---- the encoder itself ---------------------------------------------------------------------------------------------


def tiny(**overrides) -> NomicBertConfig:
    return NomicBertConfig(**{**dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=24, max_position_embeddings=64), **overrides})


def test_rotary_positions_make_order_matter_and_padding_is_masked():
    torch.manual_seed(0)
    enc = NomicBertModel(tiny()).eval()
    ids, mask = torch.tensor([[1, 5, 7, 9, 2], [1, 6, 8, 2, 0]]), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    with torch.no_grad():
        out = enc(ids, mask).last_hidden_state
        alone = enc(ids[1:, :4]).last_hidden_state
        swapped = enc(ids[:1, [0, 2, 1, 3, 4]]).last_hidden_state
    assert torch.isfinite(out).all() and (out[1, :4] - alone[0]).abs().max() <= 1e-5
    assert (swapped[0, [0, 2, 1, 3, 4]] - out[0]).abs().max() > 1e-3  # not a bag of tokens


def test_parameter_count_matches_the_built_encoder():
    cfg = tiny()
    assert cfg.parameter_count() == sum(p.numel() for p in NomicBertModel(cfg).parameters())


def test_config_round_trips_in_both_dialects(tmp_path):
    native = EncoderConfig.from_hf_config(json.loads((FIXTURES / "nomic_plain" / "config.json").read_text()))
    assert isinstance(native, NomicBertConfig) and native.rope_theta == 1000.0 and native.hidden_act == "silu"
    assert EncoderConfig.from_hf_config(native.to_hf_config()) == native
    original = EncoderConfig.from_hf_config({**ORIGINAL_DIALECT, "vocab_size": native.vocab_size})
    assert original == native
    saved = original.to_hf_config()  # both dialects written: transformers' keys and the original ones kept
    assert (saved["hidden_size"], saved["n_embd"], saved["rope_parameters"]["rope_theta"]) == (32, 32, 1000.0)


@pytest.mark.parametrize("edit,message", [
    ({"prenorm": True}, "prenorm=True is not supported"),
    ({"rotary_emb_fraction": 0.5}, "rotary_emb_fraction=0.5"),
    ({"rotary_emb_interleaved": True}, "rotary_emb_interleaved=True"),
    ({"rotary_scaling_factor": 2.0}, "rotary_scaling_factor=2.0"),
    ({"qkv_proj_bias": True}, "qkv_proj_bias=True"),
    ({"mlp_fc1_bias": True}, "mlp_fc1_bias=True"),
    ({"activation_function": "gelu"}, "activation_function='gelu'"),
    ({"causal": True}, "causal=True"),
    ({"rope_parameters": {"rope_type": "yarn", "factor": 2.0}}, "rope_type='yarn'"),
    ({"n_head": 6, "n_embd": 30}, "even head size"),
    ({"type_vocab_size": 0}, "type_vocab_size=0"),
    ({"moe_every_n_layers": 2, "num_experts": 8}, "mixture of experts"),
])
def test_unsupported_options_are_refused_by_name(edit, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig.from_hf_config({**ORIGINAL_DIALECT, "vocab_size": 40, **edit})


# ---- loading and saving ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.update({"encoder.layers.1.attn.Wqkv.bias": torch.zeros(96)}), r"encoder\.layers\.1\.attn\.Wqkv\.bias"),
    (lambda s: s.pop("encoder.layers.0.mlp.fc12.weight"), r"layers\.0\.ffn\.gate\.weight"),
])
def test_strict_loading_names_an_unknown_and_a_missing_key(edit, message, tmp_path):
    check_strict_loading(FIXTURES / "nomic_st", edit, message, tmp_path / "edited")


@pytest.mark.parametrize("name", ["nomic_st", "nomic_plain"])
def test_save_then_reload_is_identical_and_writes_nomics_names(name, tmp_path, texts):
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    model.save(str(tmp_path / "saved"))
    again = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    np.testing.assert_array_equal(model.encode(texts["tiny"]), again.encode(texts["tiny"]))
    saved = set(load_file(tmp_path / "saved" / "model.safetensors"))
    assert saved == set(load_file(FIXTURES / name / "model.safetensors"))
    assert json.loads((tmp_path / "saved" / "config.json").read_text())["model_type"] == "nomic_bert"


def test_trust_remote_code_as_the_model_card_asks_changes_nothing_and_heads_are_refused_by_name(g, texts):
    from embedkit.sparse_encoder.modules import MLMTransformer

    trusted = SentenceTransformer(str(FIXTURES / "nomic_st"), device="cpu", trust_remote_code=True)
    assert np.abs(trusted.encode(texts["tiny"], batch_size=3) - g["emb"]).max() <= 2e-5
    with pytest.raises(ValueError, match="sequence classification heads of nomic_bert models are not supported"):
        CrossEncoder(str(FIXTURES / "nomic_plain"), device="cpu")
    with pytest.raises(ValueError, match="masked-LM heads of nomic_bert models are not supported"):
        MLMTransformer(str(FIXTURES / "nomic_plain"))


# ---- engine and training --------------------------------------------------------------------------------------------


def test_engine_falls_back_to_the_reference_path_default_and_optimized(g, texts):
    check_engine_falls_back_to_the_reference_path(str(FIXTURES / "nomic_st"), texts["tiny"], g["emb"])


def test_one_training_step_with_multiple_negatives_ranking_loss(tmp_path):
    check_one_training_step_moves(str(FIXTURES / "nomic_st"), str(tmp_path), [
        "0.auto_model.layers.1.attn.qkv.weight", "0.auto_model.layers.0.ffn.gate.weight",
        "0.auto_model.layers.1.ffn_norm.weight", "0.auto_model.embed.tok.weight"])
