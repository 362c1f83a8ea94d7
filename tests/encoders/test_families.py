"""RoBERTa, XLM-RoBERTa, CamemBERT, DistilBERT, ELECTRA and ALBERT: parity with sentence-transformers 6.2 goldens
(made by tests/generate_family_fixtures.py from tiny random transformers checkpoints), strict loading, saving, the
inference engine and a training step, for SentenceTransformer, CrossEncoder and SparseEncoder; ALBERT's layers shared
across depth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from embedkit.encoders import AlbertModel, DistilBertModel, ElectraModel, EncoderConfig, RobertaModel, build_encoder
from embedkit.encoders.convert import ek_to_hf, split_hf_state_dict
from embedkit.encoders.distilbert import sinusoidal_table
from embedkit.encoders.engine import FrozenEncoderLayer, InferenceEngine, optimize_for_inference
from embedkit.encoders.input_limits import max_input_length
from embedkit.encoders.lora import LoraLinear, LoraSettings, adapter_state_dict, add_adapter, set_active_adapters
from embedkit.encoders.roberta import position_ids_skipping_padding
from embedkit.sentence_transformer.modules import Transformer

FIX = Path(__file__).parent.parent / "fixtures"
GOLD = json.loads((FIX / "families_golden.json").read_text(encoding="utf-8"))
FAMILIES = ["roberta", "xlmr", "distilbert", "camembert", "electra", "albert"]
# ELECTRA's masked LM is a separate generator, SPLADE on ALBERT is not supported: no SparseEncoder for either
SE_FAMILIES = [f for f in FAMILIES if f not in ("electra", "albert")]
MODEL_TYPES = {"roberta": "roberta", "xlmr": "xlm-roberta", "distilbert": "distilbert", "camembert": "camembert",
               "electra": "electra", "albert": "albert"}
ENCODER_CLASSES = {"roberta": RobertaModel, "xlmr": RobertaModel, "distilbert": DistilBertModel,
                   "camembert": RobertaModel, "electra": ElectraModel, "albert": AlbertModel}
# A second layer's weight per family; ALBERT's bi-encoder has one layer, shared by its three depths
LAYER_KEY = {"albert": ".groups.0.layers.0."}
ATOL_EMB = 2e-5  # embeddings vs ST (issue #20)
ATOL = 1e-4  # CrossEncoder scores and SPLADE vectors, as for BERT (tests/cross_encoder, tests/sparse_encoder)
REAL_PAIRS = ["The cat sits outside.", "A man is playing guitar.", "I love pasta.", "Do you like pizza?",
              "The new movie is awesome.", "A woman watches TV."]


def unpadded(features: dict) -> list[list[int]]:
    return [row[mask.bool()].tolist() for row, mask in zip(features["input_ids"], features["attention_mask"])]


def dense_from_lists(rows: list, vocab_size: int) -> np.ndarray:
    out = np.zeros((len(rows), vocab_size), dtype=np.float32)
    for i, (indices, values) in enumerate(rows):
        out[i, indices] = values
    return out


@pytest.fixture(scope="module", params=FAMILIES)
def st_model(request):
    return request.param, SentenceTransformer(str(FIX / f"{request.param}_st"), device="cpu")


# --- parity with sentence-transformers ---------------------------------------------------------------------------

def test_sentence_transformer_matches_st(st_model):
    family, model = st_model
    gold = GOLD[family]["st"]
    assert type(model[0].auto_model) is ENCODER_CLASSES[family]
    assert model[0].config.model_type == MODEL_TYPES[family]
    assert model.max_seq_length == gold["max_seq_length"] == 512
    features = model.tokenize(GOLD["texts"])
    # as the HF tokenizers of these families return: ELECTRA's WordPiece gives token types, the others none
    assert ("token_type_ids" in features) == (family == "electra")
    assert unpadded(features) == gold["input_ids"]
    pair_ids = unpadded(model.tokenize([tuple(p) for p in GOLD["pairs"]]))
    assert pair_ids == gold["pair_input_ids"]
    if family not in ("distilbert", "electra", "albert"):  # <s> A </s></s> B </s>
        assert any(a == b == model.tokenizer.sep_token_id for a, b in zip(pair_ids[0], pair_ids[0][1:]))
    np.testing.assert_allclose(model.encode(GOLD["texts"], batch_size=3), gold["emb"], atol=ATOL_EMB, rtol=0)
    np.testing.assert_allclose(model.encode([tuple(p) for p in GOLD["pairs"]]), gold["emb_pairs"], atol=ATOL_EMB,
                               rtol=0)


def test_golden_texts_reach_the_position_limit(st_model):
    """The > max-length text fills all 512 positions: RoBERTa's 514-row table holds positions 2..513."""
    family, model = st_model
    lengths = [len(ids) for ids in GOLD[family]["st"]["input_ids"]]
    assert max(lengths) == 512 == max_input_length(model[0].config)
    assert min(lengths) == 2  # the empty text: <s> </s> / [CLS] [SEP]


