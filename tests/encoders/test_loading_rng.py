"""Loading a model draws nothing from torch's random state for the weights it loads, as transformers 5 builds a
checkpoint's network (sentence-transformers 6.2: a seed set before loading still decides what comes after it). A new
head draws only its own initialisation. By hand against ST 6.2 with ``torch.manual_seed(0)`` before loading: the
next ``torch.rand`` and the outputs were identical for tiny_bert_v6 (its Dense draws in both), a CrossEncoder with a
new head on all-MiniLM-L6-v2 and on tiny_bert_v6, a SparseEncoder with a new SparseAutoEncoder head on
all-MiniLM-L6-v2 (3.7e-8) and ce_bert3; before, every load consumed random numbers and those new heads differed."""

from __future__ import annotations

import pytest
import torch

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from tests.conftest import FIXTURES

LOADED_WHOLE = [  # every weight comes from the folder (no Dense: nn.Linear's own init draws, in ST too)
    (SentenceTransformer, "tiny_mpnet_v6"), (SentenceTransformer, "router_dense"), (SentenceTransformer, "qwen3_st"),
    (SentenceTransformer, "modernbert_st"), (SentenceTransformer, "deberta_st"), (SentenceTransformer, "nomic_st"),
    (SentenceTransformer, "llama_st"), (CrossEncoder, "ce_bert1"),
    (CrossEncoder, "ce_bert3"), (CrossEncoder, "qwen3_reranker_lm"), (CrossEncoder, "modernbert_ce_cls"),
    (SparseEncoder, "se_bert_v6"), (SparseEncoder, "modernbert_se"),
]


@pytest.mark.parametrize("cls, folder", LOADED_WHOLE, ids=[f for _, f in LOADED_WHOLE])
def test_loading_a_whole_checkpoint_leaves_the_random_state_alone(cls, folder):
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    cls(str(FIXTURES / folder), device="cpu")
    assert torch.equal(torch.rand(4), expected)


def test_a_new_head_draws_only_its_own_initialisation():
    """A CrossEncoder on a bi-encoder folder: the new classifier is what the seed gives right after loading, whatever
    the loading itself built."""
    torch.manual_seed(0)
    first = CrossEncoder(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    after_first = torch.rand(4)
    torch.manual_seed(0)
    second = CrossEncoder(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    assert torch.equal(torch.rand(4), after_first)
    for a, b in zip(first.model.classifier.parameters(), second.model.classifier.parameters()):
        assert torch.equal(a, b)
    torch.manual_seed(1)
    other = CrossEncoder(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    assert not torch.equal(next(other.model.classifier.parameters()), next(first.model.classifier.parameters()))
    # the draws are the head's: right after the seed, the classifier's first Linear takes normal(0, 0.02)
    linear = next(m for m in first.model.classifier.modules() if isinstance(m, torch.nn.Linear))
    torch.manual_seed(0)
    assert torch.equal(torch.empty_like(linear.weight).normal_(0.0, 0.02), linear.weight)
