"""MatryoshkaLoss, Matryoshka2dLoss, AdaptiveLayerLoss, DenoisingAutoEncoderLoss and the cached (GradCache) losses.

Golden values come from sentence-transformers 6.2 (tests/generate_loss_extra_fixtures.py); the criterion is the
one of tests/losses/test_parity.py: value within 1e-4 relative, gradient norms within 1e-3 relative.
"""

from __future__ import annotations

import inspect
import json
import math
import random
from functools import lru_cache
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from embedkit.sentence_transformer import losses as L
from tests.conftest import FIXTURES
from tests.losses.helpers import jsonable, load_model, rel_diff

EXTRA = FIXTURES / "losses_extra"
VALUE_RTOL = 1e-4
GRAD_RTOL = 1e-3


@lru_cache(maxsize=1)
def golden() -> dict[str, Any]:
    return json.loads((EXTRA / "st_losses_extra.json").read_text(encoding="utf-8"))


CASES = golden()["cases"]


def model_with(n_modules: int) -> torch.nn.Module:
    model = load_model("tiny_bert_v6")  # Transformer, Pooling, spreading Dense (16), Normalize
    while len(model) > n_modules:
        del model[len(model) - 1]
    return model


def build(spec: dict[str, Any]) -> tuple[torch.nn.Module, list[dict[str, torch.Tensor]], torch.Tensor | None]:
    model = model_with(spec["n_modules"])
    kwargs = dict(spec["kwargs"])
    if "loss" in kwargs:
        kwargs["loss"] = L.LOSSES[kwargs["loss"]["loss"]](model, **kwargs["loss"]["kwargs"])
    for key, value in kwargs.items():
        if isinstance(value, dict) and "model" in value:  # a GIST guide, with the same spreading Dense layer
            kwargs[key] = load_model(value["model"])
    loss = L.LOSSES[spec["loss"]](model, **kwargs).eval()
    if spec.get("dropout_seed") is not None:  # dropout on in the trained model (a guide stays in eval mode)
        model.train()
    if spec["loss"] == "DenoisingAutoEncoderLoss":  # the decoder's own weights, as transformers initialised them
        loss.decoder.load_hf_weights(load_file(str(EXTRA / "dae_decoder.safetensors")))
    features = [model.preprocess(column) for column in spec["columns"]]
    labels = None if spec["labels"] is None else torch.tensor(spec["labels"], dtype=torch.float32)
    return loss, features, labels


def run(loss, features, labels, seed=None, dropout_seed=None) -> float:
    if seed is not None:
        random.seed(seed)
    if dropout_seed is not None:
        torch.manual_seed(dropout_seed)
    out = loss(features, labels)
    out.backward()
    return float(out.detach())


def grad_norms(loss: torch.nn.Module) -> tuple[float, float]:
    total = words = 0.0
    for name, p in loss.named_parameters():
        if p.grad is not None:
            sq = float(p.grad.double().pow(2).sum())
            total += sq
            words += sq if name.endswith("embed.tok.weight") else 0.0
    return math.sqrt(total), math.sqrt(words)


def default_repr(default: Any) -> str:
    """As the generator renders a default: functions by name (their repr holds a memory address)."""
    if default is inspect.Parameter.empty:
        return "<required>"
    return default.__qualname__ if inspect.isfunction(default) else repr(default)


# ----------------------------------------------------------------------------- parity with sentence-transformers
@pytest.mark.parametrize("spec", CASES, ids=[c["name"] for c in CASES])
def test_value_and_gradients_match_sentence_transformers(spec):
    # Given a case's loss, batch and labels; When we compute the loss and backpropagate
    loss, features, labels = build(spec)
    value = run(loss, features, labels, spec["seed"], spec.get("dropout_seed"))
    total, words = grad_norms(loss)
    # Then value and gradient norms match sentence-transformers 6.2
    expected = spec["expected"]
    assert rel_diff(value, expected["value"]) <= VALUE_RTOL, (value, expected["value"])
    assert rel_diff(total, expected["grad_norm"]) <= GRAD_RTOL, (total, expected["grad_norm"])
    assert rel_diff(words, expected["word_embeddings_grad_norm"]) <= GRAD_RTOL, (
        words, expected["word_embeddings_grad_norm"])


@pytest.mark.parametrize("spec", CASES, ids=[c["name"] for c in CASES])
def test_config_dict_and_citation_match_sentence_transformers(spec):
    loss, _, _ = build(spec)
    config, expected = jsonable(loss.get_config_dict()), spec["expected"]["config"]
    assert set(config) == set(expected)
    for key, ref in expected.items():
        if key == "decoder_name_or_path":  # a path: the same folder, wherever the repo lives
            assert config[key].rstrip("/").split("/")[-1] == ref.rstrip("/").split("/")[-1]
        else:
            assert config[key] == ref, key
    assert getattr(loss, "citation", None) == spec["expected"]["citation"]


