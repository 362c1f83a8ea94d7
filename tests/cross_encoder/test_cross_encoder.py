"""CrossEncoder parity with sentence-transformers 6.2 goldens (tests/generate_ce_fixtures.py), loading and saving."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit.base.modules.module import read_json_file, write_json_file
from embedkit.cross_encoder import CrossEncoder

FIX = Path(__file__).parent.parent / "fixtures"
GOLD = json.loads((FIX / "ce_golden.json").read_text(encoding="utf-8"))
NAMES = ["ce_bert_hf", "ce_bert1", "ce_bert3", "ce_mpnet1", "ce_mpnet3"]
ATOL = 1e-4


@pytest.fixture(scope="module", params=NAMES)
def loaded(request):
    return request.param, CrossEncoder(FIX / request.param, device="cpu")


def test_predict_matches_st(loaded):
    name, ce = loaded
    gold = GOLD[name]
    assert ce.num_labels == gold["num_labels"]
    assert ce.max_seq_length == gold["max_length"]
    scores = ce.predict(GOLD["pairs"], batch_size=3)
    expected = np.asarray(gold["default"])
    assert scores.shape == expected.shape
    np.testing.assert_allclose(scores, expected, atol=ATOL, rtol=0)
    np.testing.assert_allclose(ce.predict(GOLD["pairs"], activation_fn=torch.nn.Identity()), gold["identity"],
                               atol=ATOL, rtol=0)
    np.testing.assert_allclose(ce.predict(GOLD["pairs"], apply_softmax=True), gold["softmax"], atol=ATOL, rtol=0)


def test_single_pair_gives_scalar_or_row(loaded):
    name, ce = loaded
    single = ce.predict(tuple(GOLD["pairs"][0]))
    assert np.shape(single) == np.shape(GOLD[name]["single"])
    np.testing.assert_allclose(single, GOLD[name]["single"], atol=ATOL, rtol=0)
    assert np.shape(ce.predict(list(GOLD["pairs"][0]))) == np.shape(GOLD[name]["single"])


def test_output_types(loaded):
    _, ce = loaded
    pairs = GOLD["pairs"][:3]
    as_tensor = ce.predict(pairs, convert_to_tensor=True)
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape[0] == 3
    as_list = ce.predict(pairs, convert_to_numpy=False)
    assert isinstance(as_list, list) and len(as_list) == 3
    assert ce.predict([]).shape == (0,)
    np.testing.assert_allclose(ce.predict(pairs, batch_size=1), ce.predict(pairs, batch_size=32), atol=1e-6)


@pytest.mark.parametrize("name", ["ce_bert_hf", "ce_bert1", "ce_mpnet1"])
def test_rank_matches_st(name):
    ce = CrossEncoder(FIX / name, device="cpu")
    gold = GOLD[name]["rank"]
    hits = ce.rank(GOLD["query"], GOLD["docs"], return_documents=True)
    assert [h["corpus_id"] for h in hits] == [h["corpus_id"] for h in gold]
    assert [h["text"] for h in hits] == [h["text"] for h in gold]
    assert all(type(h["score"]) is float for h in hits)
    np.testing.assert_allclose([h["score"] for h in hits], [h["score"] for h in gold], atol=ATOL, rtol=0)
    top2 = ce.rank(GOLD["query"], GOLD["docs"], top_k=2)
    assert [h["corpus_id"] for h in top2] == GOLD[name]["rank_top2"]
    assert set(top2[0]) == {"corpus_id", "score"}


def test_rank_refuses_multi_label():
    with pytest.raises(ValueError, match="num_labels=1"):
        CrossEncoder(FIX / "ce_bert3", device="cpu").rank("q", ["d"])


@pytest.mark.parametrize("name", ["ce_bert_hf", "ce_bert3", "ce_mpnet1", "ce_mpnet3"])
def test_save_load_round_trip(name, tmp_path):
    ce = CrossEncoder(FIX / name, device="cpu")
    ce.save(tmp_path / "saved")
    files = {p.name for p in (tmp_path / "saved").iterdir()}
    assert {"config.json", "model.safetensors", "modules.json", "sentence_bert_config.json",
            "config_sentence_transformers.json", "tokenizer.json"} <= files
    st_config = read_json_file(tmp_path / "saved" / "config_sentence_transformers.json")
    assert st_config["model_type"] == "CrossEncoder"
    assert st_config["activation_fn"] == ("torch.nn.modules.activation.Sigmoid" if ce.num_labels == 1
                                          else "torch.nn.modules.linear.Identity")
    prefix = "bert." if "bert" in name else "mpnet."
    from safetensors.torch import load_file

    keys = set(load_file(str(tmp_path / "saved" / "model.safetensors")))
    assert all(k.startswith((prefix, "classifier.")) for k in keys)
    again = CrossEncoder(tmp_path / "saved", device="cpu")
    assert again.num_labels == ce.num_labels and again.max_seq_length == ce.max_seq_length
    np.testing.assert_allclose(again.predict(GOLD["pairs"]), GOLD[name]["default"], atol=ATOL, rtol=0)


def test_save_keeps_custom_activation_and_max_length(tmp_path):
    ce = CrossEncoder(FIX / "ce_bert1", device="cpu", activation_fn=torch.nn.Tanh(), max_length=16)
    ce.save_pretrained(tmp_path)
    again = CrossEncoder(tmp_path, device="cpu")
    assert isinstance(again.activation_fn, torch.nn.Tanh)
    assert again.max_seq_length == 16
    np.testing.assert_allclose(again.predict(GOLD["pairs"]), np.tanh(ce.predict(GOLD["pairs"],
                               activation_fn=torch.nn.Identity())), atol=1e-6)


@pytest.mark.parametrize("legacy", [
    {"sentence_transformers": {"activation_fn": "torch.nn.modules.linear.Identity"}},
    {"sbert_ce_default_activation_function": "torch.nn.modules.linear.Identity"},
])
def test_legacy_activation_in_config_json(legacy, tmp_path):
    folder = tmp_path / "legacy"
    shutil.copytree(FIX / "ce_bert_hf", folder)
    write_json_file(folder / "config.json", read_json_file(folder / "config.json") | legacy)
    ce = CrossEncoder(folder, device="cpu")
    assert isinstance(ce.activation_fn, torch.nn.Identity)
    np.testing.assert_allclose(ce.predict(GOLD["pairs"]), GOLD["ce_bert_hf"]["identity"], atol=ATOL, rtol=0)


def test_default_activation():
    assert isinstance(CrossEncoder(FIX / "ce_bert_hf", device="cpu").activation_fn, torch.nn.Sigmoid)
    assert isinstance(CrossEncoder(FIX / "ce_mpnet3", device="cpu").activation_fn, torch.nn.Identity)


def test_non_torch_activation_not_imported(tmp_path, caplog):
    # a saved activation outside torch.* is never imported: a warning, and the default activation instead
    folder = tmp_path / "evil"
    shutil.copytree(FIX / "ce_bert1", folder)
    config = read_json_file(folder / "config_sentence_transformers.json")
    write_json_file(folder / "config_sentence_transformers.json", config | {"activation_fn": "os.system"})
    with caplog.at_level("WARNING"):
        ce = CrossEncoder(folder, device="cpu")
    assert "Activation function path 'os.system' is not trusted" in caplog.text
    assert isinstance(ce.activation_fn, torch.nn.Sigmoid)


def test_trust_remote_code_is_accepted_and_imports_nothing_more(tmp_path, caplog):
    pairs = [("a cat", "a dog"), ("the sun", "a star")]
    plain = CrossEncoder(FIX / "ce_bert1", device="cpu")
    trusted = CrossEncoder(FIX / "ce_bert1", device="cpu", trust_remote_code=True)
    assert trusted.trust_remote_code and np.array_equal(plain.predict(pairs), trusted.predict(pairs))
    folder = tmp_path / "evil"  # with the flag too, a saved activation outside torch.* is never imported
    shutil.copytree(FIX / "ce_bert1", folder)
    config = read_json_file(folder / "config_sentence_transformers.json")
    write_json_file(folder / "config_sentence_transformers.json", config | {"activation_fn": "os.system"})
    with caplog.at_level("WARNING"):
        ce = CrossEncoder(folder, device="cpu", trust_remote_code=True)
    assert "'os.system' is not imported: embedkit imports only torch.* activation functions" in caplog.text
    assert isinstance(ce.activation_fn, torch.nn.Sigmoid)


def test_num_labels_mismatch_refused():
    with pytest.raises(ValueError, match="num_labels=2"):
        CrossEncoder(FIX / "ce_bert1", device="cpu", num_labels=2)
    assert CrossEncoder(FIX / "ce_bert3", device="cpu", num_labels=3).num_labels == 3


def test_bad_inputs():
    ce = CrossEncoder(FIX / "ce_bert1", device="cpu")
    with pytest.raises(TypeError, match="input 1"):
        ce.predict([("a", "b"), ("a", 3)])
    with pytest.raises(TypeError, match="input 0"):
        ce.predict(["just one string", "another"] + ["x"])
    with pytest.raises(TypeError, match="input 2"):
        ce.preprocess([("a", "b"), ["c", "d"], None])
    for bad in (0, -1):
        with pytest.raises(ValueError, match="batch_size"):
            ce.predict([("a", "b")], batch_size=bad)


def test_strict_loading_names_unexpected_weights(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "extra"
    shutil.copytree(FIX / "ce_bert1", folder)
    state = load_file(str(folder / "model.safetensors"))
    state["bert.some.extra.weight"] = torch.zeros(1)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="some.extra.weight"):
        CrossEncoder(folder, device="cpu")
    state = {k: v for k, v in state.items() if not k.startswith(("bert.some", "bert.pooler"))}
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="pooler"):
        CrossEncoder(folder, device="cpu")


def test_bi_encoder_folder_gets_a_new_head_on_its_encoder(tmp_path, caplog):
    from embedkit import SentenceTransformer

    with caplog.at_level("WARNING"):
        ce = CrossEncoder(FIX / "tiny_bert_v6", device="cpu")
    assert "no classification head" in caplog.text
    assert ce.num_labels == 1 and isinstance(ce.activation_fn, torch.nn.Sigmoid)
    bi = SentenceTransformer(str(FIX / "tiny_bert_v6"), device="cpu")
    for key, value in bi[0].auto_model.state_dict().items():
        if not key.startswith("pooler."):
            assert torch.equal(ce.model.encoder.state_dict()[key], value), key
    head = ce.model.classifier.out
    # N(0, 0.02)
    assert float(head.bias.detach().abs().max()) == 0.0 and 0.005 < float(head.weight.detach().std()) < 0.05
    scores = ce.predict(GOLD["pairs"])
    ce.save(tmp_path / "ce")
    np.testing.assert_allclose(CrossEncoder(tmp_path / "ce", device="cpu").predict(GOLD["pairs"]), scores, atol=1e-6)
    assert CrossEncoder(FIX / "tiny_bert_v6", num_labels=3, device="cpu").num_labels == 3


def test_plain_encoder_checkpoint_without_pooler_gets_new_pooler_and_head(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "encoder"
    shutil.copytree(FIX / "ce_bert_hf", folder)
    state = {k[len("bert."):]: v for k, v in load_file(str(folder / "model.safetensors")).items()
             if k.startswith("bert.") and "pooler" not in k}
    save_file(state, str(folder / "model.safetensors"))
    ce = CrossEncoder(folder, device="cpu")
    assert ce.num_labels == 1 and ce.predict([("a", "b")]).shape == (1,)


def test_sparse_or_unknown_model_type_refused(tmp_path):
    folder = tmp_path / "x"
    shutil.copytree(FIX / "ce_bert1", folder)
    write_json_file(folder / "config_sentence_transformers.json", {"model_type": "SparseEncoder"})
    with pytest.raises(ValueError, match="model_type='SparseEncoder'"):
        CrossEncoder(folder, device="cpu")


def test_forward_returns_scores():
    ce = CrossEncoder(FIX / "ce_mpnet3", device="cpu")
    features = ce.preprocess([("a", "b"), ("c d e", "f")])
    assert "token_type_ids" not in features
    out = ce(features)
    assert out["scores"].shape == (2, 3)  # (B, num_labels)


def test_config_label_maps_and_save_argument_order(tmp_path):
    folder = tmp_path / "nli"
    shutil.copytree(FIX / "ce_bert3", folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "contradiction", "1": "entailment", "2": "neutral"}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (folder / "config.json").write_text(json.dumps(config))
    model = CrossEncoder(str(folder), device="cpu")
    assert model.config.id2label == {0: "contradiction", 1: "entailment", 2: "neutral"}
    assert model.config.label2id == {"contradiction": 0, "entailment": 1, "neutral": 2}
    assert CrossEncoder(str(FIX / "ce_bert1"), device="cpu").config.id2label == {0: "LABEL_0"}
    model.save(str(tmp_path / "out"), "my-nli-model")  # sentence-transformers' order: (path, model_name, ...)
    assert "my-nli-model" in (tmp_path / "out" / "README.md").read_text()
    assert (tmp_path / "out" / "model.safetensors").is_file()
