"""``Transformer(path, transformer_task=...)``: the three tasks embedkit runs, built as sentence-transformers 6.x
code builds them (SPLADE and CrossEncoder module stacks), checked against the golden outputs of the fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit import CrossEncoder, SparseEncoder
from embedkit.base.modules import Transformer
from embedkit.base.modules.sequence_classification import SequenceClassificationTransformer
from embedkit.sparse_encoder.modules import MLMTransformer, SpladePooling

FIX = Path(__file__).resolve().parents[2] / "fixtures"
CE_GOLD = json.loads((FIX / "ce_golden.json").read_text(encoding="utf-8"))
SE_META = json.loads((FIX / "se_golden.json").read_text(encoding="utf-8"))
with np.load(FIX / "se_golden.npz") as _data:
    SE_GOLD = {k: _data[k] for k in _data.files}
ATOL = 1e-4


@pytest.mark.parametrize("task,cls", [("feature-extraction", Transformer), ("fill-mask", MLMTransformer),
                                      ("sequence-classification", SequenceClassificationTransformer)])
def test_the_task_picks_the_module(task, cls):
    folder = {"feature-extraction": "tiny_bert_v6", "fill-mask": "se_bert_v6",
              "sequence-classification": "ce_bert3"}[task]
    module = Transformer(FIX / folder, transformer_task=task)
    assert type(module) is cls and isinstance(module, Transformer)
    assert module.transformer_task == task
    expected_output = {"feature-extraction": "token_embeddings", "fill-mask": "token_embeddings",
                       "sequence-classification": "scores"}[task]
    assert module.module_output_name == expected_output
    assert module.get_config_dict()["transformer_task"] == task


def test_unsupported_tasks_and_mismatches_raise():
    with pytest.raises(ValueError, match="any-to-any.*feature-extraction"):
        Transformer(FIX / "tiny_bert_v6", transformer_task="any-to-any")
    with pytest.raises(ValueError, match="causal language models of bert are not supported"):
        Transformer(FIX / "tiny_bert_v6", transformer_task="text-generation")
    with pytest.raises(ValueError, match="Unsupported transformer_task"):
        Transformer(FIX / "tiny_bert_v6", transformer_task="no-such-task")
    with pytest.raises(ValueError, match="MLMTransformer runs transformer_task='fill-mask'"):
        MLMTransformer(FIX / "se_bert_v6", transformer_task="sequence-classification")
    with pytest.raises(ValueError, match="not supported by embedkit for sequence-classification"):
        Transformer(FIX / "ce_bert1", transformer_task="sequence-classification",
                    modality_config={"text": {"method": "forward", "method_output_name": "logits"}},
                    module_output_name="token_embeddings")


# ---------------------------------------------------------------- fill-mask: SPLADE as ST 6 builds it
@pytest.mark.parametrize("name,folder", [("bert", "se_bert_v6"), ("mpnet", "se_mpnet_v6")])
def test_fill_mask_module_stack_matches_st(name, folder):
    saved_length = Transformer.load(FIX / folder).max_seq_length  # the folder's own setting, so outputs stay ST's
    options = {"text": {"max_length": saved_length}}
    mlm = Transformer(FIX / folder, transformer_task="fill-mask", processing_kwargs=options)
    saved_pooling = json.loads((FIX / folder / "1_SpladePooling" / "config.json").read_text())
    pooling = SpladePooling(pooling_strategy=saved_pooling["pooling_strategy"],
                            activation_function=saved_pooling["activation_function"],
                            embedding_dimension=mlm.vocab_size)
    model = SparseEncoder(modules=[mlm, pooling], device="cpu")
    emb = model.encode(SE_META["texts"], batch_size=3).to_dense().numpy()
    expected = SE_GOLD[f"{name}/encode"]
    np.testing.assert_allclose(emb, expected, atol=ATOL, rtol=0)
    np.testing.assert_array_equal(emb != 0, expected != 0)
    assert mlm.processing_kwargs == options  # Transformer's keywords reach the MLM module


def test_fill_mask_module_on_an_encoder_gets_a_new_tied_head(caplog, tmp_path):
    with caplog.at_level("WARNING"):
        mlm = Transformer(FIX / "tiny_bert_v6", transformer_task="fill-mask")
    assert "has no MLM head" in caplog.text
    assert mlm.mlm_head.decoder is None and "pooler" not in dict(mlm.auto_model.named_children())
    assert torch.count_nonzero(mlm.mlm_head.bias) == 0 and 0 < float(mlm.mlm_head.dense.weight.detach().std()) < 0.05
    encoder = Transformer(FIX / "tiny_bert_v6")
    for name, tensor in mlm.auto_model.state_dict().items():  # the encoder's weights are the checkpoint's
        assert torch.equal(tensor, encoder.auto_model.state_dict()[name])
    model = SparseEncoder(modules=[mlm, SpladePooling("max")], device="cpu")
    model.save(tmp_path / "splade")  # a complete SPLADE folder, reloaded with its new head
    reloaded = SparseEncoder(tmp_path / "splade", device="cpu")
    texts = SE_META["texts"][:3]
    assert torch.equal(reloaded.encode(texts).to_dense(), model.encode(texts).to_dense())


# ---------------------------------------------------------------- sequence-classification: CrossEncoder stacks
@pytest.mark.parametrize("name", ["ce_bert1", "ce_bert3", "ce_mpnet1", "ce_mpnet3"])
def test_classifier_module_stack_matches_st(name):
    module = Transformer(FIX / name, transformer_task="sequence-classification")
    gold = CE_GOLD[name]
    assert module.config.num_labels == module.num_labels == gold["num_labels"]
    ce = CrossEncoder(modules=[module], device="cpu")
    assert ce.num_labels == gold["num_labels"] and ce.max_seq_length == gold["max_length"]
    np.testing.assert_allclose(ce.predict(CE_GOLD["pairs"], batch_size=3), gold["default"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(ce.predict(CE_GOLD["pairs"], activation_fn=torch.nn.Identity()), gold["identity"],
                               atol=ATOL, rtol=0)
    features = module.preprocess([tuple(p) for p in CE_GOLD["pairs"][:2]])
    with torch.no_grad():
        scores = module(features)["scores"]  # the module alone: logits (B, num_labels)
    np.testing.assert_allclose(scores.numpy(), np.asarray(gold["identity"][:2]).reshape(2, -1), atol=ATOL, rtol=0)


def test_classifier_module_and_stack_save_and_load(tmp_path):
    module = Transformer(FIX / "ce_bert3", transformer_task="sequence-classification")
    pairs = [tuple(p) for p in CE_GOLD["pairs"]]
    with torch.no_grad():
        before = module(module.preprocess(pairs))["scores"]
    module.save(tmp_path / "module")
    saved = json.loads((tmp_path / "module" / "sentence_bert_config.json").read_text())
    assert saved["transformer_task"] == "sequence-classification" and saved["module_output_name"] == "scores"
    assert json.loads((tmp_path / "module" / "config.json").read_text())["architectures"] == [
        "BertForSequenceClassification"]
    reloaded = Transformer.load(tmp_path / "module")
    assert type(reloaded) is SequenceClassificationTransformer
    with torch.no_grad():
        assert torch.equal(reloaded(reloaded.preprocess(pairs))["scores"], before)
    ce = CrossEncoder(modules=[module], device="cpu")
    ce.save(tmp_path / "ce")
    np.testing.assert_array_equal(CrossEncoder(tmp_path / "ce", device="cpu").predict(pairs), ce.predict(pairs))


def test_classifier_module_on_an_encoder_gets_a_new_head(caplog):
    with caplog.at_level("WARNING"):
        module = Transformer(FIX / "tiny_bert_v6", transformer_task="sequence-classification")
    assert "no classification head" in caplog.text and module.num_labels == 1  # 1 label, as ST defaults it
    two = Transformer(FIX / "tiny_bert_v6", transformer_task="sequence-classification",
                      config_kwargs={"num_labels": 2})
    assert two.config.num_labels == 2
    with pytest.raises(ValueError, match="num_labels=2 but the checkpoint's classifier has 3"):
        Transformer(FIX / "ce_bert3", transformer_task="sequence-classification", config_kwargs={"num_labels": 2})


# ---------------------------------------------------------------- output_hidden_states as transformers' config has it
def test_output_hidden_states_follows_the_model_config():
    module = Transformer(FIX / "tiny_bert_v6")
    features = module.preprocess(["hello world"])
    assert "all_layer_embeddings" not in module(features)
    module.auto_model.config.output_hidden_states = True  # the sentence-transformers idiom
    out = module(features)
    layers = module.config.num_hidden_layers
    assert module.output_hidden_states and len(out["all_layer_embeddings"]) == layers + 1
    assert torch.equal(out["all_layer_embeddings"][-1], out["token_embeddings"])
    module.output_hidden_states = False
    assert not module.auto_model.config.output_hidden_states and "all_layer_embeddings" not in module(features)
    assert Transformer(FIX / "tiny_bert_v6", model_kwargs={"output_hidden_states": True}).output_hidden_states


def test_prompt_length_cache_is_keyed_by_keywords_but_not_task():
    module = Transformer(FIX / "tiny_bert_v6")
    module._prompt_length_mapping.clear()
    lengths = {module._get_prompt_length("search query: ", task="query"),
               module._get_prompt_length("search query: "),
               module._get_prompt_length("search query: ", mode="x"),
               module._get_prompt_length("search query: ", processing_kwargs={"text": {}})}
    assert len(lengths) == 1 and len(module._prompt_length_mapping) == 3


def test_loaded_cross_encoder_answers_its_classifier_module():
    ce = CrossEncoder(FIX / "ce_bert3", device="cpu")
    keys_before = list(ce.state_dict())
    module = ce[0]
    assert type(module) is SequenceClassificationTransformer and ce[-1] is module
    assert module.auto_model is ce.model and module.tokenizer is ce.tokenizer and module.num_labels == 3
    assert [type(m) for m in ce] == [SequenceClassificationTransformer] and len(ce) == 1
    with pytest.raises(IndexError):
        ce[1]
    pairs = [tuple(p) for p in CE_GOLD["pairs"][:3]]
    with torch.no_grad():
        scores = module(module.preprocess(pairs))["scores"]
    np.testing.assert_allclose(scores.numpy(), CE_GOLD["ce_bert3"]["identity"][:3], atol=ATOL, rtol=0)
    module.max_seq_length = 16  # shared tokenizer: the CrossEncoder truncates there too
    assert ce.max_seq_length == 16
    assert list(ce.state_dict()) == keys_before  # the module is a view, not a second registration of the weights


def test_a_task_module_loads_a_folder_with_an_unknown_config_key(tmp_path, caplog):
    """The task classes forward ``**kwargs`` to Transformer: an unknown saved key is dropped with a warning, as for
    Transformer itself, instead of reaching the constructor."""
    Transformer(FIX / "ce_bert1", transformer_task="sequence-classification").save(tmp_path)
    config_path = tmp_path / "sentence_bert_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "future_key": 1}))
    with caplog.at_level("WARNING"):
        module = SequenceClassificationTransformer.load(tmp_path)
    assert type(module) is SequenceClassificationTransformer and "future_key" in caplog.text