@pytest.mark.parametrize("name", sorted(golden()["signatures"]))
def test_constructor_signature_matches_sentence_transformers(name):
    params = list(inspect.signature(L.LOSSES[name].__init__).parameters.values())[1:]
    ours = [[p.name, default_repr(p.default)] for p in params]
    assert ours == golden()["signatures"][name]


# ----------------------------------------------------------------------------- Matryoshka
def _case(name: str) -> dict[str, Any]:
    return next(c for c in CASES if c["name"] == name)


@pytest.mark.parametrize("plain, cached", [("matryoshka_mnrl", "matryoshka_cmnrl"),
                                           ("matryoshka_mnrl_sampled_dims", "matryoshka_cmnrl_sampled_dims")])
def test_matryoshka_cached_inner_equals_plain_inner(plain, cached):
    # Given the same Matryoshka setup around MNRL and around CachedMNRL (mini-batches of 2 rows)
    results = []
    for name in (plain, cached):
        loss, features, labels = build(_case(name))
        value = run(loss, features, labels, _case(name)["seed"])
        grads = {n: p.grad.clone() for n, p in loss.named_parameters() if p.grad is not None}
        results.append((value, grads))
    # Then value and every parameter gradient agree
    (v_plain, g_plain), (v_cached, g_cached) = results
    assert math.isclose(v_plain, v_cached, rel_tol=1e-5)
    assert set(g_plain) == set(g_cached)
    # The spreading Dense layer amplifies float noise (mini-batches are padded differently), so the whole gradient
    # vector is compared: relative L2 error, as loose as the parity criterion.
    plain_vec = torch.cat([g_plain[n].flatten().double() for n in sorted(g_plain)])
    cached_vec = torch.cat([g_cached[n].flatten().double() for n in sorted(g_plain)])
    assert float((cached_vec - plain_vec).norm() / plain_vec.norm()) < GRAD_RTOL


def test_matryoshka_cached_leaves_inner_loss_unchanged():
    model = model_with(4)
    inner = L.CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)
    loss = L.MatryoshkaLoss(model, inner, [16, 8])
    features = [model.preprocess(c) for c in _case("matryoshka_cmnrl")["columns"][:2]]
    loss(features, None).backward()
    assert "calculate_loss" not in vars(inner) and "forward" not in vars(model)


def test_matryoshka_with_cached_inner_under_no_grad():
    loss, features, labels = build(_case("matryoshka_cmnrl"))
    with torch.no_grad():
        value = float(loss(features, labels))
    assert rel_diff(value, _case("matryoshka_cmnrl")["expected"]["value"]) <= VALUE_RTOL


@pytest.mark.parametrize("dims, weights, message", [
    ([], None, "at least one dimension"),
    ([16, 0], None, "must be > 0"),
    ([16, -4], None, "must be > 0"),
    ([16, 8], [1.0], "matryoshka_weights must be the same length as matryoshka_dims"),
    ([32, 8], None, "cannot exceed the model's embedding dimension of 16"),
])
def test_matryoshka_validates_dims_and_weights(dims, weights, message):
    model = model_with(4)
    with pytest.raises(ValueError, match=message):
        L.MatryoshkaLoss(model, L.MultipleNegativesRankingLoss(model), dims, matryoshka_weights=weights)


def test_matryoshka_sorts_dims_with_their_weights():
    model = model_with(4)
    loss = L.MatryoshkaLoss(model, L.MultipleNegativesRankingLoss(model), [4, 16, 8], [0.1, 1.0, 0.5])
    assert loss.matryoshka_dims == (16, 8, 4) and loss.matryoshka_weights == (1.0, 0.5, 0.1)


# ----------------------------------------------------------------------------- AdaptiveLayer
def test_adaptive_layer_warns_about_cached_inner_loss():
    # As sentence-transformers: a UserWarning naming the loss, not an error (the backward of a GradCache loss runs
    # after the per-layer passes are over).
    model = model_with(4)
    with pytest.warns(UserWarning, match="AdaptiveLayerLoss is not compatible with CachedMultipleNegativesRankingLoss"):
        L.AdaptiveLayerLoss(model, L.CachedMultipleNegativesRankingLoss(model))
    with pytest.warns(UserWarning, match="AdaptiveLayerLoss is not compatible with"):
        L.Matryoshka2dLoss(model, L.MegaBatchMarginLoss(model), [16, 8])


def test_adaptive_layer_rejects_unknown_layer_weighting():
    model = model_with(4)
    with pytest.raises(ValueError, match="layer_weighting"):
        L.AdaptiveLayerLoss(model, L.MultipleNegativesRankingLoss(model), layer_weighting="square")


