"""Adding tokens and resizing the token embeddings, against sentence-transformers 6.2 / transformers 5.25
(goldens from ``tests/generate_added_tokens_fixtures.py``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from embedkit.encoders.token_embeddings import resized_vocabulary
from tests.conftest import FIXTURES
from tests.generate_added_tokens_fixtures import PAIRS, SAVED_FILES, TEXTS, add_tokens, resize

GOLDEN = json.loads((FIXTURES / "added_tokens" / "golden.json").read_text())


def _build(case: str):
    """The fixture after the generator's steps: (model, network, input ids, outputs)."""
    if case == "ce_bert3":
        model = CrossEncoder(str(FIXTURES / case), device="cpu")
        network = model.model
    elif case == "se_bert_v6":
        model = SparseEncoder(str(FIXTURES / case), device="cpu")
        network = model[0].auto_model
    else:
        model = SentenceTransformer(str(FIXTURES / case), device="cpu")
        network = model[0].auto_model
    counts = add_tokens(model.tokenizer)
    old = resize(network, len(model.tokenizer))
    return model, counts, old


def _input_ids(model, case: str) -> torch.Tensor:
    if case == "ce_bert3":
        return model.tokenizer([p[0] for p in PAIRS], [p[1] for p in PAIRS], padding=True,
                               return_tensors="pt")["input_ids"]
    return model.preprocess(TEXTS)["input_ids"]


def _assert_outputs(model, case: str, golden: dict) -> None:
    if case == "ce_bert3":
        np.testing.assert_allclose(model.predict(PAIRS, activation_fn=torch.nn.Identity()), golden["logits"],
                                   atol=2e-6, rtol=0)
    elif case == "se_bert_v6":
        vectors = model.encode(TEXTS, convert_to_tensor=True).to_dense()
        assert vectors.shape[1] == golden["dimension"]
        for vector, expected in zip(vectors, golden["sparse"]):
            assert vector.nonzero().flatten().tolist() == expected["index"]
            np.testing.assert_allclose(vector[vector != 0].numpy(), expected["value"], atol=2e-6, rtol=0)
    else:
        np.testing.assert_allclose(model.encode(TEXTS), golden["embeddings"], atol=2e-6, rtol=0)


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_adding_tokens_and_resizing_matches_sentence_transformers(case, tmp_path):
    golden = GOLDEN[case]
    model, counts, old = _build(case)
    tokenizer = model.tokenizer
    assert counts == golden["counts"] and old == golden["old_size"] and len(tokenizer) == golden["len"]
    ids = _input_ids(model, case)
    assert ids.tolist() == golden["input_ids"]
    assert tokenizer.batch_decode(ids, skip_special_tokens=True) == golden["decoded"]
    assert tokenizer.all_special_tokens == golden["all_special_tokens"]
    _assert_outputs(model, case, golden)

    # embedkit's save: the same added tokens and vocabulary size as sentence-transformers' save, and it reloads
    model.save(str(tmp_path / "ek"))
    ours = json.loads((tmp_path / "ek" / "tokenizer.json").read_text())["added_tokens"]
    theirs = json.loads((FIXTURES / "added_tokens" / case / "tokenizer.json").read_text())["added_tokens"]
    assert ours == theirs
    assert json.loads((tmp_path / "ek" / "config.json").read_text())["vocab_size"] == golden["saved_vocab_size"]
    config = json.loads((tmp_path / "ek" / "tokenizer_config.json").read_text())
    assert config["additional_special_tokens"] == ["<extra_1>"]
    reloaded = type(model)(str(tmp_path / "ek"), device="cpu")
    assert _input_ids(reloaded, case).tolist() == golden["input_ids"]
    _assert_outputs(reloaded, case, golden)

    # the tokenizer files and config.json sentence-transformers wrote, with these weights
    for name in SAVED_FILES:
        (tmp_path / "ek" / name).unlink(missing_ok=True)
        if (FIXTURES / "added_tokens" / case / name).is_file():
            shutil.copyfile(FIXTURES / "added_tokens" / case / name, tmp_path / "ek" / name)
    from_st = type(model)(str(tmp_path / "ek"), device="cpu")
    assert len(from_st.tokenizer) == golden["len"]
    assert from_st.tokenizer.all_special_tokens == golden["all_special_tokens"]
    assert _input_ids(from_st, case).tolist() == golden["input_ids"]
    _assert_outputs(from_st, case, golden)


