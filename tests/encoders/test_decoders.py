"""Decoders used as encoders, Qwen3 (Qwen3-Embedding), Gemma 3 (EmbeddingGemma), Llama, Mistral and Qwen2: parity
with sentence-transformers 6.2 (fixtures from tests/generate_decoder_fixtures.py), padding on either side, the
causal-LM default pooling, the attention masks, strict loading, saving, the engine's fallback and one training
step."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from embedkit import CrossEncoder, SentenceTransformer
from embedkit.encoders import EncoderConfig, build_encoder
from embedkit.encoders.gemma2 import Gemma2Config
from embedkit.encoders.gemma3 import Gemma3Config, Gemma3Model
from embedkit.encoders.llama import LlamaConfig, LlamaModel
from embedkit.encoders.qwen3 import FULL, SLIDING, Qwen3Config, Qwen3Model
from tests.conftest import FIXTURES, golden
from tests.encoders.family_checks import check_strict_loading

FAMILIES = ["qwen3", "gemma3", "gemma2", "llama", "mistral", "qwen2"]
PADDING_SIDE = {"qwen3": "left", "gemma3": "right", "gemma2": "left", "llama": "right", "mistral": "left",
                "qwen2": "right"}
STACK_TYPES = {"qwen3": (Qwen3Config, Qwen3Model), "gemma3": (Gemma3Config, Gemma3Model),
               "gemma2": (Gemma2Config, Gemma3Model),
               "llama": (LlamaConfig, LlamaModel), "mistral": (LlamaConfig, LlamaModel),
               "qwen2": (LlamaConfig, LlamaModel)}
# The attention layer types of each family's plain causal-LM folder (generate_decoder_fixtures.py)
LM_LAYER_TYPES = {"qwen3": {FULL, SLIDING}, "gemma3": {FULL, SLIDING}, "gemma2": {FULL, SLIDING}, "llama": {FULL},
                  "mistral": {FULL}, "qwen2": {FULL, SLIDING}}
QK_NORM_FAMILIES = ("qwen3", "gemma3")


def folder(family: str, kind: str) -> str:
    return str(FIXTURES / f"{family}_{kind}")


@pytest.fixture(scope="module", params=FAMILIES)
def family(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def g(family) -> dict[str, np.ndarray]:
    return golden(f"{family}_golden")


@pytest.fixture(scope="module")
def st(family) -> SentenceTransformer:
    return SentenceTransformer(folder(family, "st"), device="cpu")


def ce_pairs(texts: dict) -> list[tuple[str, str]]:
    tiny = texts["tiny"]
    return [tuple(p) for p in texts["pairs"]] + list(zip(tiny, tiny[1:]))


# ---- parity with sentence-transformers 6.2 -------------------------------------------------------------------------


def test_token_ids_and_padding_side_match_st_without_token_types(family, st, g, texts):
    assert st.tokenizer.padding_side == PADDING_SIDE[family]
    features = st.preprocess(texts["tiny"])
    assert "token_type_ids" not in features
    np.testing.assert_array_equal(features["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_array_equal(features["attention_mask"].numpy(), g["attention_mask"])
    real_end = 0 if PADDING_SIDE[family] == "right" else -1  # the side that always holds a real token
    assert features["attention_mask"][:, real_end].all() and not features["attention_mask"][:, -1 - real_end].all()
    np.testing.assert_array_equal(st.preprocess([tuple(p) for p in texts["pairs"]])["input_ids"].numpy(),
                                  g["pair_input_ids"])


def test_embeddings_with_and_without_prompts_match_st(st, g, texts):
    assert np.abs(st.encode(texts["tiny"], batch_size=3) - g["emb"]).max() <= 2e-5
    assert np.abs(st.encode_query(texts["tiny"], batch_size=4) - g["emb_query"]).max() <= 2e-5
    assert np.abs(st.encode_document(texts["tiny"], batch_size=4) - g["emb_document"]).max() <= 2e-5
    assert np.abs(g["emb_query"] - g["emb"]).max() > 1e-2  # the prompt changes the embeddings
    mask = g["attention_mask"].astype(bool)
    for i, tokens in enumerate(st.encode(texts["tiny"][:5], output_value="token_embeddings")):
        assert tokens.shape == g[f"token_embeddings_{i}"].shape  # trimmed after the last real token, as ST does
        real = mask[i][:len(tokens)]
        assert np.abs(tokens.numpy()[real] - g[f"token_embeddings_{i}"][real]).max() <= 2e-5


def test_every_layer_output_matches_transformers_at_real_tokens(st, g):
    ids, mask = torch.from_numpy(g["hidden_input_ids"]), torch.from_numpy(g["hidden_attention_mask"])
    with torch.no_grad():
        out = st[0].auto_model(ids, mask, output_hidden_states=True)
    hidden = torch.stack(out.hidden_states)  # (L + 1, B, T, D); HF's last one is after the final norm
    assert hidden.shape == g["hidden_states"].shape and torch.equal(hidden[-1], out.last_hidden_state)
    real = mask.bool()
    assert (hidden[:, real] - torch.from_numpy(g["hidden_states"])[:, real]).abs().max() <= 2e-5


def test_a_text_alone_and_in_a_batch_padded_on_either_side_get_the_same_embedding(st, g, texts):
    alone = np.stack([st.encode([t])[0] for t in texts["tiny"]])
    assert np.abs(alone - g["emb_alone"]).max() <= 2e-5
    for side in ("left", "right"):
        batch = st.encode(texts["tiny"], batch_size=10, processing_kwargs={"text": {"padding_side": side}})
        assert np.abs(alone - batch).max() <= 1e-5, side
    features = st.preprocess(texts["tiny"][:3], processing_kwargs={"text": {"padding_side": "right"}})
    assert features["attention_mask"][:, 0].all() and not features["attention_mask"][:, -1].all()


def test_a_causal_lm_folder_gets_last_token_pooling_and_matches_st(family, g, texts, caplog):
    with caplog.at_level(logging.INFO):
        model = SentenceTransformer(folder(family, "causal_lm"), device="cpu")
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling"]
    assert model[1].pooling_mode == "lasttoken"
    assert set(model[0].auto_model.config.layer_types) == LM_LAYER_TYPES[family]
    assert "lm_head.weight" in caplog.text  # the causal LM head is left aside, and said so
    assert np.abs(model.encode(texts["tiny"], batch_size=4) - g["lm_emb"]).max() <= 2e-5


def test_a_causal_lm_folder_that_says_is_causal_false_gets_mean_pooling_and_bidirectional_attention(tmp_path, texts):
    path = tmp_path / "bidirectional"
    shutil.copytree(folder("qwen3", "causal_lm"), path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "is_causal": False}))
    model = SentenceTransformer(str(path), device="cpu")
    assert model[1].pooling_mode == "mean" and model[0].auto_model.config.is_causal is False
    causal = SentenceTransformer(folder("qwen3", "causal_lm"), device="cpu")
    causal[1].pooling_mode = "mean"  # the same pooling: only the attention differs
    assert np.abs(model.encode(texts["tiny"][:3]) - causal.encode(texts["tiny"][:3])).max() > 1e-3


def test_cross_encoder_scores_match_st(family, g, texts):
    ce = CrossEncoder(folder(family, "ce"), device="cpu")
    pairs = ce_pairs(texts)
    np.testing.assert_array_equal(ce.preprocess(pairs)["input_ids"].numpy(), g["ce_input_ids"])
    scores = ce.predict(pairs, batch_size=4)
    assert scores.shape == g["ce_scores"].shape
    assert np.abs(scores - g["ce_scores"]).max() <= 2e-5


# ---- the stacks themselves ------------------------------------------------------------------------------------------


def tiny(family: str, **overrides) -> Qwen3Config:
    fields = dict(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                  head_dim=8, intermediate_size=24, max_position_embeddings=64, pad_token_id=0)
    if family in ("gemma3", "gemma2"):
        fields["layer_types"] = (FULL,) * 3
    if family in ("llama", "mistral", "qwen2"):
        fields["model_type"] = family
    return STACK_TYPES[family][0](**{**fields, **overrides})


def outputs(family: str, enc: torch.nn.Module, ids: torch.Tensor, **overrides) -> torch.Tensor:
    """``ids`` through a stack of the same weights as ``enc`` built with ``overrides`` in its config."""
    other = STACK_TYPES[family][1](tiny(family, **overrides)).eval()
    other.load_state_dict(enc.state_dict())
    with torch.no_grad():
        return other(ids).last_hidden_state


@pytest.mark.parametrize("family", FAMILIES)
def test_causal_attention_and_the_window_of_sliding_layers(family):
    torch.manual_seed(1)
    enc = STACK_TYPES[family][1](tiny(family)).eval()
    ids = torch.randint(1, 50, (1, 12))
    with torch.no_grad():
        full = enc(ids).last_hidden_state
        changed_tail = ids.clone()
        changed_tail[0, 8:] = 7
        assert torch.equal(enc(changed_tail).last_hidden_state[0, :8], full[0, :8])  # no token sees the future
    window = dict(layer_types=(FULL, SLIDING, SLIDING), sliding_window=3)
    if family in ("gemma3", "gemma2"):  # Gemma 3's sliding layers have their own rotary base: the same one here
        window["local_rope_theta"] = enc.config.rope_theta
    windowed = outputs(family, enc, ids, **window)
    assert torch.allclose(windowed[0, :3], full[0, :3], atol=1e-6)  # within the window: the same
    assert (windowed[0, 3:] - full[0, 3:]).abs().max() > 1e-3  # beyond it, far keys are masked


@pytest.mark.parametrize("family,bidirectional", [("qwen3", dict(is_causal=False)),
                                                  ("gemma3", dict(use_bidirectional_attention=True))])
def test_bidirectional_attention_sees_the_whole_text_or_the_window_either_side(family, bidirectional):
    torch.manual_seed(3)
    enc = STACK_TYPES[family][1](tiny(family, **bidirectional)).eval()
    ids = torch.randint(1, 50, (1, 12))
    changed_tail = ids.clone()
    changed_tail[0, 8:] = 7
    with torch.no_grad():
        assert (enc(changed_tail).last_hidden_state[0, :8] - enc(ids).last_hidden_state[0, :8]).abs().max() > 1e-3
    # one sliding layer: a token sees the tokens within its reach on either side, so only the last change counts
    cfg = tiny(family, **bidirectional, num_hidden_layers=1, layer_types=(SLIDING,), sliding_window=4)
    reach = cfg.sliding_reach()
    assert reach == {"qwen3": 4, "gemma3": 2}[family]  # transformers: |q - k| <= window; Gemma: <= window // 2
    one = STACK_TYPES[family][1](cfg).eval()
    with torch.no_grad():
        base = one(ids).last_hidden_state[0]
        moved = one(changed_tail).last_hidden_state[0]
    changed = (moved - base).abs().amax(dim=-1) > 1e-6  # (T,)
    assert changed.tolist() == [i >= 8 - reach for i in range(12)]


@pytest.mark.parametrize("family", FAMILIES)
def test_padding_keys_are_masked_and_padding_queries_stay_finite(family):
    torch.manual_seed(2)
    enc = STACK_TYPES[family][1](tiny(family)).eval()
    ids = torch.randint(1, 50, (2, 6))
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        out = enc(ids, mask).last_hidden_state
        left = enc(ids[:1, 2:]).last_hidden_state[0]
        right = enc(ids[1:, :4]).last_hidden_state[0]
    assert torch.isfinite(out).all()
    assert (out[0, 2:] - left).abs().max() < 1e-5 and (out[1, :4] - right).abs().max() < 1e-5


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("bias", [False, True])
def test_parameter_count_matches_the_built_stack(family, bias):
    cfg = tiny(family, attention_bias=bias)
    assert cfg.parameter_count() == sum(t.numel() for t in build_encoder(cfg).state_dict().values())


def test_gemma_scales_embeddings_normalises_with_one_plus_weight_and_scales_scores_by_its_scalar():
    torch.manual_seed(4)
    enc = Gemma3Model(tiny("gemma3")).eval()
    ids = torch.randint(1, 50, (1, 5))
    with torch.no_grad():
        for p in enc.parameters():
            p.normal_(0, 0.3)
        out = enc(ids, output_hidden_states=True)
    assert torch.allclose(out.hidden_states[0], enc.embed(ids) * 16 ** 0.5)
    assert not torch.allclose(outputs("gemma3", enc, ids, query_pre_attn_scalar=64.0), out.last_hidden_state)
    norm = enc.final_norm
    x = torch.randn(3, 16)
    assert torch.allclose(norm(x), x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * (1 + norm.weight))


def test_qwen3_config_reads_transformers_4_and_5_keys_alike_and_round_trips():
    legacy = {"model_type": "qwen3", "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 3,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 24,
              "rope_theta": 1000.0, "rope_scaling": None, "use_sliding_window": True, "sliding_window": 5,
              "max_window_layers": 2, "rms_norm_eps": 1e-5}
    cfg = EncoderConfig.from_hf_config(legacy)
    assert isinstance(cfg, Qwen3Config) and cfg.layer_types == (FULL, FULL, SLIDING)
    assert (cfg.rope_theta, cfg.sliding_window, cfg.layer_norm_eps, cfg.head_dim) == (1000.0, 5, 1e-5, 8)
    saved = cfg.to_hf_config()
    assert saved["rope_parameters"] == {"rope_type": "default", "rope_theta": 1000.0} and "rope_scaling" not in saved
    assert EncoderConfig.from_hf_config(saved) == cfg
    assert EncoderConfig.from_hf_config({k: v for k, v in saved.items() if k != "rope_theta"}) == cfg
    no_window = EncoderConfig.from_hf_config({**legacy, "use_sliding_window": False})
    assert no_window.layer_types == (FULL,) * 3 and no_window.sliding_window is None
    assert EncoderConfig.from_hf_config({**legacy, "is_causal": False}).to_hf_config()["is_causal"] is False


def test_gemma3_config_reads_transformers_4_and_5_keys_alike_and_round_trips():
    legacy = {"model_type": "gemma3_text", "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 6,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 24,
              "rope_theta": 1000.0, "rope_local_base_freq": 20.0, "rope_scaling": None, "sliding_window": 512,
              "sliding_window_pattern": 3, "query_pre_attn_scalar": 8, "use_bidirectional_attention": True,
              "hidden_activation": "gelu_pytorch_tanh", "final_logit_softcapping": None,
              "attn_logit_softcapping": None}
    cfg = EncoderConfig.from_hf_config(legacy)
    assert isinstance(cfg, Gemma3Config) and cfg.layer_types == (SLIDING, SLIDING, FULL) * 2
    assert (cfg.rope_theta, cfg.local_rope_theta, cfg.sliding_reach()) == (1000.0, 20.0, 256)
    saved = cfg.to_hf_config()
    assert saved["rope_parameters"][SLIDING]["rope_theta"] == 20.0 and saved["sliding_window"] == 512
    assert EncoderConfig.from_hf_config(saved) == cfg
    new_style = {k: v for k, v in saved.items() if k not in ("rope_theta", "rope_local_base_freq")}
    assert EncoderConfig.from_hf_config(new_style) == cfg
    assert EncoderConfig.from_hf_config({**legacy, "use_bidirectional_attention": False}).sliding_reach() == 511


def test_gemma2_caps_attention_scores_and_reads_transformers_4_and_5_keys_alike():
    legacy = {"model_type": "gemma2", "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 24,
              "rope_theta": 1000.0, "sliding_window": 6, "query_pre_attn_scalar": 8, "attn_logit_softcapping": 1.5,
              "final_logit_softcapping": 30.0, "hidden_activation": "gelu_pytorch_tanh"}
    cfg = EncoderConfig.from_hf_config(legacy)
    assert isinstance(cfg, Gemma2Config) and cfg.layer_types == (SLIDING, FULL) * 2 and not cfg.qk_norm
    assert (cfg.rope_theta, cfg.local_rope_theta, cfg.attn_logit_softcapping) == (1000.0, 1000.0, 1.5)
    saved = cfg.to_hf_config()
    assert saved["rope_parameters"] == {"rope_type": "default", "rope_theta": 1000.0}
    assert EncoderConfig.from_hf_config(saved) == cfg
    assert EncoderConfig.from_hf_config({k: v for k, v in saved.items() if k != "rope_theta"}) == cfg
    assert EncoderConfig.from_hf_config({k: v for k, v in legacy.items() if k != "attn_logit_softcapping"}
                                        ).attn_logit_softcapping == 50.0  # transformers' default
    # the cap is cap * tanh(scores / cap) on the scaled scores, before the mask
    torch.manual_seed(6)
    attn = build_encoder(cfg).layers[1].attn.eval()
    x, cos, sin = torch.randn(1, 5, 16), torch.ones(5, 8), torch.zeros(5, 8)  # rotation off
    with torch.no_grad():
        q = attn.q(x).view(1, 5, 4, 8).transpose(1, 2)
        k = attn.k(x).view(1, 5, 2, 8).transpose(1, 2).repeat_interleave(2, dim=1)
        v = attn.v(x).view(1, 5, 2, 8).transpose(1, 2).repeat_interleave(2, dim=1)
        scores = 1.5 * torch.tanh(q @ k.transpose(-1, -2) * 8 ** -0.5 / 1.5)
        expected = attn.o((scores.softmax(-1) @ v).transpose(1, 2).reshape(1, 5, 32))
        torch.testing.assert_close(attn(x, cos, sin, None), expected)
        attn.softcap = None
        assert (attn(x, cos, sin, None) - expected).abs().max() > 1e-3  # the cap changes the result here


@pytest.mark.parametrize("model_type,edit,message", [
    ("qwen3", {"rope_parameters": {"rope_type": "yarn", "factor": 4.0}}, "rope_type='yarn'"),
    ("qwen3", {"rope_scaling": {"type": "dynamic", "factor": 2.0}}, "rope_type='dynamic'"),
    ("gemma3", {"rope_parameters": {FULL: {"rope_type": "linear", "factor": 8.0}}}, "rope_type='linear'"),
    ("gemma3", {"rope_scaling": {"rope_type": "linear", "factor": 8.0}}, "rope_scaling="),
    ("gemma2", {"attn_logit_softcapping": -1.0}, "attn_logit_softcapping"),
    ("gemma2", {"use_bidirectional_attention": True}, "use_bidirectional_attention"),
    ("gemma2", {"rope_parameters": {"rope_type": "linear", "factor": 2.0}}, "rope_type='linear'"),
    ("gemma3", {"is_causal": False}, "is_causal=false"),
    ("gemma3", {"query_pre_attn_scalar": 0}, "query_pre_attn_scalar"),
    ("qwen3", {"num_key_value_heads": 3}, "multiple of num_key_value_heads"),
    ("gemma3", {"head_dim": 7}, "even head size"),
    ("qwen3", {"layer_types": ["full_attention", "chunked_attention", "full_attention"]}, "layer_types"),
    ("gemma3", {"pad_token_id": 50}, "pad_token_id=50"),
    ("qwen3", {"hidden_act": "tanh"}, "hidden_act"),
])
def test_unsupported_or_inconsistent_configs_are_refused_by_name(model_type, edit, message):
    base = tiny(model_type).to_hf_config()
    with pytest.raises(ValueError, match=message):
        EncoderConfig.from_hf_config({**base, **edit}, "x")


# ---- loading and saving ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_strict_loading_names_an_unknown_and_a_missing_key(family, tmp_path):
    for name, edit in (("unknown", lambda s: s.update({"layers.1.self_attn.extra.weight": torch.zeros(2)})),
                       ("missing", lambda s: s.pop("layers.2.self_attn.k_proj.weight"))):
        check_strict_loading(Path(folder(family, "st")), edit, r"layers\.(1\.self_attn\.extra|2\.attn\.k)\.weight",
                             tmp_path / name)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["st", "causal_lm", "ce"])
def test_save_then_reload_is_identical_and_writes_hf_names(family, kind, tmp_path, texts):
    source = folder(family, kind)
    cls = CrossEncoder if kind == "ce" else SentenceTransformer
    model = cls(source, device="cpu")
    model.save(str(tmp_path / "saved"))
    again = cls(str(tmp_path / "saved"), device="cpu")
    run = (lambda m: m.predict(ce_pairs(texts))) if kind == "ce" else (lambda m: m.encode(texts["tiny"]))
    np.testing.assert_array_equal(run(model), run(again))
    saved_keys = set(load_file(tmp_path / "saved" / "model.safetensors"))
    original_keys = set(load_file(f"{source}/model.safetensors"))
    if kind == "causal_lm":  # the bi-encoder saves the stack alone, as sentence-transformers does
        assert saved_keys == {k.removeprefix("model.") for k in original_keys} - {"lm_head.weight"}
    else:
        assert saved_keys == original_keys
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    original = json.loads((FIXTURES / source / "config.json").read_text())
    assert config["model_type"] == original["model_type"] and config["head_dim"] == 16
    assert config["architectures"] == original["architectures"]
    if "layer_types" in original:  # the families whose config.json lists them (not Llama, Mistral)
        assert config["layer_types"] == original["layer_types"]
    tokenizer_config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert tokenizer_config["padding_side"] == PADDING_SIDE[family]


def test_padding_side_from_processor_kwargs_and_the_attribute(texts):
    model = SentenceTransformer(folder("qwen3", "st"), device="cpu", processor_kwargs={"padding_side": "right"})
    assert model.tokenizer.padding_side == "right"
    assert model.preprocess(texts["tiny"][:3])["attention_mask"][:, 0].all()
    model.tokenizer.padding_side = "left"
    assert model.preprocess(texts["tiny"][:3])["attention_mask"][:, -1].all()
    with pytest.raises(ValueError, match="Padding side should be selected between 'right' and 'left'"):
        model.tokenizer.padding_side = "middle"


@pytest.mark.parametrize("family", FAMILIES)
def test_a_sparse_encoder_on_a_decoder_is_refused_by_name(family):
    from embedkit.sparse_encoder.modules import MLMTransformer

    model_type = json.loads((FIXTURES / f"{family}_st" / "config.json").read_text())["model_type"]
    with pytest.raises(ValueError, match=f"masked-LM heads of {model_type} models are not supported"):
        MLMTransformer(folder(family, "st"))


def test_dtype_auto_takes_the_dtype_config_json_names_and_bf16_stays_close(tmp_path, texts):
    path = tmp_path / "bf16"
    shutil.copytree(folder("qwen3", "st"), path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "dtype": "bfloat16"}))
    assert SentenceTransformer(str(path), device="cpu")[0].auto_model.dtype == torch.float32  # fp32 by default
    model = SentenceTransformer(str(path), device="cpu", model_kwargs={"dtype": "auto"})
    assert model[0].auto_model.dtype == torch.bfloat16
    reference = SentenceTransformer(folder("qwen3", "st"), device="cpu").encode(texts["tiny"][:4])
    low = model.encode(texts["tiny"][:4])
    assert low.dtype == np.float32 and np.isfinite(low).all()
    assert (low * reference).sum(1).min() > 0.97  # cosine to fp32 (unit vectors)


# ---- engine and training --------------------------------------------------------------------------------------------


def test_engine_falls_back_to_the_reference_path_default_and_optimized(family, g, texts):
    model = SentenceTransformer(folder(family, "st"), device="cpu")
    default = model.encode(texts["tiny"], batch_size=4)
    features = model.preprocess(texts["tiny"])
    with torch.enable_grad():  # gradients wanted: the engine never applies, this is the reference forward
        reference = model(features)["sentence_embedding"].detach().numpy()
    model.optimize_for_inference()
    optimized = model.encode(texts["tiny"], batch_size=4)
    np.testing.assert_array_equal(default, optimized)
    assert np.abs(default - reference).max() <= 1e-6 and np.abs(default - g["emb"]).max() <= 2e-5


def test_one_training_step_with_multiple_negatives_ranking_loss(family, tmp_path):
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(folder(family, "st"), device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    anchors = [f"question number {i} about the fox" for i in range(8)]
    positives = [f"answer {i}: the quick brown fox jumps" for i in range(8)]
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=8,
                                                save_strategy="no", disable_tqdm=True, learning_rate=1e-3)
    trainer = SentenceTransformerTrainer(model, args, train_dataset={"anchor": anchors, "positive": positives},
                                         loss=MultipleNegativesRankingLoss(model))
    trainer.train()
    assert trainer.state.global_step == 1
    after = model.state_dict()
    assert all(torch.isfinite(v).all() for v in after.values())
    keys = ["0.auto_model.layers.1.attn.k.weight", "0.auto_model.layers.2.attn.q.weight",
            "0.auto_model.layers.0.mlp.gate.weight", "0.auto_model.final_norm.weight"]
    if family in QK_NORM_FAMILIES:
        keys.append("0.auto_model.layers.2.attn.q_norm.weight")
    if family in ("gemma3", "gemma2"):
        keys += ["0.auto_model.layers.3.attn_out_norm.weight", "0.auto_model.layers.3.mlp_out_norm.weight"]
    if family == "gemma3":
        keys.append("2.linear.weight")
    for key in keys:
        assert not torch.equal(before[key], after[key]), key
