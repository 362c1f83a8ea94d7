"""ModernBERT: parity with sentence-transformers 6.2 (fixtures from tests/generate_modernbert_fixtures.py), padding,
the unpadded path, strict loading, saving, the engine's fallback and one training step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from embedkit.encoders import EncoderConfig, build_encoder
from embedkit.encoders.loading import check_size_before_building
from embedkit.encoders.modernbert import GLOBAL, LOCAL, ModernBertConfig, ModernBertModel
from tests.conftest import FIXTURES, golden
from tests.encoders.family_checks import check_strict_loading

ST, CE_CLS, CE_MEAN, SE = (str(FIXTURES / n) for n in ("modernbert_st", "modernbert_ce_cls", "modernbert_ce_mean",
                                                        "modernbert_se"))


@pytest.fixture(scope="module")
def g() -> dict[str, np.ndarray]:
    return golden("modernbert_golden")


@pytest.fixture(scope="module")
def st() -> SentenceTransformer:
    return SentenceTransformer(ST, device="cpu")


def ce_pairs(texts: dict) -> list[tuple[str, str]]:
    tiny = texts["tiny"]
    return [tuple(p) for p in texts["pairs"]] + list(zip(tiny, tiny[1:]))


def dense(x) -> np.ndarray:
    return (x.to_dense() if isinstance(x, torch.Tensor) else torch.as_tensor(x)).numpy()


# ---- parity with sentence-transformers 6.2 -------------------------------------------------------------------------


def test_token_ids_match_st_and_there_are_no_token_types(st, g, texts):
    features = st.tokenize(texts["tiny"])
    assert "token_type_ids" not in features
    np.testing.assert_array_equal(features["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_array_equal(features["attention_mask"].numpy(), g["attention_mask"])
    np.testing.assert_array_equal(st.tokenize([tuple(p) for p in texts["pairs"]])["input_ids"].numpy(),
                                  g["pair_input_ids"])
    assert st.max_seq_length == 128 and g["attention_mask"].sum(1).max() == 128  # long texts are cut at 128


def test_embeddings_match_st(st, g, texts):
    assert np.abs(st.encode(texts["tiny"], batch_size=3) - g["emb"]).max() <= 2e-5
    for i, tokens in enumerate(st.encode(texts["tiny"][:5], output_value="token_embeddings")):
        assert np.abs(tokens.numpy() - g[f"token_embeddings_{i}"]).max() <= 2e-5


def test_every_layer_output_matches_transformers(st, g, texts):
    features = st.tokenize(texts["tiny"][4:6])
    with torch.no_grad():
        out = st[0].auto_model(features["input_ids"], features["attention_mask"], output_hidden_states=True)
    mask = features["attention_mask"].bool()
    hidden = torch.stack(out.hidden_states)  # (L + 1, B, T, D); HF's last one is after the final norm
    assert hidden.shape == g["hidden_states"].shape and torch.equal(hidden[-1], out.last_hidden_state)
    assert (hidden[:, mask] - torch.from_numpy(g["hidden_states"])[:, mask]).abs().max() <= 2e-5


def test_a_text_alone_and_in_a_padded_batch_get_the_same_embedding(st, g, texts):
    alone = np.stack([st.encode([t])[0] for t in texts["tiny"]])
    assert np.abs(alone - g["emb_alone"]).max() <= 2e-5
    assert np.abs(alone - st.encode(texts["tiny"], batch_size=10)).max() <= 1e-5


@pytest.mark.parametrize("folder,key", [(CE_CLS, "ce_cls"), (CE_MEAN, "ce_mean")])
def test_cross_encoder_scores_match_st(folder, key, g, texts):
    ce = CrossEncoder(folder, device="cpu")
    pairs = ce_pairs(texts)
    np.testing.assert_array_equal(ce.tokenize(pairs)["input_ids"].numpy(), g[f"{key}_input_ids"])
    scores = ce.predict(pairs, batch_size=4)
    assert scores.shape == g[f"{key}_scores"].shape
    assert np.abs(scores - g[f"{key}_scores"]).max() <= 2e-5


def test_splade_vectors_match_st(g, texts):
    se = SparseEncoder(SE, device="cpu")
    emb = dense(se.encode(texts["tiny"], batch_size=3))
    assert np.abs(emb - g["se_emb"]).max() <= 2e-5 * max(1.0, float(np.abs(g["se_emb"]).max()))
    assert np.array_equal(emb > 0, g["se_emb"] > 0)


# ---- the encoder itself ---------------------------------------------------------------------------------------------


def tiny(**overrides) -> ModernBertConfig:
    fields = dict(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=24,
                  pad_token_id=0, local_attention=4, max_position_embeddings=64)
    return ModernBertConfig(**{**fields, **overrides})


def random_batch(lengths: list[int], vocab: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(lengths)
    mask = torch.tensor([[1] * n + [0] * (T - n) for n in lengths])
    return torch.randint(1, vocab, (len(lengths), T)) * mask, mask


def test_unpadded_path_gives_the_padded_outputs():
    enc = ModernBertModel(tiny()).eval()
    ids, mask = random_batch([17, 3, 9, 1, 12])
    with torch.no_grad():
        padded = enc(ids, mask).last_hidden_state
        unpadded = enc.forward_unpadded(ids, mask)
        alone = [enc(ids[i:i + 1, :n]).last_hidden_state[0] for i, n in enumerate(mask.sum(1).tolist())]
    assert (padded[mask.bool()] - unpadded).abs().max() < 1e-5
    assert (torch.cat(alone) - unpadded).abs().max() < 1e-5


def test_the_sliding_window_and_both_rope_thetas_change_long_inputs_only_where_they_should():
    torch.manual_seed(1)
    enc = ModernBertModel(tiny()).eval()
    ids, _ = random_batch([20])
    with torch.no_grad():
        base = enc(ids).last_hidden_state
        enc_wide = ModernBertModel(tiny(local_attention=64)).eval()
        enc_wide.load_state_dict(enc.state_dict())
        assert (enc_wide(ids).last_hidden_state - base).abs().max() > 1e-3  # the window masks far keys
        assert (enc_wide(ids[:, :3]).last_hidden_state - enc(ids[:, :3]).last_hidden_state).abs().max() < 1e-6
        for theta in ("global_rope_theta", "local_rope_theta"):
            other = ModernBertModel(tiny(**{theta: 500.0})).eval()
            other.load_state_dict(enc.state_dict())
            assert (other(ids).last_hidden_state - base).abs().max() > 1e-3


def test_layer_types_first_layer_norm_and_biases_follow_the_config():
    enc = ModernBertModel(tiny(global_attn_every_n_layers=2, attention_bias=True))
    assert enc.config.layer_types == (GLOBAL, LOCAL, GLOBAL, LOCAL)
    assert isinstance(enc.layers[0].attn_norm, torch.nn.Identity)
    assert isinstance(enc.layers[1].attn_norm, torch.nn.LayerNorm) and enc.layers[1].attn_norm.bias is None
    assert enc.layers[0].attn.Wqkv.bias is not None and enc.layers[0].mlp.Wi.bias is None
    assert [layer.attn.window for layer in enc.layers] == [None, 2, None, 2]


@pytest.mark.parametrize("biases", [{}, dict(norm_bias=True, attention_bias=True, mlp_bias=True)])
def test_parameter_count_matches_the_built_encoder(biases):
    cfg = tiny(**biases)
    assert cfg.parameter_count() == sum(t.numel() for t in build_encoder(cfg).state_dict().values())


def test_config_reads_transformers_4_and_5_keys_alike_and_round_trips():
    legacy = {"model_type": "modernbert", "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 4,
              "num_attention_heads": 2, "intermediate_size": 24, "pad_token_id": 0, "global_attn_every_n_layers": 3,
              "global_rope_theta": 1000.0, "local_rope_theta": 20.0, "local_attention": 6}
    cfg = EncoderConfig.from_hf_config(legacy)
    assert isinstance(cfg, ModernBertConfig) and cfg.layer_types == (GLOBAL, LOCAL, LOCAL, GLOBAL)
    assert (cfg.global_rope_theta, cfg.local_rope_theta) == (1000.0, 20.0)
    saved = cfg.to_hf_config()
    assert saved["rope_parameters"][GLOBAL]["rope_theta"] == 1000.0 and saved["layer_types"][3] == GLOBAL
    assert EncoderConfig.from_hf_config(saved) == cfg
    new_style = {k: v for k, v in saved.items() if k not in ("global_rope_theta", "local_rope_theta",
                                                             "global_attn_every_n_layers")}
    assert EncoderConfig.from_hf_config(new_style) == cfg
    with pytest.raises(ValueError, match="rope_type='yarn'"):
        EncoderConfig.from_hf_config({**saved, "rope_parameters": {GLOBAL: {"rope_type": "yarn"}}}, "x")
    with pytest.raises(ValueError, match="layer_types"):
        EncoderConfig.from_hf_config({**saved, "layer_types": [GLOBAL, "chunked"]})


# ---- loading and saving ---------------------------------------------------------------------------------------------


def test_strict_loading_names_an_unknown_and_a_missing_key(tmp_path):
    for name, edit in (("unknown", lambda s: s.update({"layers.1.attn.extra.weight": torch.zeros(2)})),
                       ("missing", lambda s: s.pop("layers.2.mlp.Wo.weight"))):
        check_strict_loading(Path(ST), edit, r"layers\.(1\.attn\.extra|2\.mlp\.Wo)\.weight", tmp_path / name)


def test_config_asking_for_biases_the_weights_lack_is_refused(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(ST, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "attention_bias": True}))
    with pytest.raises(ValueError, match=r"missing keys \[.*layers\.0\.attn\.Wqkv\.bias"):
        SentenceTransformer(str(folder), device="cpu")


def test_size_check_before_building_refuses_a_huge_modernbert_config():
    huge = tiny(vocab_size=4_000_000, hidden_size=64, num_attention_heads=2)
    with pytest.raises(ValueError, match="config.json describes 256,"):
        check_size_before_building(huge, False, build_encoder(tiny()).state_dict(), "f")


@pytest.mark.parametrize("kind", ["st", "ce_cls", "ce_mean", "se"])
def test_save_then_reload_is_identical_and_writes_hf_names(kind, tmp_path, texts):
    folder = {"st": ST, "ce_cls": CE_CLS, "ce_mean": CE_MEAN, "se": SE}[kind]
    cls = {"st": SentenceTransformer, "se": SparseEncoder}.get(kind, CrossEncoder)
    model = cls(folder, device="cpu")
    model.save(str(tmp_path / "saved"))
    again = cls(str(tmp_path / "saved"), device="cpu")
    run = (lambda m: m.predict(ce_pairs(texts))) if cls is CrossEncoder else (lambda m: dense(m.encode(texts["tiny"])))
    np.testing.assert_array_equal(run(model), run(again))
    assert set(load_file(tmp_path / "saved" / "model.safetensors")) == set(load_file(f"{folder}/model.safetensors"))
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    expected = {"st": "ModernBertModel", "se": "ModernBertForMaskedLM"}.get(kind, "ModernBertForSequenceClassification")
    assert config["architectures"] == [expected] and config["model_type"] == "modernbert"


def test_cross_encoder_on_a_bi_encoder_checkpoint_gets_a_new_head_that_saves_under_hf_names(tmp_path):
    ce = CrossEncoder(ST, device="cpu", num_labels=1)
    assert sorted(ce.model.classifier.state_dict()) == ["dense.weight", "norm.weight", "out.bias", "out.weight"]
    ce.save(str(tmp_path / "ce"))
    keys = set(load_file(tmp_path / "ce" / "model.safetensors"))
    assert {"head.dense.weight", "head.norm.weight", "classifier.weight", "classifier.bias"} <= keys
    assert "model.layers.0.attn.Wqkv.weight" in keys
    pairs = [("a question", "an answer"), ("", "x")]
    np.testing.assert_array_equal(ce.predict(pairs), CrossEncoder(str(tmp_path / "ce"), device="cpu").predict(pairs))


def test_a_classification_checkpoint_is_refused_as_a_masked_lm_and_the_other_way_round():
    from embedkit.encoders.heads import SequenceClassifier
    from embedkit.encoders.mlm_heads import build_masked_lm

    def folder(name: str) -> tuple[dict, dict]:
        path = FIXTURES / name
        return json.loads((path / "config.json").read_text()), load_file(path / "model.safetensors")

    with pytest.raises(ValueError, match=r"unexpected non-MLM head weights \['classifier.out.bias'"):
        build_masked_lm(*folder("modernbert_ce_cls"))
    with pytest.raises(ValueError, match=r"unexpected non-classifier head weights \['mlm.bias'\]"):
        SequenceClassifier.from_hf_state_dict(*folder("modernbert_se"))


# ---- engine and training --------------------------------------------------------------------------------------------


def test_engine_falls_back_to_the_reference_path_default_and_optimized(g, texts):
    model = SentenceTransformer(ST, device="cpu")
    default = model.encode(texts["tiny"], batch_size=4)
    features = model.tokenize(texts["tiny"])
    with torch.enable_grad():  # gradients wanted: the engine never applies, this is the reference forward
        reference = model(features)["sentence_embedding"].detach().numpy()
    model.optimize_for_inference()
    optimized = model.encode(texts["tiny"], batch_size=4)
    np.testing.assert_array_equal(default, optimized)
    assert np.abs(default - reference).max() <= 1e-6 and np.abs(default - g["emb"]).max() <= 2e-5


def test_one_training_step_with_multiple_negatives_ranking_loss(tmp_path):
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(ST, device="cpu")
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
    key = "0.auto_model.layers.1.attn.Wqkv.weight"
    assert not torch.equal(before[key], after[key])


def test_a_new_cross_encoder_head_is_initialised_as_transformers_modernbert_does():
    """transformers' ModernBERT draws a fresh classification head from truncated normals (initializer_cutoff_factor
    standard deviations): ``head.dense`` with std initializer_range / sqrt(2 * layers), ``classifier`` with std
    hidden_size ** -0.5 (embedkit used BERT's normal(0, initializer_range) for both: 0.02 instead of 0.177 here)."""
    folder = FIXTURES / "modernbert_st"
    config = json.loads((folder / "config.json").read_text())
    head = CrossEncoder(str(folder), device="cpu").model.classifier
    cutoff = config["initializer_cutoff_factor"]
    dense_std = config["initializer_range"] / (2 * config["num_hidden_layers"]) ** 0.5
    out_std = config["hidden_size"] ** -0.5
    truncated = 0.88  # the std of a normal truncated at +-2 standard deviations, as a fraction of the untruncated
    assert float(head.dense.weight.abs().max()) <= cutoff * dense_std + 1e-7
    assert float(head.dense.weight.std()) == pytest.approx(truncated * dense_std, rel=0.15)
    assert float(head.out.weight.abs().max()) <= cutoff * out_std + 1e-7
    assert float(head.out.weight.std()) > 3 * config["initializer_range"]  # BERT's 0.02 would be far below
    assert float(head.out.bias.abs().max()) == 0.0 and float(head.norm.weight.min()) == 1.0
