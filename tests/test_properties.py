"""Property-based tests: arbitrary text never crashes encode/tokenize; outputs are finite with the right shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedkit import SentenceTransformer
from tests.conftest import FIXTURES

MODEL = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
MPNET = SentenceTransformer(str(FIXTURES / "tiny_mpnet_v6"), device="cpu")

texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=50),  # control / spaces
    st.sampled_from(["", " ", "\t\n", "\u200b", "\x00", "word " * 600, "caf\ud800e", "\udfff"]),
    st.text(alphabet=st.characters(categories=["Cs", "Ll"]), max_size=30),  # lone surrogates, legal in Python str
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(texts, min_size=1, max_size=6))
def test_encode_any_text_is_finite_and_shaped(batch):
    for model, dim in ((MODEL, 16), (MPNET, 32)):
        out = model.encode(batch, batch_size=4)
        assert out.shape == (len(batch), dim) and np.isfinite(out).all()


@SETTINGS
@given(st.lists(texts, min_size=1, max_size=4))
def test_tokenize_respects_max_length(batch):
    features = MODEL.tokenize(batch)
    assert features["input_ids"].shape[0] == len(batch)
    assert features["input_ids"].shape[1] <= MODEL.max_seq_length
    assert (features["attention_mask"].sum(dim=1) >= 2).all()  # [CLS] ... [SEP] at least


@SETTINGS
@given(st.lists(st.one_of(st.integers(), st.floats(), st.none(), st.binary(max_size=5), st.just(["a", "b", "c"])),
                min_size=1, max_size=3))
def test_non_text_items_raise_type_error(items):
    with pytest.raises(TypeError, match=r"input \d+ has type"):
        MODEL.encode(["ok", *items])


CROSS = None


def _cross_encoder():
    global CROSS
    if CROSS is None:
        from embedkit import CrossEncoder

        CROSS = CrossEncoder(FIXTURES / "ce_bert3", device="cpu")
    return CROSS


PREDICT_SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PREDICT_SETTINGS
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=4), st.integers(min_value=1, max_value=4))
def test_predict_any_pair_is_finite_shaped_and_order_independent(pairs, batch_size):
    ce = _cross_encoder()
    scores = ce.predict(pairs, batch_size=batch_size)
    assert scores.shape == (len(pairs), 3) and np.isfinite(scores).all()
    reversed_scores = ce.predict(pairs[::-1], batch_size=batch_size)
    np.testing.assert_allclose(reversed_scores[::-1], scores, atol=1e-5)  # results follow input order


@PREDICT_SETTINGS
@given(st.lists(st.one_of(st.integers(), st.none(), st.just(("a",)), st.just(("a", 1))), min_size=1, max_size=3))
def test_predict_non_pairs_raise_type_error(items):
    # a lone string is a valid input (scored on its own, as sentence-transformers does); anything else is not
    with pytest.raises(TypeError, match=r"input \d+ has type"):
        _cross_encoder().predict([("ok", "fine"), *items])