@pytest.mark.parametrize("labels", [1, 3])
@pytest.mark.parametrize("family", FAMILIES)
def test_cross_encoder_matches_st(family, labels):
    ce = CrossEncoder(FIX / f"{family}_ce{labels}", device="cpu")
    gold = GOLD[family][f"ce{labels}"]
    assert ce.num_labels == labels and ce.max_seq_length == gold["max_length"]
    np.testing.assert_allclose(ce.predict(GOLD["ce_pairs"], batch_size=3), gold["default"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(ce.predict(GOLD["ce_pairs"], activation_fn=torch.nn.Identity()), gold["identity"],
                               atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", SE_FAMILIES)
def test_sparse_encoder_matches_st(family):
    se = SparseEncoder(str(FIX / f"{family}_se"), device="cpu")
    gold = GOLD[family]["se"]
    vectors = se.encode(GOLD["se_texts"], batch_size=3, convert_to_tensor=True).to_dense().numpy()
    expected = dense_from_lists(gold["encode"], GOLD[family]["vocab_size"])
    assert vectors.shape == expected.shape
    assert expected.any(axis=1).sum() >= len(expected) - 1  # the goldens are not all zeros
    np.testing.assert_allclose(vectors, expected, atol=ATOL, rtol=0)


# --- the inference engine ----------------------------------------------------------------------------------------

def test_engine_serves_the_family_and_equals_the_reference(st_model):
    family, model = st_model
    encoder = model[0].auto_model
    features = model.tokenize(GOLD["texts"][:6])
    ids, mask = features["input_ids"], features["attention_mask"]
    with torch.inference_mode():
        assert InferenceEngine(encoder).applies()
        fast = InferenceEngine(encoder)(ids, mask).last_hidden_state
        reference = encoder(ids, mask).last_hidden_state
    real = mask.bool()
    assert (fast - reference)[real].abs().max() < 1e-5


@pytest.mark.parametrize("family", FAMILIES)
def test_optimize_for_inference_keeps_the_outputs(family, tmp_path):
    model = SentenceTransformer(str(FIX / f"{family}_st"), device="cpu")
    ce = CrossEncoder(FIX / f"{family}_ce3", device="cpu")
    se = SparseEncoder(str(FIX / f"{family}_se"), device="cpu") if family in SE_FAMILIES else None
    models = [m for m in (model, ce, se) if m is not None]

    def outputs() -> tuple:
        sparse = () if se is None else (se.encode(GOLD["se_texts"], convert_to_tensor=True).to_dense().numpy(),)
        return (model.encode(GOLD["texts"]), ce.predict(GOLD["ce_pairs"]), *sparse)

    before = outputs()
    replaced = [optimize_for_inference(m) for m in models]
    distinct = [1, 4] if family == "albert" else [2] * len(models)  # ALBERT: 1 shared layer; 2 groups of 2
    assert replaced in ([0] * len(models), distinct)  # 0 where oneDNN is unavailable
    after = outputs()
    np.testing.assert_allclose(after[0], GOLD[family]["st"]["emb"], atol=ATOL_EMB, rtol=0)
    for got, expected in zip(after, before):
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


# --- loading and saving ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family,kind", [(f, k) for f in FAMILIES for k in ("st", "ce1", "se")
                                         if k != "se" or f in SE_FAMILIES])
def test_an_unknown_or_missing_weight_is_refused(family, kind, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(FIX / f"{family}_{kind}", folder)
    state = load_file(str(folder / "model.safetensors"))
    load = {"st": lambda: SentenceTransformer(str(folder), device="cpu"),
            "ce1": lambda: CrossEncoder(folder, device="cpu"),
            "se": lambda: SparseEncoder(str(folder), device="cpu")}[kind]
    save_file({**state, "encoder.extra.weight": torch.zeros(2)}, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="encoder.extra.weight"):
        load()
    dropped = next(k for k in state if k.endswith(("layer.1.attention.self.key.bias", "layer.1.attention.k_lin.bias",
                                                    "albert_layers.0.attention.key.bias")))
    save_file({k: v for k, v in state.items() if k != dropped}, str(folder / "model.safetensors"))
    missing = r"groups\.0\.layers\.0\.attn\.k\.bias" if family == "albert" else r"layers\.1\.attn\.k\.bias"
    with pytest.raises(ValueError, match="missing keys .*" + missing):
        load()


@pytest.mark.parametrize("family", FAMILIES)
def test_save_and_reload_gives_identical_outputs_and_hf_names(family, tmp_path):
    model = SentenceTransformer(str(FIX / f"{family}_st"), device="cpu")
    model.save(str(tmp_path / "st"))
    again = SentenceTransformer(str(tmp_path / "st"), device="cpu")
    np.testing.assert_array_equal(again.encode(GOLD["texts"]), model.encode(GOLD["texts"]))
    assert sorted(load_file(str(tmp_path / "st" / "model.safetensors"))) == \
        sorted(load_file(str(FIX / f"{family}_st" / "model.safetensors")))
    saved_config = json.loads((tmp_path / "st" / "config.json").read_text())
    fixture_config = json.loads((FIX / f"{family}_st" / "config.json").read_text())
    assert saved_config["model_type"] == fixture_config["model_type"]
    if family == "distilbert":  # DistilBERT's own names, not BERT's
        assert "hidden_size" not in saved_config and saved_config["dim"] == 32 and saved_config["n_layers"] == 2

    ce = CrossEncoder(FIX / f"{family}_ce3", device="cpu")
    ce.save(tmp_path / "ce")
    np.testing.assert_array_equal(CrossEncoder(tmp_path / "ce", device="cpu").predict(GOLD["ce_pairs"]),
                                  ce.predict(GOLD["ce_pairs"]))
    ce_config = json.loads((tmp_path / "ce" / "config.json").read_text())
    assert ce_config["architectures"] == json.loads((FIX / f"{family}_ce3" / "config.json").read_text())[
        "architectures"]
    assert sorted(load_file(str(tmp_path / "ce" / "model.safetensors"))) == \
        sorted(load_file(str(FIX / f"{family}_ce3" / "model.safetensors")))

    if family not in SE_FAMILIES:
        return
    se = SparseEncoder(str(FIX / f"{family}_se"), device="cpu")
    se.save(str(tmp_path / "se"))
    np.testing.assert_array_equal(
        SparseEncoder(str(tmp_path / "se"), device="cpu").encode(GOLD["se_texts"], convert_to_tensor=True)
        .to_dense().numpy(), se.encode(GOLD["se_texts"], convert_to_tensor=True).to_dense().numpy())
    se_config = json.loads((tmp_path / "se" / "config.json").read_text())
    assert se_config["architectures"] == json.loads((FIX / f"{family}_se" / "config.json").read_text())[
        "architectures"]


@pytest.mark.parametrize("family", FAMILIES)
def test_weight_tables_round_trip_and_parameter_count(family):
    config = EncoderConfig.from_hf_config(json.loads((FIX / f"{family}_st" / "config.json").read_text()))
    state = load_file(str(FIX / f"{family}_st" / "model.safetensors"))
    encoder_state, heads = split_hf_state_dict(state, config.model_type)
    assert heads == {}
    assert ek_to_hf(encoder_state, config.model_type).keys() == state.keys()
    add_pooler = "pooler.dense.weight" in encoder_state
    built = build_encoder(config, add_pooler=add_pooler)
    assert config.parameter_count(add_pooler) == sum(t.numel() for t in built.state_dict().values())
    assert config.to_hf_config() == {k: v for k, v in json.loads((FIX / f"{family}_st" / "config.json").read_text())
                                     .items()}


# --- family details ----------------------------------------------------------------------------------------------

def test_roberta_positions_count_from_padding_idx_and_skip_padding():
    ids = torch.tensor([[0, 9, 9, 2], [0, 9, 2, 1]])
    assert position_ids_skipping_padding(ids, padding_idx=1).tolist() == [[2, 3, 4, 5], [2, 3, 4, 1]]
    config = EncoderConfig(model_type="roberta", vocab_size=20, hidden_size=8, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=16, max_position_embeddings=514,
                           type_vocab_size=1, pad_token_id=1)
    assert max_input_length(config) == 512
    encoder = RobertaModel(config).eval()
    with torch.no_grad():  # a padded row equals the same text alone: positions do not depend on padding
        batch = encoder(ids, (ids != 1).long()).last_hidden_state
        alone = encoder(ids[1:, :3]).last_hidden_state
    torch.testing.assert_close(batch[1, :3], alone[0], atol=1e-6, rtol=0)


def test_roberta_needs_a_padding_id():
    with pytest.raises(ValueError, match="pad_token_id=None"):
        EncoderConfig(model_type="roberta", vocab_size=20, hidden_size=8, num_attention_heads=2, pad_token_id=None)


def test_distilbert_sinusoidal_table_is_what_the_checkpoint_holds():
    state = load_file(str(FIX / "distilbert_st" / "model.safetensors"))
    config = json.loads((FIX / "distilbert_st" / "config.json").read_text())
    assert config["sinusoidal_pos_embds"] is True
    table = state["embeddings.position_embeddings.weight"]
    torch.testing.assert_close(table, sinusoidal_table(*table.shape), atol=1e-6, rtol=0)
    fresh = DistilBertModel(EncoderConfig.from_hf_config(config))
    torch.testing.assert_close(fresh.embed.pos.weight, table, atol=1e-6, rtol=0)


def test_distilbert_config_reads_its_own_key_names():
    config = EncoderConfig.from_hf_config({"model_type": "distilbert", "vocab_size": 30, "dim": 16, "n_layers": 3,
                                           "n_heads": 2, "hidden_dim": 40, "activation": "relu", "dropout": 0.2,
                                           "attention_dropout": 0.3, "max_position_embeddings": 64})
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size,
            config.hidden_act, config.hidden_dropout_prob, config.attention_probs_dropout_prob,
            config.layer_norm_eps, config.type_vocab_size, config.pad_token_id) == \
        (16, 3, 2, 40, "relu", 0.2, 0.3, 1e-12, 0, 0)
    assert max_input_length(config) == 64
    assert build_encoder(config).pooler is None


# --- training ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_one_training_step_moves_the_weights(family, tmp_path):
    from embedkit import InputExample
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(str(FIX / f"{family}_st"), device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    texts = GOLD["texts"][:1] + GOLD["texts"][3:4] + [t.split(".")[0] for t in REAL_PAIRS]
    examples = [InputExample(texts=[a, b]) for a, b in zip(texts, reversed(texts))]
    loader = torch.utils.data.DataLoader(examples, batch_size=4)
    model.fit([(loader, MultipleNegativesRankingLoss(model))], epochs=1, warmup_steps=0, show_progress_bar=False,
              optimizer_params={"lr": 1e-3}, checkpoint_path=str(tmp_path / "fit"))
    moved = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(LAYER_KEY.get(family, ".layers.1.") in k for k in moved) and any("embed.tok" in k for k in moved)
    assert np.isfinite(model.encode(GOLD["texts"])).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_reach_every_weight_of_the_cross_encoder_and_splade_models(family):
    ce = CrossEncoder(FIX / f"{family}_ce3", device="cpu")
    ce.model.train()
    features = ce.tokenize([tuple(p) for p in GOLD["ce_pairs"][:4]])
    ids, mask = features["input_ids"], features["attention_mask"]
    ce.model(ids, mask).square().sum().backward()
    no_grad = [n for n, p in ce.model.named_parameters() if p.grad is None or not p.grad.any()]
    assert no_grad == []

    if family not in SE_FAMILIES:
        return
    se = SparseEncoder(str(FIX / f"{family}_se"), device="cpu")
    se.train()
    embeddings = se(se.tokenize(GOLD["se_texts"][:4]))["sentence_embedding"]
    embeddings.sum().backward()
    no_grad = [n for n, p in se.named_parameters() if p.grad is None or not p.grad.any()]
    assert no_grad == []



@pytest.mark.parametrize("family", FAMILIES)
def test_a_cross_encoder_starts_on_a_bi_encoder_checkpoint(family):
    """A new head on the ST folder's encoder; RoBERTa's pooler (which its classifier does not read) is left out,
    ALBERT's (which its classifier reads) is loaded."""
    ce = CrossEncoder(FIX / f"{family}_st", device="cpu")
    st = SentenceTransformer(str(FIX / f"{family}_st"), device="cpu")
    encoder = ce.model.encoder
    assert (encoder.pooler is None) == (family != "albert") and ce.num_labels == 1
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, st[0].auto_model.state_dict()[key])
    assert np.isfinite(ce.predict(GOLD["ce_pairs"])).all()


def test_electra_projects_its_narrow_embeddings_and_has_no_masked_lm():
    """ELECTRA-small's layout: 16-wide embedding tables projected to the 32-wide layers; SPLADE is refused by name."""
    model = SentenceTransformer(str(FIX / "electra_st"), device="cpu")
    encoder = model[0].auto_model
    assert encoder.embed.tok.weight.shape == (GOLD["electra"]["vocab_size"], 16)
    assert tuple(encoder.embed.project.weight.shape) == (32, 16) and encoder.pooler is None
    with pytest.raises(ValueError, match="masked-LM heads of electra models are not supported"):
        Transformer(FIX / "electra_st", transformer_task="fill-mask")


def test_electra_pretraining_heads_are_left_aside(tmp_path):
    """An ``ElectraForPreTraining`` checkpoint (discriminator head) or one with the generator's head loads as an
    embedding model with the same outputs; the head weights are not used."""
    folder = tmp_path / "pretraining"
    shutil.copytree(FIX / "electra_st", folder)
    state = load_file(str(folder / "model.safetensors"))
    vocab, width = GOLD["electra"]["vocab_size"], 32
    heads = {"discriminator_predictions.dense.weight": torch.zeros(width, width),
             "discriminator_predictions.dense.bias": torch.zeros(width),
             "discriminator_predictions.dense_prediction.weight": torch.zeros(1, width),
             "discriminator_predictions.dense_prediction.bias": torch.zeros(1),
             "generator_lm_head.bias": torch.zeros(vocab)}
    save_file({**{f"electra.{k}": v for k, v in state.items()}, **heads}, str(folder / "model.safetensors"))
    loaded = SentenceTransformer(str(folder), device="cpu")
    np.testing.assert_array_equal(loaded.encode(GOLD["texts"]),
                                  SentenceTransformer(str(FIX / "electra_st"), device="cpu").encode(GOLD["texts"]))


def test_albert_builds_each_shared_layer_once_and_runs_them_in_albert_order():
    """One layer run at the three depths of the bi-encoder; two groups of two layers for the 3-label CrossEncoder,
    depths running groups 0, 0, 1 (transformers' ``int(i / (layers / groups))``). Each distinct layer is registered
    once: the state dict, the parameters and the saved weights hold it once, under transformers' group names."""
    encoder = SentenceTransformer(str(FIX / "albert_st"), device="cpu")[0].auto_model
    shared = encoder.groups[0].layers[0]
    assert len(encoder.layers) == 3 and all(layer is shared for layer in encoder.layers)
    assert tuple(encoder.embed.tok.weight.shape) == (GOLD["albert"]["vocab_size"], 16)
    assert tuple(encoder.embed.project.weight.shape) == (32, 16) and encoder.pooler is not None
    layer_keys = [k for k in encoder.state_dict() if k.startswith("groups.")]
    assert layer_keys == [f"groups.0.layers.0.{k}" for k in shared.state_dict()]
    assert sum(p.numel() for p in encoder.parameters()) == encoder.config.parameter_count(add_pooler=True) == \
        sum(t.numel() for t in load_file(str(FIX / "albert_st" / "model.safetensors")).values())
    with pytest.raises(AttributeError, match="run order"):
        encoder.layers = torch.nn.ModuleList()

    ce = CrossEncoder(FIX / "albert_ce3", device="cpu")
    config, groups = ce.model.encoder.config, ce.model.encoder.groups
    assert (config.num_hidden_layers, config.num_hidden_groups, config.inner_group_num) == (3, 2, 2)
    assert config.run_order() == [(0, 0), (0, 1), (0, 0), (0, 1), (1, 0), (1, 1)]
    assert [id(layer) for layer in ce.model.encoder.layers] == [id(groups[g].layers[j]) for g, j in config.run_order()]
    features = ce.tokenize([tuple(p) for p in GOLD["ce_pairs"][:2]])
    with torch.no_grad():
        out = ce.model.encoder(features["input_ids"], features["attention_mask"], output_hidden_states=True)
    assert len(out.hidden_states) == 7 and torch.equal(out.hidden_states[-1], out.last_hidden_state)
    hf_keys = set(load_file(str(FIX / "albert_ce3" / "model.safetensors")))
    assert {k.split(".attention")[0] for k in hf_keys if ".attention.query.weight" in k} == {
        f"albert.encoder.albert_layer_groups.{g}.albert_layers.{j}" for g in (0, 1) for j in (0, 1)}


@pytest.mark.parametrize("kind", ["st", "ce3"])
def test_albert_frozen_path_keeps_layers_shared_and_equals_the_default_path(kind):
    """``optimize_for_inference()`` replaces each shared layer once, in its group, so every depth that ran it runs
    the same frozen layer: outputs equal the default path's, and the weights (as saved) neither grow nor change."""
    model = (SentenceTransformer(str(FIX / "albert_st"), device="cpu") if kind == "st"
             else CrossEncoder(FIX / "albert_ce3", device="cpu"))
    encoder = model[0].auto_model if kind == "st" else model.model.encoder

    def run():
        return model.encode(GOLD["texts"]) if kind == "st" else model.predict(GOLD["ce_pairs"])

    before, state = run(), {k: v.clone() for k, v in encoder.state_dict().items()}
    if optimize_for_inference(model) == 0:
        pytest.skip("oneDNN is unavailable on this CPU")
    frozen = [m for m in encoder.modules() if isinstance(m, FrozenEncoderLayer)]
    assert len(frozen) == len(dict.fromkeys(encoder.layers)) == (1 if kind == "st" else 4)
    assert [type(layer) for layer in encoder.layers] == [FrozenEncoderLayer] * len(encoder.layers)
    assert [id(layer) for layer in encoder.layers] == [id(encoder.groups[g].layers[j])
                                                      for g, j in encoder.config.run_order()]
    np.testing.assert_allclose(run(), before, atol=1e-5, rtol=0)
    after = encoder.state_dict()
    assert after.keys() == state.keys()
    for key, value in state.items():
        torch.testing.assert_close(after[key], value, rtol=0, atol=0)
    assert optimize_for_inference(model) == 0  # already frozen: nothing replaced twice


def test_albert_lora_adapts_each_shared_projection_once(tmp_path):
    """A LoRA adapter on ALBERT targets transformers' names (PEFT has no default for albert): each shared projection
    gets one adapter, which every depth then runs; saving writes the adapter under PEFT's names."""
    model = SentenceTransformer(str(FIX / "albert_st"), device="cpu")
    encoder = model[0].auto_model
    before = model.encode(GOLD["texts"][:3])
    with pytest.raises(ValueError, match="specify `target_modules`"):
        add_adapter(encoder, "albert", LoraSettings.from_dict({"r": 2, "lora_alpha": 4}), "default")
    names = add_adapter(encoder, "albert", LoraSettings.from_dict({"r": 2, "lora_alpha": 4,
                                                                   "target_modules": ["query", "value"]}), "default")
    prefix = "encoder.albert_layer_groups.0.albert_layers.0.attention."
    assert names == [prefix + "query", prefix + "value"]
    assert all(type(layer.attn.q) is LoraLinear for layer in encoder.layers)
    assert sorted(adapter_state_dict(encoder, "albert")) == sorted(
        f"{prefix}{p}.lora_{m}.weight" for p in ("query", "value") for m in "AB")
    set_active_adapters(encoder, "default")
    np.testing.assert_allclose(model.encode(GOLD["texts"][:3]), before, atol=1e-6, rtol=0)  # B starts at zero
    with torch.no_grad():
        encoder.groups[0].layers[0].attn.v.lora_B["default"].weight.fill_(1.0)
    assert np.abs(model.encode(GOLD["texts"][:3]) - before).max() > 1e-3
    encoder.save_pretrained(tmp_path / "adapter")
    assert sorted(load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))) == sorted(
        f"base_model.model.{prefix}{p}.lora_{m}.weight" for p in ("query", "value") for m in "AB")