def test_adaptive_layer_training_steps_reduce_the_loss():
    # Given AdaptiveLayerLoss (default: one sampled earlier layer per step) in train mode with dropout
    torch.manual_seed(0)
    random.seed(0)
    model = model_with(4).train()
    loss = L.AdaptiveLayerLoss(model, L.MultipleNegativesRankingLoss(model), n_layers_per_step=-1)
    columns = _case("adaptive_mnrl_all_layers")["columns"]
    features = [model.preprocess(c) for c in columns]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    values = []
    # When we take a few optimizer steps on one batch
    for _ in range(6):
        optimizer.zero_grad()
        out = loss(features, None)
        out.backward()
        optimizer.step()
        values.append(float(out.detach()))
    # Then the loss goes down, and the model's forward and output_hidden_states are restored
    assert values[-1] < values[0]
    assert "forward" not in vars(model) and "forward" not in vars(model[0])
    assert model[0].output_hidden_states is False
    assert "all_layer_embeddings" not in model(features[0])


# ----------------------------------------------------------------------------- DenoisingAutoEncoder
def test_dae_tied_decoder_shares_the_encoder_parameters():
    model = model_with(2)
    loss = L.DenoisingAutoEncoderLoss(model)
    encoder, decoder = model[0].auto_model, loss.decoder
    assert decoder.embed.tok.weight.data_ptr() == encoder.embed.tok.weight.data_ptr()
    for enc_layer, dec_layer in zip(encoder.layers, decoder.layers):
        assert dec_layer.attn.q.weight is enc_layer.attn.q.weight
        assert dec_layer.ffn.down.weight.data_ptr() == enc_layer.ffn.down.weight.data_ptr()
    encoder_ids = {id(p) for p in model.parameters()}
    own = [n for n, p in loss.decoder.named_parameters() if id(p) not in encoder_ids]
    assert all(".cross_" in n or n.startswith("mlm.") for n in own) and own


def test_dae_untied_decoder_from_folder_has_its_own_parameters():
    model = model_with(2)
    loss = L.DenoisingAutoEncoderLoss(model, decoder_name_or_path=str(FIXTURES / "tiny_bert_v6"),
                                      tie_encoder_decoder=False)
    encoder = model[0].auto_model
    assert loss.decoder.embed.tok.weight.data_ptr() != encoder.embed.tok.weight.data_ptr()
    torch.testing.assert_close(loss.decoder.embed.tok.weight, encoder.embed.tok.weight)
    assert loss.need_retokenization is False
    features = [model.preprocess(c) for c in _case("dae_tied")["columns"]]
    loss(features, None).backward()
    assert loss.decoder.layers[0].cross_attn.v.weight.grad is not None


def test_dae_argument_errors():
    with pytest.raises(ValueError, match="decoder_name_or_path is required"):
        L.DenoisingAutoEncoderLoss(model_with(2), tie_encoder_decoder=False)
    with pytest.raises(ValueError, match="hidden size"):
        L.DenoisingAutoEncoderLoss(model_with(4))  # 16-d Dense output vs 32-d decoder


def test_dae_tied_decoder_starts_from_the_checkpoints_lm_head():
    """As sentence-transformers 6.2 (checked by hand on the same fixture): a tied decoder built on a checkpoint that
    holds BERT's pretraining head (``cls.predictions.*``) starts from that head; the shared blocks and the word
    embeddings stay the encoder's own (not re-read from the file); a checkpoint without a head keeps a random one."""
    from safetensors.torch import load_file

    from embedkit import SentenceTransformer
    from embedkit.base.modules.transformer import Transformer
    from embedkit.sentence_transformer.modules import Pooling

    folder = FIXTURES / "se_bert_v6"  # a BertForMaskedLM checkpoint
    transformer = Transformer(str(folder))
    with torch.no_grad():
        transformer.auto_model.embed.tok.weight.add_(1.0)  # in-memory weights differ from the file's
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "cls")])
    loss = L.DenoisingAutoEncoderLoss(model)
    state = load_file(str(folder / "model.safetensors"))
    mlm = loss.decoder.mlm
    for ours, theirs in [(mlm.dense.weight, "cls.predictions.transform.dense.weight"),
                         (mlm.norm.weight, "cls.predictions.transform.LayerNorm.weight"),
                         (mlm.bias, "cls.predictions.bias")]:
        assert torch.equal(ours, state[theirs]), theirs
    assert loss.decoder.embed.tok.weight is transformer.auto_model.embed.tok.weight
    assert not torch.equal(transformer.auto_model.embed.tok.weight, state["bert.embeddings.word_embeddings.weight"])
    plain = L.DenoisingAutoEncoderLoss(model_with(2))  # tiny_bert_v6 has no head: BERT's initialisation
    assert float(plain.decoder.mlm.dense.weight.std()) == pytest.approx(0.02, rel=0.2)
