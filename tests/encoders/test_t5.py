"""The T5 / mT5 encoder (GTR, Sentence-T5): parity with sentence-transformers 6.2 (fixtures from
tests/generate_t5_fixtures.py), relative position buckets, padding, a whole encoder-decoder checkpoint, strict
loading, saving in T5EncoderModel's names, refusals, the engine's fallback and one training step."""

from __future__ import annotations

import json
import logging
import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from embedkit import CrossEncoder, SentenceTransformer
from embedkit.encoders import EncoderConfig
from embedkit.encoders.relative_position import relative_position_bucket
from embedkit.encoders.t5 import NO_POSITION_LIMIT, T5Config, T5EncoderModel
from tests.conftest import FIXTURES, golden
from tests.encoders.family_checks import check_engine_falls_back_to_the_reference_path, check_one_training_step_moves

FOLDERS = {"t5_st": "emb", "t5_full": "full_emb", "mt5_encoder": "mt5_emb", "umt5_encoder": "umt5_emb"}


@pytest.fixture(scope="module")
def g() -> dict[str, np.ndarray]:
    return golden("t5_golden")


@pytest.fixture(scope="module")
def st() -> SentenceTransformer:
    return SentenceTransformer(str(FIXTURES / "t5_st"), device="cpu")


# ---- parity with sentence-transformers 6.2 -------------------------------------------------------------------------


