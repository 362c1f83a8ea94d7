"""Small building blocks for trainer tests: a tiny model, a pointwise loss, data."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from embedkit import SentenceTransformer
from tests.conftest import FIXTURES


def tiny_model(dropout: bool = True) -> SentenceTransformer:
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    if not dropout:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
            if hasattr(module, "dropout_p"):
                module.dropout_p = 0.0
    return model


class CosineMSE(nn.Module):
    """MSE between the cosine of two columns and the score (CosineSimilarityLoss's formula)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features, labels):
        a, b = (self.model(f)["sentence_embedding"] for f in features)
        return F.mse_loss(F.cosine_similarity(a, b), labels.float())


def sts_rows(n: int = 24) -> dict[str, list]:
    g = torch.Generator().manual_seed(0)
    words = ["cat", "dog", "car", "tree", "music", "rain", "bread", "river", "phone", "chair", "light", "stone"]
    s1 = [" ".join(words[i] for i in torch.randint(0, 12, (4,), generator=g).tolist()) for _ in range(n)]
    s2 = [" ".join(words[i] for i in torch.randint(0, 12, (5,), generator=g).tolist()) for _ in range(n)]
    return {"sentence1": s1, "sentence2": s2, "score": torch.rand(n, generator=g).tolist()}
