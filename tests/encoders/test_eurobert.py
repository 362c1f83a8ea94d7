"""EuroBERT: parity with sentence-transformers 6.2 on transformers 5's native ``eurobert`` (fixtures from
tests/generate_eurobert_fixtures.py): Llama's layers made bidirectional, a plain masked-LM folder, CrossEncoders with
each ``classifier_pooling``; refusals, saving in transformers' names, the engine's fallback and one training step."""

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
from embedkit.encoders.heads import EuroBertClassificationHead
from embedkit.encoders.llama import LlamaConfig
from tests.conftest import FIXTURES, golden
from tests.encoders.family_checks import (
    ce_golden_pairs,
    check_engine_falls_back_to_the_reference_path,
    check_matches_bi_encoder_goldens,
    check_one_training_step_moves,
    check_save_then_reload,
)

CE_FOLDERS = {"eurobert_ce_late": ("late", 1), "eurobert_ce_bos": ("bos", 2), "eurobert_ce_mean": ("mean", 1)}


@pytest.fixture(scope="module")
def g() -> dict[str, np.ndarray]:
    return golden("eurobert_golden")


@pytest.fixture(scope="module")
def st() -> SentenceTransformer:
    return SentenceTransformer(str(FIXTURES / "eurobert_st"), device="cpu")


# ---- parity with sentence-transformers 6.2 -------------------------------------------------------------------------


def test_token_ids_match_st_and_the_config_is_bidirectional(st, g, texts):
    features = st.preprocess(texts["tiny"])
    assert sorted(features) == ["attention_mask", "input_ids", "modality"]  # as ST 6 gives them
    np.testing.assert_array_equal(features["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_array_equal(features["attention_mask"].numpy(), g["attention_mask"])
    config = st[0].auto_model.config
    assert isinstance(config, LlamaConfig) and config.model_type == "eurobert" and not config.is_causal
    assert (config.num_key_value_heads, config.head_dim, config.rope_theta) == (2, 16, 250000.0)


def test_embeddings_token_embeddings_and_every_layer_match_st(st, g, texts):
    check_matches_bi_encoder_goldens(st, g, texts["tiny"])


def test_a_token_sees_the_tokens_after_it():
    """Bidirectional: changing the last token changes the first token's output (a causal stack would not)."""
    model = SentenceTransformer(str(FIXTURES / "eurobert_st"), device="cpu")
    encoder = model[0].auto_model
    ids = torch.tensor([[0, 40, 41, 42, 1], [0, 40, 41, 43, 1]])
    with torch.no_grad():
        out = encoder(ids, torch.ones_like(ids)).last_hidden_state
    assert (out[0, 0] - out[1, 0]).abs().max() > 1e-4


def test_a_masked_lm_folder_matches_st_and_leaves_the_head_aside(g, texts, caplog):
    with caplog.at_level(logging.INFO):
        mlm = SentenceTransformer(str(FIXTURES / "eurobert_mlm"), device="cpu")
    assert [type(m).__name__ for m in mlm] == ["Transformer", "Pooling"] and mlm[1].pooling_mode == "mean"
    assert "lm_head.* (2 weights)" in caplog.text
    config = mlm[0].auto_model.config
    assert config.attention_bias and config.attention_output_bias and config.mlp_bias
    assert np.abs(mlm.encode(texts["tiny"], batch_size=4) - g["mlm_emb"]).max() <= 2e-5


@pytest.mark.parametrize("name", sorted(CE_FOLDERS))
def test_cross_encoder_scores_match_st_for_each_classifier_pooling(name, g):
    ce = CrossEncoder(str(FIXTURES / name), device="cpu")
    pooling, labels = CE_FOLDERS[name]
    key = name.removeprefix("eurobert_")
    assert ce.model.classifier.pooling == pooling and ce.num_labels == labels
    np.testing.assert_array_equal(ce.preprocess(ce_golden_pairs())["input_ids"].numpy(), g[f"{key}_input_ids"])
    scores = ce.predict(ce_golden_pairs(), batch_size=4)
    assert scores.shape == g[f"{key}_scores"].shape and np.abs(scores - g[f"{key}_scores"]).max() <= 2e-5


# ---- config and head ------------------------------------------------------------------------------------------------


def test_the_config_round_trips_and_never_writes_is_causal():
    hf = json.loads((FIXTURES / "eurobert_st" / "config.json").read_text())
    config = EncoderConfig.from_hf_config(hf)
    assert EncoderConfig.from_hf_config(config.to_hf_config()) == config
    assert "is_causal" not in config.to_hf_config()
    assert not EncoderConfig.from_hf_config({**hf, "is_causal": True}).is_causal  # EuroBERT's attention never is


def test_the_head_pools_only_real_tokens_and_unknown_poolings_are_refused():
    torch.manual_seed(0)
    hidden, mask = torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    for pooling in ("late", "mean", "bos"):
        head = EuroBertClassificationHead(8, 3, pooling).eval()
        with torch.no_grad():
            padded, trimmed = head(hidden, None, mask), head(hidden[:1, :3], None, mask[:1, :3])
        assert torch.allclose(padded[:1], trimmed, atol=1e-6), pooling
    with pytest.raises(ValueError, match="classifier_pooling='max'"):
        EuroBertClassificationHead(8, 1, "max")


# ---- loading and saving ---------------------------------------------------------------------------------------------


def test_strict_loading_names_an_unknown_key(tmp_path):
    path = tmp_path / "edited"
    shutil.copytree(FIXTURES / "eurobert_st", path)
    state = load_file(path / "model.safetensors")
    state["layers.0.self_attn.q_norm.weight"] = torch.ones(16)
    save_file(state, path / "model.safetensors")
    with pytest.raises(ValueError, match=r"layers\.0\.self_attn\.q_norm\.weight"):
        SentenceTransformer(str(path), device="cpu")


@pytest.mark.parametrize("name", ["eurobert_st", "eurobert_mlm", "eurobert_ce_late", "eurobert_ce_bos"])
def test_save_then_reload_is_identical_and_writes_transformers_names(name, tmp_path, texts):
    mlm = dict(encoder_prefix="model.", head_prefixes=("lm_head.",)) if name == "eurobert_mlm" else {}
    config, original_config = check_save_then_reload(name, tmp_path, texts["tiny"],
                                                     cross_encoder=name.startswith("eurobert_ce"), **mlm)
    assert config["model_type"] == "eurobert" and config["architectures"] == original_config["architectures"]
    assert config.get("classifier_pooling") == original_config.get("classifier_pooling")


def test_masked_lm_heads_are_refused_by_name():
    from embedkit.sparse_encoder.modules import MLMTransformer

    with pytest.raises(ValueError, match="masked-LM heads of eurobert models are not supported"):
        MLMTransformer(str(FIXTURES / "eurobert_mlm"))


# ---- engine and training --------------------------------------------------------------------------------------------


def test_engine_falls_back_to_the_reference_path_default_and_optimized(g, texts):
    check_engine_falls_back_to_the_reference_path(str(FIXTURES / "eurobert_st"), texts["tiny"], g["emb"])


def test_one_training_step_with_multiple_negatives_ranking_loss(tmp_path):
    check_one_training_step_moves(str(FIXTURES / "eurobert_st"), str(tmp_path), [
        "0.auto_model.layers.1.attn.q.weight", "0.auto_model.layers.0.mlp.gate.weight",
        "0.auto_model.final_norm.weight", "0.auto_model.embed.weight"])
