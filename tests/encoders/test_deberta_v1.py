"""DeBERTa v1 (``model_type: deberta``: deberta-base, nli-deberta-base): parity with sentence-transformers 6.2
(fixtures from tests/generate_deberta_v1_fixtures.py) for three attention layouts, the fused per-head ``in_proj``
worked out by hand, its config keys, strict loading, saving, refusals, the engine's fallback and a training step."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from embedkit import CrossEncoder, SentenceTransformer
from embedkit.encoders import EncoderConfig
from embedkit.encoders.deberta_v2 import DebertaV2Config, DebertaV2Model
from tests.conftest import FIXTURES, golden
from tests.encoders.family_checks import (
    ce_golden_pairs,
    check_engine_falls_back_to_the_reference_path,
    check_matches_bi_encoder_goldens,
    check_one_training_step_moves,
    check_save_then_reload,
    check_strict_loading,
)


@pytest.fixture(scope="module")
def g() -> dict[str, np.ndarray]:
    return golden("deberta1_golden")


@pytest.fixture(scope="module")
def st() -> SentenceTransformer:
    return SentenceTransformer(str(FIXTURES / "deberta1_st"), device="cpu")


# ---- parity with sentence-transformers 6.2 -------------------------------------------------------------------------


def test_token_ids_match_st_with_token_types_as_transformers_gives_them(st, g, texts):
    features = st.preprocess(texts["tiny"])
    assert sorted(features) == ["attention_mask", "input_ids", "modality", "token_type_ids"]  # as ST 6 gives them
    np.testing.assert_array_equal(features["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_array_equal(features["attention_mask"].numpy(), g["attention_mask"])
    assert (features["input_ids"][:, 0] == 1).all()  # [CLS]
    assert g["attention_mask"].sum(1).max() > 2 * 16  # texts reach past the clamp of the relative distances


def test_embeddings_token_embeddings_and_every_layer_match_st(st, g, texts):
    check_matches_bi_encoder_goldens(st, g, texts["tiny"])


@pytest.mark.parametrize("name,labels", [("deberta1_ce3", 3), ("deberta1_ce1", 1)])
def test_cross_encoder_scores_and_token_types_match_st(name, labels, g):
    ce = CrossEncoder(str(FIXTURES / name), device="cpu")
    key = name.removeprefix("deberta1_")
    pairs = ce_golden_pairs()
    features = ce.preprocess(pairs)
    np.testing.assert_array_equal(features["input_ids"].numpy(), g[f"{key}_input_ids"])
    np.testing.assert_array_equal(features["token_type_ids"].numpy(), g[f"{key}_token_type_ids"])
    scores = ce.predict(pairs, batch_size=4)
    assert scores.shape == g[f"{key}_scores"].shape and (scores.ndim == 1) == (labels == 1)
    assert np.abs(scores - g[f"{key}_scores"]).max() <= 2e-5


# ---- the encoder itself ---------------------------------------------------------------------------------------------


def tiny(**overrides) -> DebertaV2Config:
    hf = {"model_type": "deberta", "vocab_size": 40, "hidden_size": 8, "num_hidden_layers": 1,
          "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 32,
          "relative_attention": True, "pos_att_type": "c2p|p2c", "hidden_dropout_prob": 0.0,
          "attention_probs_dropout_prob": 0.0, **overrides}
    return EncoderConfig.from_hf_config(hf)


def test_in_proj_rows_are_grouped_per_head_as_query_key_value():
    torch.manual_seed(0)
    attn = DebertaV2Model(tiny()).eval().layers[0].attn
    with torch.no_grad():
        for p in (attn.q_bias, attn.v_bias):
            p.normal_()
        x = torch.randn(1, 5, 8)
        q, k, v = attn.project(x)  # (1, H, T, Dh)
        rows = attn.in_proj.weight.view(2, 3, 4, 8)  # (H, query / key / value, Dh, D)
        for h in range(2):
            bias = slice(4 * h, 4 * h + 4)
            assert torch.allclose(q[0, h], x[0] @ rows[h, 0].T + attn.q_bias[bias], atol=1e-6)
            assert torch.allclose(k[0, h], x[0] @ rows[h, 1].T, atol=1e-6)  # the key has no bias
            assert torch.allclose(v[0, h], x[0] @ rows[h, 2].T + attn.v_bias[bias], atol=1e-6)


@pytest.mark.parametrize("overrides", [
    {}, {"pos_att_type": "c2p"}, {"pos_att_type": "p2c"}, {"pos_att_type": None},
    {"relative_attention": False, "position_biased_input": True, "type_vocab_size": 2, "embedding_size": 4},
])
def test_parameter_count_matches_the_built_encoder(overrides):
    cfg = tiny(**overrides)
    assert cfg.parameter_count() == sum(p.numel() for p in DebertaV2Model(cfg).parameters())


def test_config_reads_v1_keys_ignores_v2_only_ones_and_round_trips():
    cfg = EncoderConfig.from_hf_config(json.loads((FIXTURES / "deberta1_ce3" / "config.json").read_text()))
    assert isinstance(cfg, DebertaV2Config) and cfg.model_type == "deberta" and cfg.v1
    assert (cfg.attention_span, cfg.position_biased_input, cfg.type_vocab_size) == (128, False, 0)  # deberta-base's
    assert EncoderConfig.from_hf_config(cfg.to_hf_config()) == cfg
    assert not {"position_buckets", "share_att_key", "norm_rel_ebd"} & set(cfg.to_hf_config())
    # v1 never reads v2's options: a v1 config carrying them builds the same encoder
    with_v2_keys = tiny(position_buckets=4, share_att_key=True, norm_rel_ebd="layer_norm", conv_kernel_size=3)
    assert (with_v2_keys.position_buckets, with_v2_keys.share_att_key, with_v2_keys.norm_rel_ebd) == (-1, False,
                                                                                                     False)
    assert with_v2_keys.to_hf_config()["position_buckets"] == 4  # and writes them back as they were
    defaults = EncoderConfig.from_hf_config({"model_type": "deberta"})  # transformers' DebertaConfig defaults
    assert (defaults.vocab_size, defaults.hidden_size, defaults.num_hidden_layers) == (50265, 768, 12)


def test_talking_heads_are_refused_by_name():
    with pytest.raises(ValueError, match="talking-head attention is not supported"):
        tiny(talking_head=True)


# ---- loading and saving ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.update({"encoder.layer.1.attention.self.query_proj.weight": torch.zeros(2)}),
     r"encoder\.layer\.1\.attention\.self\.query_proj\.weight"),
    (lambda s: s.pop("encoder.layer.0.attention.self.q_bias"), r"layers\.0\.attn\.q_bias"),
])
def test_strict_loading_names_an_unknown_and_a_missing_key(edit, message, tmp_path):
    check_strict_loading(FIXTURES / "deberta1_st", edit, message, tmp_path / "edited")


@pytest.mark.parametrize("name", ["deberta1_st", "deberta1_ce3", "deberta1_ce1"])
def test_save_then_reload_is_identical_and_writes_v1_names(name, tmp_path, texts):
    config, original_config = check_save_then_reload(name, tmp_path, texts["tiny"],
                                                     cross_encoder=name.startswith("deberta1_ce"))
    assert config["model_type"] == "deberta" and config["architectures"] == original_config["architectures"]
    for key in ("pos_att_type", "max_relative_positions", "position_biased_input", "type_vocab_size"):
        assert config[key] == original_config[key], key


# ---- engine, int8 and training --------------------------------------------------------------------------------------


def test_engine_falls_back_to_the_reference_path_default_and_optimized(g, texts):
    check_engine_falls_back_to_the_reference_path(str(FIXTURES / "deberta1_st"), texts["tiny"], g["emb"])


def test_one_training_step_moves_the_fused_projection_and_its_biases(tmp_path):
    check_one_training_step_moves(str(FIXTURES / "deberta1_st"), str(tmp_path), [
        "0.auto_model.layers.0.attn.in_proj.weight", "0.auto_model.layers.1.attn.q_bias",
        "0.auto_model.layers.1.attn.v_bias", "0.auto_model.layers.0.attn.pos_k.weight",
        "0.auto_model.rel_embed.weight", "0.auto_model.embed.pos.weight"])


def test_a_sparse_encoder_on_deberta_v1_is_refused_by_name():
    from embedkit.sparse_encoder.modules import MLMTransformer

    with pytest.raises(ValueError, match="masked-LM heads of deberta models are not supported"):
        MLMTransformer(str(FIXTURES / "deberta1_st"))
