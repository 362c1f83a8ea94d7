"""``load_state_dict`` takes the state dicts sentence-transformers 5.x and 6.x give (keys recorded from ST by
``tests/generate_state_dict_fixtures.py``, with each tensor's shape and sum)."""

from __future__ import annotations

import json

import pytest
import torch

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from tests.conftest import FIXTURES

RECORDED = json.loads((FIXTURES / "st_state_dict_keys.json").read_text())
CLASSES = {"ce_bert3": CrossEncoder, "se_bert_v6": SparseEncoder, "se_bert_v5": SparseEncoder}
CASES = [(series, name) for series in sorted(RECORDED) for name in sorted(RECORDED[series])]


def _load(name: str):
    return CLASSES.get(name, SentenceTransformer)(str(FIXTURES / name), device="cpu")


def _st_state_dict(recorded: list) -> dict[str, torch.Tensor]:
    """Random tensors under sentence-transformers' keys; entries ST recorded with the same shape and sum (weights
    transformers saves twice, tied) share one tensor, as in ST's own state dict."""
    generator = torch.Generator().manual_seed(0)
    shared: dict[tuple, torch.Tensor] = {}
    out = {}
    for key, shape, total in recorded:
        identity = (tuple(shape), round(total, 6))
        if identity not in shared:
            shared[identity] = torch.randn(*shape, generator=generator)
        out[key] = shared[identity]
    return out


@pytest.mark.parametrize(("series", "name"), CASES)
def test_a_sentence_transformers_state_dict_loads_every_tensor_into_its_place(series, name):
    recorded = RECORDED[series][name]
    original = {k: v.detach().clone() for k, v in _load(name).state_dict().items()}
    model = _load(name)
    st_state = _st_state_dict(recorded)
    result = model.load_state_dict(st_state)  # strict: every key used, none missing
    assert not result.missing_keys and not result.unexpected_keys
    ours = model.state_dict()
    for key, shape, total in recorded:
        matches = [own for own, value in ours.items() if value.shape == st_state[key].shape
                   and torch.equal(value, st_state[key])]
        assert matches, f"{key} was not loaded anywhere"
        # the place it went held, before loading, the very tensor sentence-transformers has under that key
        assert any(abs(float(original[own].double().sum()) - total) <= 1e-6 * max(1.0, abs(total))
                   for own in matches), key
    assert len(ours) <= len(recorded)


def test_embedkit_names_still_load_and_unknown_names_are_reported():
    model = _load("tiny_bert_v6")
    state = model.state_dict()
    assert not model.load_state_dict(state).missing_keys
    st_state = _st_state_dict(RECORDED["6"]["tiny_bert_v6"])
    st_state["0.model.embeddings.not_a_weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="Unexpected key\\(s\\) in state_dict: \"0.model.embeddings.not_a_weight\""):
        model.load_state_dict(st_state)
    del st_state["0.model.embeddings.not_a_weight"], st_state["0.model.pooler.dense.bias"]
    with pytest.raises(RuntimeError, match="Missing key\\(s\\) in state_dict: \"0.auto_model.pooler.dense.bias\""):
        model.load_state_dict(st_state)


def test_loading_a_sentence_transformers_state_dict_changes_the_embeddings_as_it_should():
    """The ST 6.x state dict of the fixture itself (values from embedkit's own weights, names from ST's) reproduces
    the embeddings; scaled, it changes them."""
    model = _load("tiny_bert_v6")
    texts = ["a cat", "a dog on a mat"]
    before = model.encode(texts)
    recorded = RECORDED["6"]["tiny_bert_v6"]
    own_by_sum = {round(float(v.double().sum()), 6): v.clone() for v in model.state_dict().values()}
    st_state = {key: own_by_sum[round(total, 6)] for key, _, total in recorded}
    fresh = _load("tiny_bert_v6")
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    fresh.load_state_dict(st_state)
    torch.testing.assert_close(torch.from_numpy(fresh.encode(texts)), torch.from_numpy(before), rtol=0, atol=0)
