"""Evaluation statistics in plain NumPy (no SciPy, no scikit-learn).

Each function follows the definition of the library that sentence-transformers' evaluators call, so the
numbers agree with them (see ``tests/evaluation/test_statistics.py``, golden values from SciPy 1.17 and
scikit-learn 1.9):

* :func:`pearson`, :func:`spearman`: ``scipy.stats.pearsonr`` / ``spearmanr`` (NaN for a constant input,
  average ranks for ties);
* :func:`average_precision`, :func:`matthews_corrcoef`, :func:`ndcg`: ``sklearn.metrics`` versions
  (``average_precision_score``, ``matthews_corrcoef``, ``ndcg_score`` with tie averaging) for one query;
* :func:`find_best_acc_and_threshold`, :func:`find_best_f1_and_threshold`: the threshold searches of
  ``BinaryClassificationEvaluator`` (one pass over scores sorted by similarity; thresholds are midpoints
  between neighbouring distinct scores).

References: Pearson/Spearman correlation; Davis & Goadrich 2006 (AP as a step-wise PR integral);
Matthews 1975; Järvelin & Kekäläinen 2002 (nDCG), McSherry & Najork 2008 (tie-averaged DCG).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


def _pair(x: ArrayLike, y: ArrayLike, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < minimum:
        raise ValueError(f"x and y must have length at least {minimum}, got {x.shape[0]}")
    return x, y


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson correlation coefficient of two 1-D samples.

    Args:
        x: first sample.
        y: second sample (same length, at least 2).

    Returns:
        r in [-1, 1]; NaN when either input is constant (as ``scipy.stats.pearsonr``).

    Raises:
        ValueError: different lengths, or fewer than 2 values.

    Example:
        >>> round(pearson([1, 2, 3, 4], [2, 4, 5, 9]), 4)
        0.9648
        >>> pearson([1, 2, 3], [5, 5, 5])
        nan
    """
    x, y = _pair(x, y, minimum=2)
    xm, ym = x - x.mean(), y - y.mean()
    nx, ny = np.linalg.norm(xm), np.linalg.norm(ym)
    if nx == 0 or ny == 0 or (x == x[0]).all() or (y == y[0]).all():
        return float("nan")
    r = float(np.dot(xm / nx, ym / ny))
    return max(-1.0, min(1.0, r))


