"""DeBERTa-v2 / v3 (mxbai-rerank-v1, nli-deberta-v3, DeBERTa-v3 fine-tunes): parity with sentence-transformers 6.2
(fixtures from tests/generate_deberta_fixtures.py) for both attention layouts, the buckets, the disentangled scores
worked out pair by pair, padding, pre-training heads left aside, strict loading, saving, refusals, the engine's
fallback and training steps."""

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
from embedkit.encoders.deberta_v2 import (
    DebertaV2Config,
    DebertaV2Model,
    log_bucket_position,
    relative_position_index,
)
from tests.conftest import FIXTURES, golden
from tests.encoders.family_checks import (
    ce_golden_pairs,
    check_engine_falls_back_to_the_reference_path,
    check_one_training_step_moves,
    check_save_then_reload,
    check_strict_loading,
)


@pytest.fixture(scope="module")
def g() -> dict[str, np.ndarray]:
    return golden("deberta_golden")


@pytest.fixture(scope="module")
def st() -> SentenceTransformer:
    return SentenceTransformer(str(FIXTURES / "deberta_st"), device="cpu")


# ---- parity with sentence-transformers 6.2 -------------------------------------------------------------------------


def test_token_ids_match_st_with_token_types_as_transformers_gives_them(st, g, texts):
    features = st.preprocess(texts["tiny"])
    assert sorted(features) == ["attention_mask", "input_ids", "modality", "token_type_ids"]  # as ST 6 gives them
    assert st.max_seq_length == 128
    np.testing.assert_array_equal(features["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_array_equal(features["attention_mask"].numpy(), g["attention_mask"])
    assert (features["input_ids"][:, 0] == 1).all()  # [CLS]


def test_embeddings_token_embeddings_and_every_layer_match_st(st, g, texts):
    assert np.abs(st.encode(texts["tiny"], batch_size=3) - g["emb"]).max() <= 2e-5
    mask = g["attention_mask"].astype(bool)
    for i, tokens in enumerate(st.encode(texts["tiny"][:5], output_value="token_embeddings")):
        real = mask[i][:len(tokens)]
        assert np.abs(tokens.numpy()[real] - g[f"token_embeddings_{i}"][real]).max() <= 2e-5
    ids, attention = torch.from_numpy(g["input_ids"][:4]), torch.from_numpy(g["attention_mask"][:4])
    with torch.no_grad():
        out = st[0].auto_model(ids, attention, output_hidden_states=True)
    hidden = torch.stack(out.hidden_states)  # (L + 1, B, T, D): the embeddings, then each layer's output
    assert hidden.shape == g["hidden_states"].shape and torch.equal(hidden[-1], out.last_hidden_state)
    real = attention.bool()
    assert (hidden[:, real] - torch.from_numpy(g["hidden_states"])[:, real]).abs().max() <= 2e-5


def test_a_text_alone_and_in_a_padded_batch_get_the_same_embedding(st, g, texts):
    alone = np.stack([st.encode([t])[0] for t in texts["tiny"]])
    assert np.abs(alone - g["emb_alone"]).max() <= 2e-5
    assert np.abs(alone - st.encode(texts["tiny"], batch_size=10)).max() <= 1e-5


def test_a_masked_lm_checkpoint_leaves_its_heads_aside_and_matches_st(g, texts, caplog):
    with caplog.at_level(logging.INFO):
        model = SentenceTransformer(str(FIXTURES / "deberta_mlm"), device="cpu")
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling"] and "mlm.dense.weight" in caplog.text
    assert np.abs(model.encode(texts["tiny"], batch_size=4) - g["mlm_emb"]).max() <= 2e-5


@pytest.mark.parametrize("name,labels", [("deberta_ce1", 1), ("deberta_ce3", 3)])
def test_cross_encoder_scores_and_token_types_match_st(name, labels, g, texts):
    ce = CrossEncoder(str(FIXTURES / name), device="cpu")
    key = name.removeprefix("deberta_")
    pairs = ce_golden_pairs()
    features = ce.preprocess(pairs)
    np.testing.assert_array_equal(features["input_ids"].numpy(), g[f"{key}_input_ids"])
    np.testing.assert_array_equal(features["token_type_ids"].numpy(), g[f"{key}_token_type_ids"])
    assert features["token_type_ids"].max() == 1  # the second text has type 1 (read by the v2-style model)
    scores = ce.predict(pairs, batch_size=4)
    assert scores.shape == g[f"{key}_scores"].shape and (scores.ndim == 1) == (labels == 1)
    assert np.abs(scores - g[f"{key}_scores"]).max() <= 2e-5


# ---- the encoder itself ---------------------------------------------------------------------------------------------


def test_log_buckets_follow_debertas_definition_worked_by_hand():
    # 256 buckets reaching 512 (DeBERTa-v3): exact within 128, then sign * (ceil(log(d / 128) / log(511 / 128)
    # * 127) + 128)
    distances = torch.arange(-600, 601)
    buckets = log_bucket_position(distances, 256, 512)
    for d, bucket in zip(distances.tolist(), buckets.tolist()):
        a = abs(d)
        expected = d if a <= 128 else int(math.copysign(math.ceil(math.log(a / 128) / math.log(511 / 128) * 127)
                                                           + 128, d))
        assert bucket == expected, d
    assert buckets[distances == 511].item() == 255 and buckets[distances == -600].item() < -255  # the clamp comes later


def tiny(**overrides) -> DebertaV2Config:
    fields = dict(vocab_size=40, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                  max_position_embeddings=32, relative_attention=True, position_buckets=4, max_relative_positions=8,
                  pos_att_type=("c2p", "p2c"), position_biased_input=False, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    return DebertaV2Config(**{**fields, **overrides})


@pytest.mark.parametrize("share", [True, False])
def test_disentangled_scores_equal_the_sum_of_the_three_terms_pair_by_pair(share):
    torch.manual_seed(0)
    cfg = tiny(share_att_key=share)
    enc = DebertaV2Model(cfg).eval()
    attn = enc.layers[0].attn
    x = torch.randn(1, 6, 8)
    rel = torch.randn(2 * cfg.attention_span, 8)
    index = relative_position_index(6, cfg, x.device)
    captured = {}
    attn.dropout.register_forward_hook(lambda module, inputs, output: captured.update(probs=output))
    with torch.no_grad():
        attn(x, None, rel, index)
        q, k = attn.heads(attn.q(x))[0], attn.heads(attn.k(x))[0]  # (H, T, Dh)
        pos_k = attn.heads(attn.k(rel) if share else attn.pos_k(rel))  # (H, 2S, Dh)
        pos_q = attn.heads(attn.q(rel) if share else attn.pos_q(rel))
    scale = math.sqrt(cfg.head_dim * 3)
    expected = torch.empty(2, 6, 6)
    for h in range(2):
        for i in range(6):
            for j in range(6):
                r = int(index[i, j])
                assert r == min(max(int(log_bucket_position(torch.tensor(i - j), 4, 8)) + 4, 0), 7)
                expected[h, i, j] = (q[h, i] @ k[h, j] + q[h, i] @ pos_k[h, r] + k[h, j] @ pos_q[h, r]) / scale
    assert torch.allclose(captured["probs"][0], expected.softmax(-1), atol=1e-6)


def test_padding_keys_are_masked_and_the_embeddings_of_padding_are_zero():
    torch.manual_seed(0)
    enc = DebertaV2Model(tiny()).eval()
    ids, mask = torch.tensor([[1, 5, 7, 2], [1, 6, 2, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    with torch.no_grad():
        assert (enc.embed(ids, None, mask)[1, 3] == 0).all()
        out = enc(ids, mask).last_hidden_state
        alone = enc(ids[1:, :3]).last_hidden_state
    assert torch.isfinite(out).all() and (out[1, :3] - alone[0]).abs().max() <= 1e-5


@pytest.mark.parametrize("overrides", [
    {}, {"share_att_key": True, "norm_rel_ebd": True}, {"pos_att_type": ("c2p",)}, {"pos_att_type": ()},
    {"relative_attention": False, "position_biased_input": True, "type_vocab_size": 2, "embedding_size": 4},
])
def test_parameter_count_matches_the_built_encoder(overrides):
    cfg = tiny(**overrides)
    assert cfg.parameter_count() == sum(p.numel() for p in DebertaV2Model(cfg).parameters())


def test_config_reads_transformers_keys_and_round_trips():
    hf = json.loads((FIXTURES / "deberta_ce3" / "config.json").read_text())
    cfg = EncoderConfig.from_hf_config(hf)
    assert isinstance(cfg, DebertaV2Config) and cfg.pos_att_type == ("c2p", "p2c") and not cfg.share_att_key
    assert (cfg.attention_span, cfg.embedding_size, cfg.type_vocab_size) == (32, 16, 2)
    assert EncoderConfig.from_hf_config(cfg.to_hf_config()) == cfg
    v3 = EncoderConfig.from_hf_config(json.loads((FIXTURES / "deberta_st" / "config.json").read_text()))
    assert (v3.attention_span, v3.relative_reach, v3.norm_rel_ebd, v3.position_biased_input) == (16, 64, True, False)
    assert EncoderConfig.from_hf_config({"model_type": "deberta-v2", "vocab_size": 10, "hidden_size": 8,
                                         "num_attention_heads": 2, "pos_att_type": "P2C|c2p"}).pos_att_type == (
        "p2c", "c2p")


@pytest.mark.parametrize("edit,message", [
    ({"conv_kernel_size": 3}, "the convolution layer of deberta-v2-xlarge"),
    ({"pos_att_type": ["p2p"]}, "only \\('c2p', 'p2c'\\) are supported"),
    ({"pooler_hidden_size": 4}, "pooler_hidden_size=4 is not supported"),
    ({"attention_head_size": 2}, "attention_head_size=2 is not supported"),
    ({"norm_rel_ebd": "rms"}, "only 'layer_norm' or 'none'"),
    ({"position_buckets": 16, "max_relative_positions": 8}, "must exceed position_buckets // 2"),
    ({"pad_token_id": 40}, "is not a row of the token embedding"),
    ({"pooler_hidden_act": "softsign"}, "pooler_hidden_act='softsign' must be one of"),
])
def test_unsupported_or_inconsistent_configs_are_refused_by_name(edit, message):
    hf = {"model_type": "deberta-v2", "vocab_size": 40, "hidden_size": 8, "num_attention_heads": 2,
          "intermediate_size": 16, "relative_attention": True, "pos_att_type": ["c2p"], **edit}
    with pytest.raises(ValueError, match=message):
        EncoderConfig.from_hf_config(hf)


# ---- loading and saving ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.update({"encoder.layer.1.attention.self.extra.weight": torch.zeros(2)}),
     r"encoder\.layer\.1\.attention\.self\.extra\.weight"),
    (lambda s: s.pop("encoder.LayerNorm.weight"), r"rel_norm\.weight"),
])
def test_strict_loading_names_an_unknown_and_a_missing_key(edit, message, tmp_path):
    check_strict_loading(FIXTURES / "deberta_st", edit, message, tmp_path / "edited")


def test_deberta_v3_pre_training_heads_are_left_aside(tmp_path, g, texts, caplog):
    """microsoft/deberta-v3-* checkpoints carry the masked-LM and replaced-token-detection heads under these names."""
    path = tmp_path / "pretraining"
    shutil.copytree(FIXTURES / "deberta_st", path)
    state = load_file(path / "model.safetensors")
    heads = {f"lm_predictions.lm_head.{k}": torch.zeros(32) for k in ("dense.bias", "LayerNorm.weight",
                                                                     "LayerNorm.bias")}
    heads.update({"lm_predictions.lm_head.dense.weight": torch.zeros(32, 32),
                  "lm_predictions.lm_head.bias": torch.zeros(state["embeddings.word_embeddings.weight"].shape[0]),
                  "mask_predictions.dense.weight": torch.zeros(32, 32), "mask_predictions.dense.bias": torch.zeros(32),
                  "mask_predictions.LayerNorm.weight": torch.zeros(32),
                  "mask_predictions.LayerNorm.bias": torch.zeros(32),
                  "mask_predictions.classifier.weight": torch.zeros(1, 32),
                  "mask_predictions.classifier.bias": torch.zeros(1)})
    save_file({**{f"deberta.{k}": v for k, v in state.items()}, **heads}, path / "model.safetensors")
    with caplog.at_level(logging.INFO):
        model = SentenceTransformer(str(path), device="cpu")
    assert "rtd.out.weight" in caplog.text and "mlm.dense.weight" in caplog.text
    assert np.abs(model.encode(texts["tiny"], batch_size=3) - g["emb"]).max() <= 2e-5


@pytest.mark.parametrize("name", ["deberta_st", "deberta_mlm", "deberta_ce1", "deberta_ce3"])
def test_save_then_reload_is_identical_and_writes_hf_names(name, tmp_path, texts):
    mlm = dict(encoder_prefix="deberta.", head_prefixes=("cls.",)) if name == "deberta_mlm" else {}
    config, original_config = check_save_then_reload(name, tmp_path, texts["tiny"],
                                                     cross_encoder=name.startswith("deberta_ce"), **mlm)
    assert config["architectures"] == original_config["architectures"]
    for key in ("pos_att_type", "position_buckets", "max_relative_positions", "share_att_key",
                "position_biased_input"):
        assert config[key] == original_config[key], key


def test_a_sparse_encoder_on_deberta_is_refused_by_name():
    from embedkit.sparse_encoder.modules import MLMTransformer

    with pytest.raises(ValueError, match="masked-LM heads of deberta-v2 models are not supported"):
        MLMTransformer(str(FIXTURES / "deberta_mlm"))


# ---- engine and training --------------------------------------------------------------------------------------------


def test_engine_falls_back_to_the_reference_path_default_and_optimized(g, texts):
    check_engine_falls_back_to_the_reference_path(str(FIXTURES / "deberta_st"), texts["tiny"], g["emb"])


def test_one_training_step_of_a_bi_encoder_and_a_new_cross_encoder_head(tmp_path):
    check_one_training_step_moves(str(FIXTURES / "deberta_st"), str(tmp_path), [
        "0.auto_model.rel_embed.weight", "0.auto_model.rel_norm.weight", "0.auto_model.layers.1.attn.k.weight",
        "0.auto_model.layers.0.ffn.up.weight", "0.auto_model.embed.tok.weight"])
    ce = CrossEncoder(str(FIXTURES / "deberta_mlm"), num_labels=1, device="cpu")  # a new head on a pre-trained model
    assert type(ce.model.classifier).__name__ == "DebertaV2ClassificationHead"
    assert np.isfinite(ce.predict([("a question", "an answer")])).all()