def test_mean_resizing_starts_new_rows_at_the_mean_and_keeps_the_parameter():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    encoder = model[0].auto_model
    table = encoder.get_input_embeddings()
    parameter, old = table.weight, table.weight.detach().clone()
    optimizer = torch.optim.SGD(encoder.parameters(), lr=0.1)
    torch.manual_seed(0)
    assert encoder.resize_token_embeddings(old.shape[0] + 3) is table
    assert table.weight is parameter and table.num_embeddings == old.shape[0] + 3
    assert torch.equal(table.weight[: old.shape[0]], old)
    new = table.weight[old.shape[0]:].detach().clone()
    mean = old.mean(0)
    assert (new - mean).abs().max() < 1e-3 and not torch.equal(new[0], new[1])  # drawn near the mean
    model.tokenizer.add_tokens(["zz1", "zz2", "zz3"])
    model.train()
    model(model.preprocess(["zz1 zz2 zz3"]))["sentence_embedding"].sum().backward()
    optimizer.step()  # the optimizer still holds the table and updates the new rows
    assert not torch.equal(table.weight[old.shape[0]:].detach(), new)


def test_resize_shrinks_pads_to_a_multiple_and_checks_its_arguments():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    encoder = model[0].auto_model
    old = encoder.get_input_embeddings().weight.detach().clone()
    assert encoder.resize_token_embeddings() is encoder.get_input_embeddings()  # no argument: unchanged
    assert encoder.resize_token_embeddings(100).weight.shape == (100, old.shape[1])
    assert torch.equal(encoder.get_input_embeddings().weight, old[:100]) and encoder.config.vocab_size == 100
    assert encoder.resize_token_embeddings(101, pad_to_multiple_of=8).num_embeddings == 104
    assert encoder.resize_token_embeddings(pad_to_multiple_of=64).num_embeddings == 128
    assert resized_vocabulary(10, None, None) == 10
    with pytest.raises(ValueError, match="which is not and integer"):
        encoder.resize_token_embeddings(10, pad_to_multiple_of=2.5)
    with pytest.raises(ValueError, match="new_num_tokens must be a positive integer"):
        encoder.resize_token_embeddings(0)
    with pytest.raises(TypeError, match="must be an nn.Embedding"):
        encoder.set_input_embeddings(torch.nn.Linear(2, 2))
    encoder.set_input_embeddings(torch.nn.Embedding(77, old.shape[1]))
    assert encoder.config.vocab_size == 77 and encoder.get_output_embeddings() is None


def test_every_encoder_family_resizes_its_table():
    from tests.encoders.family_checks import FAMILY_FOLDERS

    for name in FAMILY_FOLDERS:
        model = SentenceTransformer(str(FIXTURES / name), device="cpu")
        encoder = model[0].auto_model
        size = encoder.get_input_embeddings().num_embeddings
        assert size == encoder.config.vocab_size, name
        encoder.resize_token_embeddings(size + 5)
        assert model.encode(["still works"]).shape[0] == 1, name
        assert encoder.config.vocab_size == size + 5, name


def test_a_causal_lm_reranker_resizes_its_lm_head_with_the_table():
    model = CrossEncoder(str(FIXTURES / "qwen3_reranker_lm"), device="cpu")
    lm = next(m for m in model.modules() if hasattr(m, "lm_head"))
    size = lm.get_input_embeddings().num_embeddings
    before = model.predict([("a query", "a document")])
    lm.resize_token_embeddings(size + 4)
    assert lm.lm_head.weight.shape[0] == size + 4 == lm.lm_head.out_features == lm.config.vocab_size
    np.testing.assert_allclose(model.predict([("a query", "a document")]), before, atol=1e-6)


def test_pad_token_can_be_assigned_or_added():
    model = SentenceTransformer(str(FIXTURES / "qwen3_st"), device="cpu")
    tokenizer = model.tokenizer
    eos = tokenizer.special_tokens.get("eos_token") or tokenizer.backend.id_to_token(tokenizer.eos_token_id)
    tokenizer.pad_token = eos
    assert tokenizer.pad_token == eos and tokenizer.pad_token_id == tokenizer.backend.token_to_id(eos)
    with pytest.raises(ValueError, match="is not in the vocabulary: add it first"):
        tokenizer.pad_token = "<never-seen-pad>"
    assert tokenizer.add_special_tokens({"pad_token": "<never-seen-pad>"}) == 1
    assert tokenizer.pad_token_id == len(tokenizer) - 1
    with pytest.raises(ValueError, match="Key foo_token is not a valid special token"):
        tokenizer.add_special_tokens({"foo_token": "x"})
    with pytest.raises(TypeError, match="tokens to add must be str or tokenizers.AddedToken"):
        tokenizer.add_tokens([3])
