"""GTE (gte-multilingual-base, gte-base-en-v1.5, gte-multilingual-reranker-base): parity with sentence-transformers
6.2 on transformers 5's native ``gte`` (fixtures from tests/generate_gte_fixtures.py), Alibaba's original ``new``
dialect (the same weights under the names its own code uses), refusals, strict loading, saving in the checkpoints'
names, the engine's fallback and one training step."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from embedkit import CrossEncoder, SentenceTransformer
from embedkit.encoders import EncoderConfig
from embedkit.encoders.gte import GteConfig, GteModel
from tests.conftest import FIXTURES, golden
from tests.encoders.family_checks import (
    ce_golden_pairs,
    check_engine_falls_back_to_the_reference_path,
    check_matches_bi_encoder_goldens,
    check_one_training_step_moves,
    check_save_then_reload,
    check_strict_loading,
)

# gte-multilingual-base's config.json keys (Alibaba's original dialect), for the tiny fixture's sizes
ORIGINAL_DIALECT = {
    "model_type": "new", "architectures": ["NewModel"], "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 48, "hidden_act": "gelu", "max_position_embeddings": 128,
    "type_vocab_size": 1, "layer_norm_eps": 1e-12, "pad_token_id": 1, "rope_theta": 160000,
    "rope_scaling": None, "position_embedding_type": "rope", "layer_norm_type": "layer_norm",
    "logn_attention_scale": False, "logn_attention_clip1": False, "pack_qkv": True, "unpad_inputs": False,
    "use_memory_efficient_attention": False, "classifier_dropout": 0.0,
    "auto_map": {"AutoConfig": "Alibaba-NLP/new-impl--configuration.NewConfig",
                 "AutoModel": "Alibaba-NLP/new-impl--modeling.NewModel"},
}


@pytest.fixture(scope="module")
def g() -> dict[str, np.ndarray]:
    return golden("gte_golden")


@pytest.fixture(scope="module")
def st() -> SentenceTransformer:
    return SentenceTransformer(str(FIXTURES / "gte_st"), device="cpu")


def original_dialect_copy(name: str, tmp_path, architecture: str = "NewModel") -> str:
    """A fixture folder as Alibaba's hub folders ship it: ``model_type: new`` with an ``auto_map``, ``rope_theta``,
    and a classifier's encoder under ``new.``."""
    path = tmp_path / f"original_{name}"
    shutil.copytree(FIXTURES / name, path)
    native = json.loads((path / "config.json").read_text())
    config = {**ORIGINAL_DIALECT, "vocab_size": native["vocab_size"], "architectures": [architecture]}
    for key in ("num_labels", "id2label", "label2id"):
        if key in native:
            config[key] = native[key]
    (path / "config.json").write_text(json.dumps(config))
    state = load_file(path / "model.safetensors")
    save_file({("new." + k.removeprefix("gte.") if k.startswith("gte.") else k): v for k, v in state.items()},
              path / "model.safetensors")
    return str(path)


# ---- parity with sentence-transformers 6.2 -------------------------------------------------------------------------