def test_token_ids_match_st_with_eos_appended_and_no_token_types(st, g, texts):
    features = st.preprocess(texts["tiny"])
    assert "token_type_ids" not in features and st.max_seq_length == 128
    np.testing.assert_array_equal(features["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_array_equal(features["attention_mask"].numpy(), g["attention_mask"])
    lengths = features["attention_mask"].sum(1)
    last_real = features["input_ids"][torch.arange(len(lengths)), lengths - 1]
    assert (last_real == st.tokenizer.eos_token_id).all() and lengths.max() == 128  # </s> kept when truncated


@pytest.mark.parametrize("name", list(FOLDERS))
def test_embeddings_of_every_layout_match_st(name, g, texts):
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    assert np.abs(model.encode(texts["tiny"], batch_size=3) - g[FOLDERS[name]]).max() <= 2e-5
    expected = {"t5_st": ["Transformer", "Pooling", "Dense", "Normalize"]}.get(name, ["Transformer", "Pooling"])
    assert [type(m).__name__ for m in model] == expected and model[1].pooling_mode == "mean"
    config = model[0].auto_model.config
    assert (config.model_type, config.is_gated_act, config.hidden_act) == {
        "t5_st": ("t5", True, "gelu_new"), "t5_full": ("t5", False, "relu"), "mt5_encoder": ("mt5", True, "gelu_new"),
        "umt5_encoder": ("umt5", True, "gelu_new"),
    }[name]


def test_token_embeddings_and_every_layer_match_transformers(st, g, texts):
    mask = g["attention_mask"].astype(bool)
    for i, tokens in enumerate(st.encode(texts["tiny"][:5], output_value="token_embeddings")):
        real = mask[i][:len(tokens)]
        assert np.abs(tokens.numpy()[real] - g[f"token_embeddings_{i}"][real]).max() <= 2e-5
    ids, attention = torch.from_numpy(g["input_ids"][:4]), torch.from_numpy(g["attention_mask"][:4])
    with torch.no_grad():
        out = st[0].auto_model(ids, attention, output_hidden_states=True)
    hidden = torch.stack(out.hidden_states)  # (L + 1, B, T, D); the last one after the final norm, as HF
    assert hidden.shape == g["hidden_states"].shape and torch.equal(hidden[-1], out.last_hidden_state)
    real = attention.bool()
    assert (hidden[:, real] - torch.from_numpy(g["hidden_states"])[:, real]).abs().max() <= 2e-5


def test_a_text_alone_and_in_a_padded_batch_get_the_same_embedding(st, g, texts):
    alone = np.stack([st.encode([t])[0] for t in texts["tiny"]])
    assert np.abs(alone - g["emb_alone"]).max() <= 2e-5
    assert np.abs(alone - st.encode(texts["tiny"], batch_size=10)).max() <= 1e-5


# ---- the encoder itself ---------------------------------------------------------------------------------------------


def test_relative_position_buckets_follow_t5s_definition_worked_by_hand():
    # 32 buckets reaching 128 tokens (T5's defaults): 16 per direction (later keys: 16..31), 8 of them exact,
    # then 8 + floor(log(d / 8) / log(128 / 8) * 8), at most 15
    positions = torch.arange(300)
    buckets = relative_position_bucket(positions[None, :] - positions[:, None], 32, 128)  # (query, key)
    by_distance = {d: int(buckets[0, d]) if d >= 0 else int(buckets[-d, 0]) for d in
                   (0, -1, -7, -8, -15, -16, -127, -128, -299, 1, 7, 8, 15, 127, 299)}
    assert by_distance == {0: 0, -1: 1, -7: 7, -8: 8, -15: 9, -16: 10, -127: 15, -128: 15, -299: 15,
                           1: 17, 7: 23, 8: 24, 15: 25, 127: 31, 299: 31}
    for d in range(8, 128):  # every logarithmic bucket against the formula in floats
        assert int(buckets[d, 0]) == min(15, 8 + math.floor(math.log(d / 8) / math.log(16) * 8)), d
    assert torch.equal(buckets.diagonal(1), torch.full((299,), 17))  # the same distance, the same bucket


def tiny(**overrides) -> T5Config:
    fields = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, head_dim=12,
                  intermediate_size=24, relative_attention_num_buckets=8, relative_attention_max_distance=6)
    return T5Config(**{**fields, **overrides})


def test_the_bias_moves_scores_by_distance_and_padding_is_masked_with_finite_outputs():
    torch.manual_seed(0)
    enc = T5EncoderModel(tiny(is_gated_act=True, hidden_act="gelu_new")).eval()
    ids = torch.tensor([[3, 9, 4, 7, 1], [5, 6, 1, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    bias = enc.attention_bias(mask, 5, ids.device)
    assert bias.shape == (2, 2, 5, 5) and (bias[1, :, :, 3:] == torch.finfo(torch.float32).min).all()
    assert torch.equal(bias[0, :, 1, 2], enc.rel_bias.weight[5])  # key one ahead: bucket 8 // 2 + 1
    with torch.no_grad():
        out = enc(ids, mask).last_hidden_state
        alone = enc(ids[1:, :3]).last_hidden_state
        enc.rel_bias.weight.zero_()  # no position information left: a permutation of the tokens permutes outputs
        flat = enc(ids[:1]).last_hidden_state
        flipped = enc(ids[:1].flip(1)).last_hidden_state
    assert torch.isfinite(out).all() and (out[1, :3] - alone[0]).abs().max() <= 1e-5
    assert (flat.flip(1) - flipped).abs().max() <= 1e-5


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("model_type", ["t5", "umt5"])
def test_parameter_count_matches_the_built_encoder(gated, model_type):
    cfg = tiny(is_gated_act=gated, model_type=model_type)
    assert cfg.parameter_count() == sum(p.numel() for p in T5EncoderModel(cfg).parameters())


def test_umt5_layers_each_add_their_own_position_bias():
    """UMT5: every layer holds a bias table and uses it; T5: one table, the first layer's, shared by all."""
    torch.manual_seed(8)
    umt5 = T5EncoderModel(tiny(model_type="umt5")).eval()
    assert not hasattr(umt5, "rel_bias") and all(layer.rel_bias is not None for layer in umt5.layers)
    ids = torch.randint(1, 40, (1, 9))
    with torch.no_grad():
        for layer in umt5.layers:
            layer.rel_bias.weight.normal_(0, 1.0)
        before = umt5(ids, output_hidden_states=True).hidden_states  # embeddings, layer 0, layer 1 (normed)
        umt5.layers[1].rel_bias.weight.zero_()  # only the second layer's table changes
        after = umt5(ids, output_hidden_states=True).hidden_states
    assert torch.equal(after[1], before[1])  # the first layer does not read the second layer's table
    assert (after[2] - before[2]).abs().max() > 1e-3  # the second layer does


def test_config_reads_t5_and_mt5_keys_and_round_trips():
    hf = json.loads((FIXTURES / "t5_full" / "config.json").read_text())
    cfg = EncoderConfig.from_hf_config(hf)
    assert isinstance(cfg, T5Config) and (cfg.hidden_size, cfg.head_dim, cfg.num_attention_heads) == (32, 16, 4)
    assert (cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance) == (8, 16)
    assert cfg.max_position_embeddings == NO_POSITION_LIMIT
    saved = cfg.to_hf_config()
    assert saved["architectures"] == ["T5EncoderModel"] and saved["feed_forward_proj"] == "relu"
    assert saved["num_decoder_layers"] == hf["num_decoder_layers"]  # keys embedkit does not read are kept
    assert EncoderConfig.from_hf_config(saved) == cfg
    mt5 = EncoderConfig.from_hf_config({"model_type": "mt5", "vocab_size": 10, "d_model": 8, "num_heads": 2,
                                        "d_kv": 4, "d_ff": 16})
    assert (mt5.is_gated_act, mt5.hidden_act) == (True, "gelu_new")  # mT5's default: gated-gelu
    assert mt5.to_hf_config()["feed_forward_proj"] == "gated-gelu"
    assert mt5.to_hf_config()["architectures"] == ["MT5EncoderModel"]
    umt5 = EncoderConfig.from_hf_config({**mt5.to_hf_config(), "model_type": "umt5", "architectures": None})
    assert umt5.per_layer_bias and (umt5.is_gated_act, umt5.hidden_act) == (True, "gelu_new")
    assert umt5.to_hf_config()["architectures"] == ["UMT5EncoderModel"]
    silu = EncoderConfig.from_hf_config({"model_type": "t5", "vocab_size": 10, "feed_forward_proj": "gated-silu"})
    assert (silu.is_gated_act, silu.hidden_act, silu.to_hf_config()["feed_forward_proj"]) == (True, "silu",
                                                                                          "gated-silu")


@pytest.mark.parametrize("edit,message", [
    ({"feed_forward_proj": "fancy-relu"}, "is not 'ACT' or 'gated-ACT'"),
    ({"feed_forward_proj": "gated-relu-x"}, "is not 'ACT' or 'gated-ACT'"),
    ({"feed_forward_proj": "gated-softplus"}, "hidden_act must be one of"),
    ({"relative_attention_num_buckets": 2}, "must be at least 4"),
    ({"relative_attention_max_distance": 1}, "must be an integer above"),
    ({"d_kv": 0}, "d_kv=0 is outside"),
    ({"pad_token_id": 99}, "is not a row of the token embedding"),
])
def test_unsupported_or_inconsistent_configs_are_refused_by_name(edit, message):
    hf = {"model_type": "t5", "vocab_size": 20, "d_model": 8, "num_heads": 2, "d_kv": 4, "d_ff": 16, **edit}
    with pytest.raises(ValueError, match=message):
        EncoderConfig.from_hf_config(hf)


# ---- loading and saving ---------------------------------------------------------------------------------------------


def test_a_whole_encoder_decoder_checkpoint_leaves_its_decoder_and_lm_head_aside_and_says_so(caplog, tmp_path, g,
                                                                                              texts):
    with caplog.at_level(logging.INFO):
        SentenceTransformer(str(FIXTURES / "t5_full"), device="cpu")
    assert "decoder.* (15 weights)" in caplog.text
    path = tmp_path / "untied"  # an untied language-model head, as mT5's checkpoints have
    shutil.copytree(FIXTURES / "t5_full", path)
    state = load_file(path / "model.safetensors")
    save_file({**state, "lm_head.weight": torch.randn_like(state["shared.weight"])}, path / "model.safetensors")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        model = SentenceTransformer(str(path), device="cpu")
    assert "'decoder.* (15 weights)', 'lm_head.weight'" in caplog.text
    assert np.abs(model.encode(texts["tiny"], batch_size=4) - g["full_emb"]).max() <= 2e-5


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.update({"encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight": torch.zeros(8, 4)}),
     r"encoder\.block\.1\.layer\.0\.SelfAttention\.relative_attention_bias"),  # UMT5's per-layer bias: not T5
    (lambda s: s.pop("encoder.block.1.layer.1.DenseReluDense.wi_1.weight"), r"layers\.1\.ffn\.wi_1\.weight"),
    (lambda s: s.update({"encoder.embed_tokens.weight": s["shared.weight"] + 1}), r"both hold embed\.weight"),
])
def test_strict_loading_names_unknown_missing_and_disagreeing_tied_weights(edit, message, tmp_path):
    path = tmp_path / "edited"
    shutil.copytree(FIXTURES / "t5_st", path)
    state = load_file(path / "model.safetensors")
    edit(state)
    save_file(state, path / "model.safetensors")
    with pytest.raises(ValueError, match=message):
        SentenceTransformer(str(path), device="cpu")


def test_the_word_embedding_loads_from_either_tied_name(tmp_path, g, texts):
    path = tmp_path / "embed_tokens"
    shutil.copytree(FIXTURES / "t5_st", path)
    state = load_file(path / "model.safetensors")
    state["encoder.embed_tokens.weight"] = state.pop("shared.weight")
    save_file(state, path / "model.safetensors")
    assert np.abs(SentenceTransformer(str(path), device="cpu").encode(texts["tiny"]) - g["emb"]).max() <= 2e-5


@pytest.mark.parametrize("name", list(FOLDERS))
def test_save_then_reload_is_identical_and_writes_t5_encoder_model_names(name, tmp_path, texts):
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    model.save(str(tmp_path / "saved"))
    again = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    np.testing.assert_array_equal(model.encode(texts["tiny"]), again.encode(texts["tiny"]))
    saved = set(load_file(tmp_path / "saved" / "model.safetensors"))
    original = set(load_file(FIXTURES / name / "model.safetensors"))
    assert saved == {k for k in original if not k.startswith("decoder.")}  # the encoder's weights, HF names
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["architectures"] == [{"mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}.get(name.split("_")[0],
                                                                                               "T5EncoderModel")]
    assert "max_position_embeddings" not in config  # T5 has none; embedkit's bound is not written


def test_a_tokenizer_without_a_length_limit_loads_without_a_warning(tmp_path, caplog):
    path = tmp_path / "unbounded"
    shutil.copytree(FIXTURES / "t5_full", path)
    tokenizer_config = json.loads((path / "tokenizer_config.json").read_text())
    tokenizer_config.pop("model_max_length")
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    with caplog.at_level(logging.WARNING):
        model = SentenceTransformer(str(path), device="cpu")
    assert "position table" not in caplog.text and model.max_seq_length == NO_POSITION_LIMIT
    assert model.preprocess(["word " * 300])["input_ids"].shape[1] > 128  # not truncated at 128 any more


def test_cross_encoders_and_masked_lm_heads_on_t5_are_refused_by_name():
    from embedkit.sparse_encoder.modules import MLMTransformer

    with pytest.raises(ValueError, match="sequence classification heads of t5 models are not supported"):
        CrossEncoder(str(FIXTURES / "t5_full"), device="cpu")
    with pytest.raises(ValueError, match="masked-LM heads of t5 models are not supported"):
        MLMTransformer(str(FIXTURES / "t5_st"))


# ---- engine and training --------------------------------------------------------------------------------------------


def test_engine_falls_back_to_the_reference_path_default_and_optimized(g, texts):
    check_engine_falls_back_to_the_reference_path(str(FIXTURES / "t5_st"), texts["tiny"], g["emb"])


def test_one_training_step_with_multiple_negatives_ranking_loss(tmp_path):
    check_one_training_step_moves(str(FIXTURES / "t5_st"), str(tmp_path), [
        "0.auto_model.rel_bias.weight", "0.auto_model.layers.1.attn.k.weight", "0.auto_model.layers.0.ffn.wi_0.weight",
        "0.auto_model.layers.1.ffn.wo.weight", "0.auto_model.final_norm.weight", "2.linear.weight"])
