"""embedkit.base.evaluation.statistics against committed SciPy / scikit-learn / ST values.

Golden values: tests/generate_eval_fixtures.py (SciPy 1.17, scikit-learn 1.9, sentence-transformers 6.2).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from embedkit.base.evaluation import statistics as st

GOLD = json.loads((Path(__file__).parents[1] / "fixtures/evaluation/statistics.json").read_text(encoding="utf-8"))
TOL = 1e-9


def _close(actual: float, expected: float | None, tol: float = TOL) -> None:
    if expected is None:
        assert math.isnan(actual), actual
    else:
        assert actual == pytest.approx(expected, abs=tol), (actual, expected)


@pytest.mark.parametrize("case", sorted(GOLD["correlation"]))
def test_pearson_spearman_match_scipy(case):
    c = GOLD["correlation"][case]
    _close(st.pearson(c["x"], c["y"]), c["pearson"])
    _close(st.spearman(c["x"], c["y"]), c["spearman"])


@pytest.mark.parametrize("case", sorted(GOLD["average_precision"]))
def test_average_precision_matches_sklearn(case):
    c = GOLD["average_precision"][case]
    _close(st.average_precision(c["labels"], c["scores"]), c["ap"])


@pytest.mark.parametrize("case", sorted(GOLD["mcc"]))
def test_mcc_matches_sklearn(case):
    c = GOLD["mcc"][case]
    _close(st.matthews_corrcoef(c["labels"], c["predictions"]), c["mcc"])


@pytest.mark.parametrize("case", sorted(GOLD["ndcg"]))
def test_ndcg_matches_sklearn(case):
    c = GOLD["ndcg"][case]
    for k, expected in c["ndcg"].items():
        _close(st.ndcg(c["relevance"], c["scores"], k=int(k)), expected)
    _close(st.ndcg(c["relevance"], c["scores"]), c["ndcg_all"])


@pytest.mark.parametrize("case", sorted(GOLD["thresholds"]))
@pytest.mark.parametrize("high", [True, False])
def test_threshold_search_matches_st(case, high):
    c = GOLD["thresholds"][case]
    scores, labels = np.asarray(c["scores"], dtype=c["dtype"]), np.asarray(c["labels"])
    expected = c[f"high_{high}"]
    acc, acc_t = st.find_best_acc_and_threshold(scores, labels, high)
    f1, precision, recall, f1_t = st.find_best_f1_and_threshold(scores, labels, high)
    assert acc == expected["acc"] and float(acc_t) == expected["acc_threshold"]  # exact, incl. float32 rounding
    assert (f1, precision, recall) == (expected["f1"], expected["precision"], expected["recall"])
    assert float(f1_t) == expected["f1_threshold"]


def test_threshold_keeps_score_dtype():
    _, t = st.find_best_acc_and_threshold(np.array([0.9, 0.1], np.float32), [1, 0], True)
    assert isinstance(t, np.float32)


def test_rankdata_average_ties():
    assert st.rankdata([3, 1, 3, 3, 2]).tolist() == [4.0, 1.0, 4.0, 4.0, 2.0]


def test_spearman_short_input_is_nan_and_pearson_raises():
    assert math.isnan(st.spearman([1.0], [2.0]))
    with pytest.raises(ValueError, match="at least 2"):
        st.pearson([1.0], [2.0])


@pytest.mark.parametrize("fn", [st.pearson, st.spearman])
def test_length_mismatch_raises(fn):
    with pytest.raises(ValueError, match="same length"):
        fn([1, 2, 3], [1, 2])


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="0 or 1"):
        st.average_precision([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="non-negative"):
        st.ndcg([-1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="positive integer"):
        st.ndcg([1, 0], [0.1, 0.2], k=0)


def test_empty_threshold_search():
    assert st.find_best_acc_and_threshold(np.array([], np.float32), np.array([]), True) == (0, -1)
    assert st.find_best_f1_and_threshold(np.array([], np.float32), np.array([]), True) == (0, 0, 0, 0)


def test_dcg_at_k():
    assert st.dcg_at_k([1, 1, 0], 1) == 1.0
    assert st.dcg_at_k([0, 1], 10) == pytest.approx(1 / np.log2(3))