def test_token_ids_match_st_without_token_types(st, g, texts):
    features = st.preprocess(texts["tiny"])
    assert sorted(features) == ["attention_mask", "input_ids", "modality"]  # as ST 6 gives them
    assert st.max_seq_length == 128
    np.testing.assert_array_equal(features["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_array_equal(features["attention_mask"].numpy(), g["attention_mask"])


def test_embeddings_token_embeddings_and_every_layer_match_st(st, g, texts):
    check_matches_bi_encoder_goldens(st, g, texts["tiny"])


def test_an_english_mlm_folder_with_scaled_rotary_positions_matches_st_and_leaves_the_head_aside(g, texts, caplog):
    with caplog.at_level(logging.INFO):
        en = SentenceTransformer(str(FIXTURES / "gte_en"), device="cpu")
    assert [type(m).__name__ for m in en] == ["Transformer", "Pooling"] and en[1].pooling_mode == "mean"
    assert "ignoring head weights not used for feature-extraction: ['mlm.bias', 'mlm.dense.bias'" in caplog.text
    config = en[0].auto_model.config
    assert (config.type_vocab_size, config.rope_theta, config.rope_scaling) == (
        0, 500000.0, {"rope_type": "linear", "factor": 2.0})
    assert en[0].auto_model.embed.seg is None
    np.testing.assert_array_equal(en.preprocess(texts["tiny"])["input_ids"].numpy(), g["en_input_ids"])
    assert np.abs(en.encode(texts["tiny"], batch_size=4) - g["en_emb"]).max() <= 2e-5


def test_cross_encoder_scores_match_st(g):
    ce = CrossEncoder(str(FIXTURES / "gte_ce"), device="cpu")
    pairs = ce_golden_pairs()
    features = ce.preprocess(pairs)
    assert "token_type_ids" not in features
    np.testing.assert_array_equal(features["input_ids"].numpy(), g["ce_input_ids"])
    scores = ce.predict(pairs, batch_size=4)
    assert scores.shape == g["ce_scores"].shape and np.abs(scores - g["ce_scores"]).max() <= 2e-5


def test_alibabas_original_dialect_loads_the_same_weights_as_transformers_does(g, texts, tmp_path):
    """transformers reads a ``new`` checkpoint as ``gte`` by renaming only; the same folders in that dialect give the
    same outputs here, and saving keeps the dialect and its ``auto_map``."""
    original = SentenceTransformer(original_dialect_copy("gte_st", tmp_path), device="cpu")  # auto_map read, not run
    config = original[0].auto_model.config
    assert (config.model_type, config.rope_theta, config.rope_scaling) == ("new", 160000.0, None)
    assert np.abs(original.encode(texts["tiny"], batch_size=3) - g["emb"]).max() <= 2e-5
    reranker = CrossEncoder(original_dialect_copy("gte_ce", tmp_path, "NewForSequenceClassification"), device="cpu")
    assert np.abs(reranker.predict(ce_golden_pairs(), batch_size=4) - g["ce_scores"]).max() <= 2e-5
    reranker.save(str(tmp_path / "saved_ce"))
    saved = json.loads((tmp_path / "saved_ce" / "config.json").read_text())
    assert saved["model_type"] == "new" and saved["rope_theta"] == 160000.0 and "auto_map" in saved
    assert saved["architectures"] == ["NewForSequenceClassification"] and "rope_parameters" not in saved
    keys = set(load_file(tmp_path / "saved_ce" / "model.safetensors"))
    assert "new.encoder.layer.0.attention.qkv_proj.weight" in keys and "classifier.weight" in keys
    assert not any(k.startswith("gte.") for k in keys)


# ---- the encoder itself ---------------------------------------------------------------------------------------------


def tiny(**overrides) -> GteConfig:
    return GteConfig(**{**dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=24, max_position_embeddings=64, pad_token_id=0), **overrides})


def test_rotary_positions_make_order_matter_and_padding_is_masked():
    torch.manual_seed(0)
    enc = GteModel(tiny()).eval()
    ids, mask = torch.tensor([[1, 5, 7, 9, 2], [1, 6, 8, 2, 0]]), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    with torch.no_grad():
        out = enc(ids, mask).last_hidden_state
        alone = enc(ids[1:, :4]).last_hidden_state
        swapped = enc(ids[:1, [0, 2, 1, 3, 4]]).last_hidden_state
    assert torch.isfinite(out).all() and (out[1, :4] - alone[0]).abs().max() <= 1e-5
    assert (swapped[0, [0, 2, 1, 3, 4]] - out[0]).abs().max() > 1e-3  # not a bag of tokens


@pytest.mark.parametrize("types,pooler", [(1, False), (0, False), (2, True)])
def test_parameter_count_matches_the_built_encoder(types, pooler):
    cfg = tiny(type_vocab_size=types)
    assert cfg.parameter_count(pooler) == sum(p.numel() for p in GteModel(cfg, add_pooler=pooler).parameters())


def test_config_round_trips_in_both_dialects():
    native = EncoderConfig.from_hf_config(json.loads((FIXTURES / "gte_en" / "config.json").read_text()))
    assert isinstance(native, GteConfig) and native.rope_scaling == {"rope_type": "linear", "factor": 2.0}
    assert EncoderConfig.from_hf_config(native.to_hf_config()) == native
    assert native.to_hf_config()["rope_parameters"] == {"rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0}
    original = EncoderConfig.from_hf_config({**ORIGINAL_DIALECT, "vocab_size": 40})
    assert original.model_type == "new" and EncoderConfig.from_hf_config(original.to_hf_config()) == original


@pytest.mark.parametrize("edit,message", [
    ({"rope_scaling": {"type": "ntk", "factor": 2.0}}, "rope_scaling="),
    ({"logn_attention_scale": True}, "logn_attention_scale=True"),
    ({"layer_norm_type": "rms_norm"}, "layer_norm_type='rms_norm'"),
    ({"position_embedding_type": "absolute"}, "position_embedding_type='absolute'"),
    ({"pack_qkv": False}, "pack_qkv=False"),
    ({"hidden_size": 30, "num_attention_heads": 6}, "even head size"),
    ({"hidden_act": "quick_gelu"}, "hidden_act must be one of"),
])
def test_unsupported_original_options_are_refused_by_name_in_both_dialects(edit, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig.from_hf_config({**ORIGINAL_DIALECT, "vocab_size": 40, **edit})
    native = json.loads((FIXTURES / "gte_st" / "config.json").read_text())
    with pytest.raises(ValueError, match=message):  # a gte config that carries an original key is refused as well
        EncoderConfig.from_hf_config({**native, **edit})


@pytest.mark.parametrize("rope,message", [
    ({"rope_type": "dynamic", "factor": 2.0}, "rope_type='dynamic'"),
    ({"rope_type": "yarn", "factor": 4.0}, "rope_type='yarn'"),
    ({"rope_type": "llama3", "factor": 8.0}, r"'llama3' rotary scaling lacks \['low_freq_factor'"),
    ({"rope_type": "linear"}, r"'linear' rotary scaling lacks \['factor'\]"),
])
def test_unsupported_or_incomplete_rotary_scaling_is_refused_by_name(rope, message):
    config = json.loads((FIXTURES / "gte_st" / "config.json").read_text())
    with pytest.raises(ValueError, match=message):
        EncoderConfig.from_hf_config({**config, "rope_parameters": {**rope, "rope_theta": 10000.0}})


# ---- loading and saving ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.update({"encoder.layer.1.mlp.up_gate_proj.bias": torch.zeros(96)}),
     r"encoder\.layer\.1\.mlp\.up_gate_proj\.bias"),
    (lambda s: s.pop("encoder.layer.0.attention.qkv_proj.bias"), r"layers\.0\.attn\.qkv\.bias"),
    (lambda s: s.pop("embeddings.token_type_embeddings.weight"), r"embed\.seg\.weight"),
])
def test_strict_loading_names_an_unknown_and_a_missing_key(edit, message, tmp_path):
    check_strict_loading(FIXTURES / "gte_st", edit, message, tmp_path / "edited")


