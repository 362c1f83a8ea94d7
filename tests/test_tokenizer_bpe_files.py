"""Byte-level BPE folders with ``vocab.json`` + ``merges.txt`` and no tokenizer.json (older RoBERTa and DeBERTa v1
uploads) tokenize as transformers 5 does and give sentence-transformers 6.2's embeddings and scores (goldens from
``tests/generate_bpe_files_fixtures.py``, on rewritten copies of existing fixtures)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedkit import CrossEncoder, SentenceTransformer
from embedkit.tokenizer import Tokenizer
from tests.generate_bpe_files_fixtures import CASES, FIXTURES, PAIRS, TEXTS, bpe_files_folder

GOLDEN = json.loads((FIXTURES / "bpe_files_golden.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_vocab_and_merges_tokenize_as_transformers(name, tmp_path):
    folder = bpe_files_folder(name, tmp_path / name)
    tokenizer = Tokenizer(folder, return_token_type_ids=True)
    expected = GOLDEN[name]
    for what, inputs in (("texts", TEXTS), ("pairs", PAIRS)):
        features = tokenizer.batch_features(list(inputs), max_length=512)
        assert features["input_ids"].tolist() == expected[what]["input_ids"], what
        assert features["attention_mask"].tolist() == expected[what]["attention_mask"], what
        if "token_type_ids" in expected[what]:
            assert features["token_type_ids"].tolist() == expected[what]["token_type_ids"], what
    # the same ids as the fixture's own tokenizer.json, which transformers 5 wrote from the same vocabulary
    original = Tokenizer(FIXTURES / name)
    assert original.batch_features(list(PAIRS))["input_ids"].tolist() == expected["pairs"]["input_ids"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_models_on_vocab_and_merges_match_sentence_transformers(name, tmp_path):
    folder = bpe_files_folder(name, tmp_path / name)
    if CASES[name] == "st":
        embeddings = SentenceTransformer(str(folder), device="cpu").encode(TEXTS)
        np.testing.assert_allclose(embeddings, GOLDEN[name]["embeddings"], atol=2e-6)
    else:
        model = CrossEncoder(str(folder), device="cpu")
        scores = model.predict(list(PAIRS))
        np.testing.assert_allclose(np.asarray(scores).reshape(len(PAIRS), -1), GOLDEN[name]["scores"], atol=2e-6)
        model.save(tmp_path / "saved")  # written back with a tokenizer.json that tokenizes the same
        assert (tmp_path / "saved" / "tokenizer.json").exists()
        np.testing.assert_array_equal(CrossEncoder(str(tmp_path / "saved"), device="cpu").predict(list(PAIRS)),
                                      scores)


def test_a_special_token_missing_from_the_vocabulary_is_named(tmp_path):
    folder = bpe_files_folder("roberta_st", tmp_path / "m")
    vocab = json.loads((folder / "vocab.json").read_text())
    del vocab["<mask>"]
    (folder / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ValueError, match=r"special tokens \['<mask>'\] are not in vocab.json"):
        Tokenizer(folder)


def test_a_folder_naming_no_tokenizer_class_or_special_tokens_gets_its_model_types(tmp_path):
    """Old uploads ship only vocab.json and merges.txt: the class and its special tokens come from config.json's
    model_type, as AutoTokenizer picks them, and the saved folder names the class."""
    for name in ("roberta_ce1", "deberta1_ce3"):
        folder = bpe_files_folder(name, tmp_path / name)
        (folder / "tokenizer_config.json").unlink()
        tokenizer = Tokenizer(folder)
        ids = tokenizer.batch_features(list(PAIRS), max_length=512)["input_ids"].tolist()
        assert ids == GOLDEN[name]["pairs"]["input_ids"]
        tokenizer.save(tmp_path / f"{name}_saved")
        saved = json.loads((tmp_path / f"{name}_saved" / "tokenizer_config.json").read_text())
        assert saved["tokenizer_class"] == GOLDEN[name]["tokenizer_class"]


def test_other_bpe_classes_are_refused_by_name(tmp_path):
    folder = bpe_files_folder("roberta_st", tmp_path / "m")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": "GPT2Tokenizer"}))
    with pytest.raises(ValueError, match="of class 'GPT2Tokenizer' is not supported"):
        Tokenizer(folder)
