"""transformers' attribute names on every encoder family (``auto_model.embeddings.word_embeddings``,
``auto_model.encoder.layer``), and the layer pruning sentence-transformers documents for AdaptiveLayerLoss models and
layer-reduction distillation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from embedkit import SentenceTransformer
from embedkit.encoders.convert import FROM_HF
from embedkit.encoders.transformers_attributes import TransformersAttributes, TransformersView
from tests.conftest import FIXTURES
from tests.encoders.family_checks import FAMILY_FOLDERS

TEXTS = ["a short text", "another, somewhat longer text about the weather in Paris", "x"]


def resolve(root, path):
    value = root
    for part in path.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return value


@pytest.mark.parametrize("name", FAMILY_FOLDERS)
def test_every_weight_is_reached_by_its_transformers_path(name):
    """Each key of the family's weight-name table (``convert.FROM_HF``) is a transformers attribute path: followed
    on the encoder, it reaches the very Parameter embedkit loads it into (inside a layer: the layer list, then
    embedkit's layer)."""
    encoder = SentenceTransformer(str(FIXTURES / name), device="cpu")[0].auto_model
    params = dict(encoder.named_parameters(remove_duplicate=False))
    checked = 0
    for hf_key, ek_key in FROM_HF[encoder.config.model_type].items():
        if hf_key.count("{}") == 2:  # ALBERT's shared layers: groups, then the layers of a group
            groups, layers = hf_key.split(".{}")[:2]
            assert resolve(encoder, groups) is encoder.groups, hf_key
            assert resolve(encoder, f"{groups}.0{layers}") is encoder.groups[0].layers
            assert resolve(encoder, f"{groups}.0{layers}.0") is encoder.groups[0].layers[0] is encoder.layers[0]
            checked += 1
        elif "{}" in hf_key:  # a per-layer weight: the container path gives embedkit's layer list
            container = hf_key.split(".{}")[0]
            assert resolve(encoder, container) is encoder.layers, hf_key
            assert resolve(encoder, container + ".0") is encoder.layers[0]
            checked += 1
        elif ek_key in params and not any(part.isdigit() for part in hf_key.split(".")):
            assert resolve(encoder, hf_key) is params[ek_key], hf_key
            checked += 1
    assert checked >= 3


def test_names_do_not_hide_modules_and_every_name_is_a_weight_path():
    """No alias shadows a real attribute of an instance, and every alias is a module path of the family's weight
    table (the two tables cannot drift apart)."""
    for name in FAMILY_FOLDERS:
        encoder = SentenceTransformer(str(FIXTURES / name), device="cpu")[0].auto_model
        hf_keys = set(FROM_HF[encoder.config.model_type])
        hf_paths = {key.rsplit(".", 1)[0] for key in hf_keys} | hf_keys  # modules, and parameters (ALBERT's pooler)
        for module_name, module in encoder.named_modules():
            table = type(module).transformers_attributes if isinstance(module, TransformersAttributes) else {}
            for alias, target in table.items():
                assert alias not in module._modules and alias not in module._parameters and alias not in vars(module)
                # ALBERT: its groups (``groups.0``) and its pooler (a bare Linear in transformers) have names too
                prefix = {"": "", "embed": "embeddings.", "pooler": "pooler."}.get(
                    module_name, "encoder.albert_layer_groups.{}." if module_name.startswith("groups.") else None)
                assert prefix is not None, (name, module_name)
                for child in target if isinstance(target, dict) else [""]:
                    if resolve(module, target[child] if child else target) is None:
                        continue  # a module this checkpoint does not have (DeBERTa v1's encoder.LayerNorm)
                    path = prefix + alias + (f".{child}" if child else "")
                    assert any(p == path or p.startswith(path + ".") for p in hf_paths), (name, path)


def test_state_dict_and_parameters_keep_one_name_each():
    encoder = SentenceTransformer(str(FIXTURES / "tiny_mpnet_v6"), device="cpu")[0].auto_model
    keys = list(encoder.state_dict())
    assert not any(k.startswith(("embeddings.", "encoder.")) for k in keys)
    assert len(list(encoder.parameters())) == len(dict(encoder.named_parameters()))
    view = encoder.encoder
    assert isinstance(view, TransformersView) and view.relative_attention_bias is encoder.rel_bias
    assert sum(p.numel() for p in view.parameters()) == (sum(p.numel() for p in encoder.layers.parameters())
                                                         + encoder.rel_bias.weight.numel())


def test_assigning_a_transformers_name_assigns_embedkits_module():
    encoder = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")[0].auto_model
    table = nn.Embedding(encoder.embed.tok.num_embeddings, encoder.embed.tok.embedding_dim)
    encoder.embeddings.word_embeddings = table
    assert encoder.embed.tok is table and "word_embeddings" not in encoder.embed._modules
    encoder.embeddings.LayerNorm = nn.LayerNorm(encoder.config.hidden_size)
    assert encoder.embed.norm is encoder.embeddings.LayerNorm
    with pytest.raises(AttributeError, match="'encoder' is a view"):
        encoder.encoder = nn.Module()
    with pytest.raises(AttributeError, match="has no attribute 'transformer'"):
        encoder.transformer  # noqa: B018 (DistilBERT's name, not BERT's)
    distil = SentenceTransformer(str(FIXTURES / "distilbert_st"), device="cpu")[0].auto_model
    assert distil.transformer.layer is distil.layers
    with pytest.raises(AttributeError, match="has no attribute 'encoder'"):
        distil.encoder  # noqa: B018 (inherited from BertModel, but DistilBERT has no such name)


@pytest.mark.parametrize("name", ["tiny_bert_v6", "tiny_mpnet_v6", "distilbert_st", "deberta_st"])
def test_pruned_layers_give_the_full_models_hidden_state_at_that_depth(tmp_path, name):
    """``auto_model.encoder.layer = auto_model.encoder.layer[:k]`` (the AdaptiveLayerLoss docs' inference recipe):
    token embeddings equal the full model's hidden state after layer k, on the default engine path and after
    ``optimize_for_inference()``; with config.num_hidden_layers updated the folder saves and reloads."""
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    features = model.preprocess(TEXTS)
    with torch.no_grad():
        full = model[0].auto_model(features["input_ids"], features["attention_mask"], output_hidden_states=True)
    auto_model = model[0].auto_model
    container = auto_model.transformer if name == "distilbert_st" else auto_model.encoder
    container.layer = container.layer[:1]
    assert len(auto_model.layers) == 1
    mask = features["attention_mask"].bool()
    for step in ("default", "frozen"):
        if step == "frozen":
            model.optimize_for_inference()
        tokens = model.encode(TEXTS, output_value="token_embeddings", batch_size=8)
        for i, got in enumerate(tokens):
            torch.testing.assert_close(got, full.hidden_states[1][i][mask[i]], rtol=0, atol=2e-6)
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    container = model[0].auto_model.transformer if name == "distilbert_st" else model[0].auto_model.encoder
    container.layer = container.layer[:1]
    model[0].auto_model.config.num_hidden_layers = 1
    model.save(str(tmp_path / "pruned"))
    np.testing.assert_allclose(SentenceTransformer(str(tmp_path / "pruned"), device="cpu").encode(TEXTS),
                               model.encode(TEXTS), rtol=0, atol=1e-6)


def test_saving_a_pruned_encoder_without_its_config_warns(tmp_path, caplog):
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    model[0].auto_model.encoder.layer = model[0].auto_model.encoder.layer[:1]
    with caplog.at_level("WARNING"):
        model.save(str(tmp_path / "m"))
    assert "BertModel has 1 layers but config.num_hidden_layers is 2" in caplog.text
