"""StaticEmbedding and Router against sentence-transformers 6.2 goldens (tests/generate_router_fixtures.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit import SentenceTransformer
from embedkit.base.losses.gradcache import slice_features
from embedkit.base.modules.module import read_json_file, write_json_file
from embedkit.sentence_transformer.modules import Normalize, Pooling, Router, StaticEmbedding, Transformer

FIX = Path(__file__).parent.parent / "fixtures"
GOLD = json.loads((FIX / "router_golden.json").read_text(encoding="utf-8"))
TEXTS = GOLD["texts"]
ATOL = 1e-5


@pytest.mark.parametrize("name", ["static_st", "static_m2v"])
def test_static_embedding_matches_st(name):
    if name == "static_m2v":
        model = SentenceTransformer(modules=[StaticEmbedding.load(FIX / name)], device="cpu")
    else:
        model = SentenceTransformer(str(FIX / name), device="cpu")
    np.testing.assert_allclose(model.encode(TEXTS, batch_size=3), GOLD[name], atol=ATOL, rtol=0)
    assert model.max_seq_length == float("inf")


def test_static_empty_text_is_zero_and_bad_input_named():
    static = StaticEmbedding.load(FIX / "static_st")
    out = static(static.preprocess(["", "a cat"]))["sentence_embedding"]
    assert torch.count_nonzero(out[0]) == 0 and torch.count_nonzero(out[1]) > 0
    with pytest.raises(TypeError, match="input 1"):
        static.preprocess(["ok", 3])


def test_static_save_round_trip_and_st_layout(tmp_path):
    model = SentenceTransformer(str(FIX / "static_st"), device="cpu")
    model.save(tmp_path / "out")
    assert read_json_file(tmp_path / "out" / "modules.json")[0]["path"] == ""
    from safetensors.torch import load_file

    assert set(load_file(str(tmp_path / "out" / "model.safetensors"))) == {"embedding.weight"}
    again = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    np.testing.assert_allclose(again.encode(TEXTS), GOLD["static_st"], atol=ATOL, rtol=0)


def test_static_load_refuses_unknown_weight_layout(tmp_path):
    from safetensors.torch import save_file

    shutil.copy(FIX / "static_st" / "tokenizer.json", tmp_path / "tokenizer.json")
    save_file({"something": torch.zeros(3, 2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="embedding.weight"):
        StaticEmbedding.load(tmp_path)


def test_static_slices_for_gradcache():
    static = StaticEmbedding.load(FIX / "static_st")
    features = static.preprocess(TEXTS)
    full = static(features)["sentence_embedding"]
    parts = [static(slice_features(features, b, min(b + 3, len(TEXTS))))["sentence_embedding"]
             for b in range(0, len(TEXTS), 3)]
    torch.testing.assert_close(torch.cat(parts), full)


@pytest.mark.parametrize("name", ["router_dense", "router_mapped"])
def test_router_matches_st(name):
    model = SentenceTransformer(str(FIX / name), device="cpu")
    gold = GOLD[name]
    query = model.encode_query(TEXTS, batch_size=4)
    document = model.encode_document(TEXTS, batch_size=4)
    np.testing.assert_allclose(query, gold["query"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(document, gold["document"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(model.encode(TEXTS), gold["plain"], atol=ATOL, rtol=0)
    assert np.abs(query - document).max() > 1e-2, "the two routes must differ"


def test_router_save_round_trip_and_sentence_transformers_layout(tmp_path):
    model = SentenceTransformer(str(FIX / "router_mapped"), device="cpu")
    model.save(tmp_path / "out")
    config = read_json_file(tmp_path / "out" / "router_config.json")
    assert config["structure"] == {"q": ["q_0_StaticEmbedding"], "d": ["d_0_Transformer", "d_1_Pooling"]}
    assert config["parameters"]["route_mappings"]["('query', None)"] == "q"
    assert read_json_file(tmp_path / "out" / "modules.json")[0]["type"] == "sentence_transformers.models.Router"
    again = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    np.testing.assert_allclose(again.encode_query(TEXTS), GOLD["router_mapped"]["query"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(again.encode_document(TEXTS), GOLD["router_mapped"]["document"], atol=ATOL, rtol=0)


def test_router_without_default_route_needs_a_task():
    router = Router({"q": [StaticEmbedding.load(FIX / "static_st")]}, allow_empty_key=False)
    with pytest.raises(ValueError, match="router_mapping"):  # training mode: the hint is about training args
        router.preprocess([1])
    router.eval()
    with pytest.raises(ValueError, match="Could not determine route for task=None"):
        router.preprocess([1])  # not text: no modality, no task
    with pytest.raises(ValueError, match="No route found for task type 'nope'"):
        router.preprocess(["x"], task="nope")
    assert router.preprocess(["x"], task="q")["task"] == "q"


def test_router_constructor_errors():
    static = StaticEmbedding.load(FIX / "static_st")
    with pytest.raises(ValueError, match="cannot be empty"):
        Router({})
    with pytest.raises(ValueError, match="Default route 'x' not found"):
        Router({"a": [static]}, default_route="x")
    with pytest.raises(ValueError, match="not in sub_modules"):
        Router({"a": [static]}, route_mappings={("query", None): "b"})


def test_shared_module_saved_once(tmp_path):
    transformer = Transformer(FIX / "tiny_bert_v6")
    pooling = Pooling(transformer.get_embedding_dimension(), "mean")
    router = Router.for_query_document([transformer, pooling], [transformer, pooling])
    model = SentenceTransformer(modules=[router, Normalize()], device="cpu")
    model.save(tmp_path / "out")
    config = read_json_file(tmp_path / "out" / "router_config.json")
    assert config["structure"]["document"] == config["structure"]["query"] == ["query_0_Transformer",
                                                                               "query_1_Pooling"]
    again = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    np.testing.assert_allclose(again.encode_query(TEXTS[:3]), model.encode_document(TEXTS[:3]), atol=1e-6)


@pytest.mark.parametrize("module_id", ["../escape", "/abs/path", "q/../../x"])
def test_router_config_paths_cannot_escape_the_model_folder(tmp_path, module_id):
    folder = tmp_path / "model"
    shutil.copytree(FIX / "router_dense", folder)
    config = read_json_file(folder / "router_config.json")
    config["types"] = {module_id: config["types"]["query_0_StaticEmbedding"],
                       "document_0_Transformer": config["types"]["document_0_Transformer"],
                       "document_1_Pooling": config["types"]["document_1_Pooling"]}
    config["structure"]["query"] = [module_id]
    write_json_file(folder / "router_config.json", config)
    with pytest.raises(ValueError, match="escapes|absolute"):
        SentenceTransformer(str(folder), device="cpu")


def test_router_config_unknown_type_and_missing_module_refused(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(FIX / "router_dense", folder)
    config = read_json_file(folder / "router_config.json")
    config["types"]["query_0_StaticEmbedding"] = "my_package.EvilModule"
    write_json_file(folder / "router_config.json", config)
    with pytest.raises(ValueError, match="not supported by embedkit"):
        SentenceTransformer(str(folder), device="cpu")
    shutil.rmtree(folder)
    shutil.copytree(FIX / "router_dense", folder)
    config = read_json_file(folder / "router_config.json")
    config["structure"]["query"] = ["ghost"]
    write_json_file(folder / "router_config.json", config)
    with pytest.raises(ValueError, match="ghost"):
        SentenceTransformer(str(folder), device="cpu")


def test_router_trains_with_router_mapping(tmp_path):
    from embedkit import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from embedkit.data import Dataset
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(str(FIX / "router_dense"), device="cpu")
    data = Dataset.from_dict({"question": TEXTS[:6], "answer": TEXTS[2:8]})
    query_before = model[0].sub_modules["query"][0].embedding.weight.detach().clone()
    doc_before = model[0].sub_modules["document"][0].auto_model.embed.tok.weight.detach().clone()
    loss = MultipleNegativesRankingLoss(model)
    common = dict(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=3, save_strategy="no",
                  disable_tqdm=True, learning_rate=1e-2)
    with pytest.raises(ValueError, match="router_mapping"):
        SentenceTransformerTrainer(model, SentenceTransformerTrainingArguments(**common), train_dataset=data,
                                   loss=loss).train()
    args = SentenceTransformerTrainingArguments(router_mapping={"question": "query", "answer": "document"}, **common)
    SentenceTransformerTrainer(model, args, train_dataset=data, loss=loss).train()
    assert not torch.equal(model[0].sub_modules["query"][0].embedding.weight, query_before)
    assert not torch.equal(model[0].sub_modules["document"][0].auto_model.embed.tok.weight, doc_before)


@pytest.mark.parametrize("module_id", [".", "", "./"])
def test_a_router_sub_module_in_the_routers_own_folder_is_refused(tmp_path, module_id):
    # a Router whose sub-module is the Router folder itself would load itself without end (memory runs out)
    folder = tmp_path / "model"
    shutil.copytree(FIX / "router_dense", folder)
    router_folder = folder / read_json_file(folder / "modules.json")[0]["path"]
    config = read_json_file(router_folder / "router_config.json")
    config["types"][module_id] = "sentence_transformers.base.modules.router.Router"
    config["structure"]["query"] = [module_id]
    write_json_file(router_folder / "router_config.json", config)
    with pytest.raises(ValueError, match="is the Router's own folder"):
        SentenceTransformer(str(folder), device="cpu")


def test_asym_dict_inputs_choose_the_route():
    """sentence-transformers 5.x ``Asym`` inputs: ``{"query": text}`` dicts route as ``task="query"``."""
    model = SentenceTransformer(str(FIX / "router_mapped"), device="cpu")
    gold = GOLD["router_mapped"]
    np.testing.assert_allclose(model.encode([{"query": t} for t in TEXTS]), gold["query"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(model.encode([{"document": t} for t in TEXTS]), gold["document"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(model.encode({"query": TEXTS[0]}), gold["query"][0], atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="different task types"):
        model.encode([{"query": TEXTS[0]}, {"document": TEXTS[1]}])
    plain = SentenceTransformer(str(FIX / "static_st"), device="cpu")  # no Router: such dicts stay refused
    with pytest.raises(ValueError, match="reads text only"):
        plain.encode([{"query": "x"}])
