"""``Module.on_model_ready(model)`` runs once the owning model is built, for every model type, for top-level
modules and for the modules behind a Router (as sentence-transformers 6.x's ``_post_init`` does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from embedkit.base.modules import Module, Router, Transformer
from embedkit.sentence_transformer.modules import Pooling
from embedkit.sparse_encoder.modules import SpladePooling

FIX = Path(__file__).resolve().parents[2] / "fixtures"


class Recorder(Module):
    """Passes features on unchanged and remembers which model announced itself."""

    def __init__(self) -> None:
        super().__init__()
        self.ready: list[Any] = []

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return features

    def on_model_ready(self, model: Any) -> None:
        self.ready.append(model)

    def save(self, *args: Any, **kwargs: Any) -> None:
        pass


def test_sentence_transformer_and_router_modules_get_the_hook():
    transformer = Transformer(FIX / "tiny_bert_v6")
    top = Recorder()
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension()), top],
                                device="cpu")
    assert top.ready == [model]
    query, document = Recorder(), Recorder()
    pooling = Pooling(transformer.get_embedding_dimension())
    routed = SentenceTransformer(modules=[Router({"query": [transformer, pooling, query],
                                                  "document": [transformer, pooling, document]})], device="cpu")
    assert query.ready == [routed] and document.ready == [routed]
    assert routed.encode_query(["x"]).shape == (1, transformer.get_embedding_dimension())


@pytest.mark.parametrize("kind", ["sparse", "cross"])
def test_sparse_and_cross_encoders_get_the_hook(kind):
    hook = Recorder()
    if kind == "sparse":
        mlm = Transformer(FIX / "se_bert_v6", transformer_task="fill-mask")
        model = SparseEncoder(modules=[mlm, SpladePooling("max"), hook], device="cpu")
        assert model[1].embedding_dimension == mlm.vocab_size  # SparseEncoder's own fix-up ran first
    else:
        classifier = Transformer(FIX / "ce_bert1", transformer_task="sequence-classification")
        model = CrossEncoder(modules=[classifier, hook], device="cpu")
    assert hook.ready == [model]