@pytest.mark.parametrize("name", ["gte_st", "gte_en", "gte_ce"])
def test_save_then_reload_is_identical_and_writes_the_checkpoints_names(name, tmp_path, texts):
    mlm = dict(encoder_prefix="gte.", head_prefixes=("lm_head.",)) if name == "gte_en" else {}
    config, original_config = check_save_then_reload(name, tmp_path, texts["tiny"], cross_encoder=name == "gte_ce",
                                                     **mlm)
    assert config["model_type"] == "gte" and config["rope_parameters"] == original_config["rope_parameters"]


def test_a_new_reranker_head_on_a_bi_encoder_starts_from_a_fresh_pooler(texts):
    ce = CrossEncoder(str(FIXTURES / "gte_st"), num_labels=1, device="cpu")
    assert ce.model.encoder.pooler is not None and ce.predict(ce_golden_pairs()[:2]).shape == (2,)


def test_splade_on_the_masked_lm_folder_matches_st_and_saves_transformers_names(g, texts, tmp_path):
    from embedkit import SparseEncoder

    se = SparseEncoder(str(FIXTURES / "gte_en"), device="cpu")  # MLMTransformer + max SpladePooling, as ST builds
    splade = se.encode(texts["tiny"], batch_size=3).to_dense().numpy()
    assert np.abs(splade - g["en_splade"]).max() <= 2e-5
    assert ((splade > 0) == (g["en_splade"] > 0)).all()  # the same active dimensions
    se.save(str(tmp_path / "saved"))
    keys = set(load_file(next((tmp_path / "saved").rglob("model.safetensors"))))
    assert "lm_head.decoder.bias" in keys and "gte.encoder.layer.0.attention.qkv_proj.weight" in keys
    again = SparseEncoder(str(tmp_path / "saved"), device="cpu")
    np.testing.assert_array_equal(again.encode(texts["tiny"], batch_size=3).to_dense().numpy(), splade)


# ---- engine and training --------------------------------------------------------------------------------------------


def test_engine_falls_back_to_the_reference_path_default_and_optimized(g, texts):
    check_engine_falls_back_to_the_reference_path(str(FIXTURES / "gte_st"), texts["tiny"], g["emb"])


def test_one_training_step_with_multiple_negatives_ranking_loss(tmp_path):
    check_one_training_step_moves(str(FIXTURES / "gte_st"), str(tmp_path), [
        "0.auto_model.layers.1.attn.qkv.weight", "0.auto_model.layers.1.attn.qkv.bias",
        "0.auto_model.layers.0.ffn.up_gate.weight", "0.auto_model.layers.1.ffn_norm.weight",
        "0.auto_model.embed.tok.weight"])


@pytest.mark.parametrize("types,passed", [(0, False), (1, False), (2, True)])
def test_token_types_reach_the_encoder_only_where_it_has_a_row_for_type_1(types, passed):
    from embedkit.encoders.input_limits import uses_token_types

    assert uses_token_types(tiny(type_vocab_size=types), "folder") is passed