def rankdata(values: ArrayLike) -> np.ndarray:
    """1-based ranks, tied values sharing the average of their ranks (``scipy.stats.rankdata``'s default).

    Example:
        >>> rankdata([10, 20, 10, 30]).tolist()
        [1.5, 3.0, 1.5, 4.0]
    """
    a = np.asarray(values).ravel()
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    # Group boundaries of equal values in sorted order.
    new_group = np.r_[True, sorted_a[1:] != sorted_a[:-1]]
    group_id = np.cumsum(new_group) - 1  # (n,)
    starts = np.flatnonzero(new_group)
    ends = np.r_[starts[1:], a.size]  # exclusive
    average = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = average[group_id]
    return ranks


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank correlation: the Pearson correlation of the average ranks.

    Args:
        x: first sample.
        y: second sample (same length).

    Returns:
        rho in [-1, 1]; NaN when either input is constant or has fewer than 2 values (as ``scipy.stats.spearmanr``).

    Raises:
        ValueError: different lengths.

    Example:
        >>> spearman([1, 2, 3, 4], [1, 3, 2, 4])
        0.8
        >>> spearman([1, 2, 2, 3], [1, 2, 3, 4])  # ties get average ranks
        0.9486832980505138
    """
    x, y = _pair(x, y, minimum=0)
    if x.size < 2 or (x == x[0]).all() or (y == y[0]).all():
        return float("nan")
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    r = float(np.dot(rx, ry) / np.sqrt(np.dot(rx, rx) * np.dot(ry, ry)))
    return max(-1.0, min(1.0, r))


def average_precision(labels: ArrayLike, scores: ArrayLike) -> float:
    """Average precision of a ranking: sum over distinct score thresholds of (R_n - R_{n-1}) * P_n.

    Tied scores form one threshold (no interpolation), exactly as ``sklearn.metrics.average_precision_score``
    for binary labels.

    Args:
        labels: 0/1 relevance labels.
        scores: higher = more likely positive.

    Returns:
        AP in [0, 1]; 0.0 when there is no positive label (scikit-learn warns and returns 0.0 too).

    Example:
        >>> average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
        0.8333333333333333
        >>> round(average_precision([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.1]), 4)
        0.6667
    """
    y = np.asarray(labels).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores must have the same length, got {y.shape[0]} and {s.shape[0]}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, got values {sorted(set(y.tolist()) - {0, 1})[:5]}")
    y = y.astype(np.float64)
    total_pos = y.sum()
    if total_pos == 0:
        return 0.0
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_group = np.r_[s[1:] != s[:-1], True]  # (n,) one threshold per distinct score
    tp = np.cumsum(y)[last_of_group]
    seen = (np.flatnonzero(last_of_group) + 1).astype(np.float64)
    precision = tp / seen
    recall = tp / total_pos
    gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(gain * precision))


def matthews_corrcoef(labels: ArrayLike, predictions: ArrayLike) -> float:
    """Matthews correlation coefficient of binary labels and binary predictions.

    Returns 0.0 when it is undefined (a row or column of the confusion matrix is empty), as scikit-learn does.

    Example:
        >>> round(matthews_corrcoef([1, 1, 0, 0], [1, 0, 0, 0]), 4)
        0.5774
        >>> matthews_corrcoef([1, 1, 1], [1, 1, 1])
        0.0
    """
    y = np.asarray(labels).ravel().astype(bool)
    p = np.asarray(predictions).ravel().astype(bool)
    if y.shape != p.shape:
        raise ValueError(f"labels and predictions must have the same length, got {y.shape[0]} and {p.shape[0]}")
    tp = float(np.sum(y & p))
    tn = float(np.sum(~y & ~p))
    fp = float(np.sum(~y & p))
    fn = float(np.sum(y & ~p))
    denominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    if denominator == 0:
        return 0.0
    return float((tp * tn - fp * fn) / np.sqrt(denominator))


def _discounts(n: int, k: int | None) -> np.ndarray:
    discount = 1.0 / np.log2(np.arange(n) + 2)  # (n,) 1/log2(rank + 1), rank from 1
    if k is not None:
        discount[k:] = 0.0
    return discount


def ndcg(relevance: ArrayLike, scores: ArrayLike, k: int | None = None) -> float:
    """Normalized DCG of one ranked list, averaging the gains of tied scores (``sklearn.metrics.ndcg_score``).

    Args:
        relevance: non-negative gains, one per document.
        scores: predicted scores; documents are ranked by decreasing score.
        k: only the top-k positions count (None: all).

    Returns:
        nDCG in [0, 1]; 0.0 when no document is relevant.

    Example:
        >>> round(ndcg([1, 0, 0], [0.1, 0.9, 0.5]), 4)
        0.5
        >>> ndcg([1, 0, 0], [0.5, 0.5, 0.1], k=1)  # a 2-way tie at rank 1 shares the gain
        0.5
    """
    rel = np.asarray(relevance, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if rel.shape != s.shape:
        raise ValueError(f"relevance and scores must have the same length, got {rel.shape[0]} and {s.shape[0]}")
    if (rel < 0).any():
        raise ValueError("relevance must be non-negative")
    if k is not None and k < 1:
        raise ValueError(f"k must be a positive integer or None, got {k!r}")
    discount = _discounts(rel.size, k)
    ideal = float(np.sum(np.sort(rel)[::-1] * discount))
    if ideal == 0:
        return 0.0
    # Tie-averaged DCG: a group of equal scores occupying ranks [a, b) gets its mean gain at every rank in it.
    order = np.argsort(-s, kind="mergesort")
    s_sorted, rel_sorted = s[order], rel[order]
    new_group = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
    group_id = np.cumsum(new_group) - 1
    counts = np.bincount(group_id)
    mean_gain = np.bincount(group_id, weights=rel_sorted) / counts
    group_discount = np.bincount(group_id, weights=discount)
    dcg = float(np.sum(mean_gain * group_discount))
    return dcg / ideal


def find_best_acc_and_threshold(
    scores: ArrayLike, labels: ArrayLike, high_score_more_similar: bool
) -> tuple[float, float]:
    """Best accuracy of ``predict similar iff score >= t`` (``<=`` for distances) and its threshold ``t``.

    Candidate thresholds lie between neighbouring distinct scores (the midpoint, or the lower score of the pair
    if the midpoint rounds onto the next one), plus "everything dissimilar" (a threshold just past the most
    similar score). The first best one wins. Same search as ST's ``BinaryClassificationEvaluator``.

    Args:
        scores: one score per pair.
        labels: 0/1 labels.
        high_score_more_similar: True for similarities (cosine, dot), False for distances.

    Returns:
        (accuracy, threshold); the threshold has the scores' float type (float32 scores give a float32 threshold).

    Example:
        >>> acc, t = find_best_acc_and_threshold([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 1], True)
        >>> acc, round(float(t), 2)
        (0.75, 0.55)
    """
    s = np.asarray(scores)
    y = np.asarray(labels)
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"scores and labels must have the same length, got {s.shape[0]} and {y.shape[0]}")
    n = s.shape[0]
    if n == 0:
        return 0, -1
    dtype = np.result_type(s.dtype, np.float16)
    order = np.argsort(-s if high_score_more_similar else s, kind="mergesort")
    s, y = s[order], y[order]
    best_acc = float(np.sum(y == 0)) / n
    best_threshold = np.nextafter(s[0], np.inf if high_score_more_similar else -np.inf, dtype=dtype)
    is_end = np.r_[s[1:] != s[:-1], True]  # last row of each group of equal scores
    positives = np.cumsum(y == 1)
    negatives_left = int(np.sum(y == 0)) - np.cumsum(y == 0)
    acc = (positives + negatives_left)[is_end] / n  # (groups,)
    ends = np.flatnonzero(is_end)
    best = int(np.argmax(acc))
    if acc[best] > best_acc:
        best_acc = float(acc[best])
        i = ends[best]
        if i == n - 1:
            best_threshold = s[i]
        else:
            best_threshold = (s[i] + s[i + 1]) / 2
            if best_threshold == s[i + 1]:  # the rounded midpoint must not take in the next group
                best_threshold = s[i]
    return best_acc, best_threshold


def find_best_f1_and_threshold(
    scores: ArrayLike, labels: ArrayLike, high_score_more_similar: bool
) -> tuple[float, float, float, float]:
    """Best F1 of ``predict similar iff score >= t`` (``<=`` for distances), with its precision, recall and ``t``.

    Same search as ST's ``BinaryClassificationEvaluator``: groups of equal scores are taken in order of
    similarity, the threshold is the midpoint to the next distinct score, the first best one wins; if no
    positive is ever found the result is (0, 0, 0, 0).

    Returns:
        (f1, precision, recall, threshold).

    Example:
        >>> f1, p, r, t = find_best_f1_and_threshold([0.9, 0.8, 0.3, 0.2], [1, 0, 1, 0], True)
        >>> round(f1, 4), round(p, 4), r, round(float(t), 2)
        (0.8, 0.6667, 1.0, 0.25)
    """
    s = np.asarray(scores)
    y = np.asarray(labels)
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"scores and labels must have the same length, got {s.shape[0]} and {y.shape[0]}")
    n = s.shape[0]
    total_pos = int(np.sum(y))
    if n == 0 or total_pos == 0:
        return 0, 0, 0, 0
    order = np.argsort(-s if high_score_more_similar else s, kind="mergesort")
    s, y = s[order], y[order]
    is_end = np.r_[s[1:] != s[:-1], True]
    correct = np.cumsum(y == 1)[is_end].astype(np.float64)
    extracted = (np.flatnonzero(is_end) + 1).astype(np.float64)
    valid = correct > 0
    precision = np.where(valid, correct / extracted, 0.0)
    recall = correct / total_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(valid, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    if f1[best] <= 0:
        return 0, 0, 0, 0
    i = np.flatnonzero(is_end)[best]
    if i == n - 1:
        threshold = s[i]
    else:
        threshold = (s[i] + s[i + 1]) / 2
        if threshold == s[i + 1]:
            threshold = s[i]
    return float(f1[best]), float(precision[best]), float(recall[best]), threshold


def dcg_at_k(relevances: Sequence[float], k: int) -> float:
    """DCG of the first ``k`` binary/graded relevances in ranked order (``sum rel_i / log2(i + 2)``).

    Example:
        >>> round(dcg_at_k([1, 0, 1], 10), 4)
        1.5
    """
    rel = np.asarray(relevances, dtype=np.float64)[:k]
    return float(np.sum(rel / np.log2(np.arange(rel.size) + 2)))