def test_albert_has_no_masked_lm_and_leaves_pretraining_heads_aside(tmp_path):
    """SPLADE on ALBERT is refused by name; an ``AlbertForPreTraining`` checkpoint (masked-LM and sentence-order
    heads, ``albert.`` prefix, an old ``position_ids`` buffer) loads as an embedding model with the same outputs."""
    with pytest.raises(ValueError, match="masked-LM heads of albert models are not supported"):
        Transformer(FIX / "albert_st", transformer_task="fill-mask")
    folder = tmp_path / "pretraining"
    shutil.copytree(FIX / "albert_st", folder)
    state = load_file(str(folder / "model.safetensors"))
    vocab, width, hidden = GOLD["albert"]["vocab_size"], 16, 32
    heads = {"predictions.dense.weight": torch.zeros(width, hidden), "predictions.dense.bias": torch.zeros(width),
             "predictions.LayerNorm.weight": torch.ones(width), "predictions.LayerNorm.bias": torch.zeros(width),
             "predictions.bias": torch.zeros(vocab), "predictions.decoder.bias": torch.zeros(vocab),
             "sop_classifier.classifier.weight": torch.zeros(2, hidden),
             "sop_classifier.classifier.bias": torch.zeros(2),
             "albert.embeddings.position_ids": torch.arange(512)[None]}
    save_file({**{f"albert.{k}": v for k, v in state.items()}, **heads}, str(folder / "model.safetensors"))
    loaded = SentenceTransformer(str(folder), device="cpu")
    np.testing.assert_array_equal(loaded.encode(GOLD["texts"]),
                                  SentenceTransformer(str(FIX / "albert_st"), device="cpu").encode(GOLD["texts"]))
