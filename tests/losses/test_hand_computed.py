"""Small cases checked against naive, loop-based restatements of each formula (``compute_loss_from_embeddings``
with ``model=None``), plus exact hand values where they are easy to see."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import embedkit.sentence_transformer.losses as L
from embedkit.util import cos_sim, dot_score


def _cos(a, b):
    return float(F.cosine_similarity(a, b, dim=0))


def test_mnrl_equals_cross_entropy_over_all_documents():
    torch.manual_seed(0)
    q, p, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    docs = torch.cat([p, n])
    expected = 0.0
    for i in range(4):
        logits = [20 * _cos(q[i], d) for d in docs]
        expected += -logits[i] + math.log(sum(math.exp(x) for x in logits))
    got = L.MultipleNegativesRankingLoss(None).compute_loss_from_embeddings([q, p, n], None)
    assert math.isclose(got.item(), expected / 4, rel_tol=1e-5)


def test_mnrl_all_directions_joint_naive():
    torch.manual_seed(1)
    B = 3
    q, p, n = torch.randn(B, 5), torch.randn(B, 5), torch.randn(B, 5)
    docs = torch.cat([p, n])  # row j's documents are j and B + j
    scale = 2.0
    expected = 0.0
    for i in range(B):
        cands = [scale * float(q[i] @ d) for d in docs]  # query -> doc
        cands += [scale * float(q[i] @ q[j]) for j in range(B) if j != i]  # query -> query
        cands += [scale * float(p[i] @ q[j]) for j in range(B)]  # doc -> query
        cands += [scale * float(p[i] @ docs[k]) for k in range(2 * B) if k % B != i]  # doc -> other rows' docs
        expected += -scale * float(q[i] @ p[i]) + math.log(sum(math.exp(x) for x in cands))
    loss = L.MultipleNegativesRankingLoss(None, scale=scale, similarity_fct=dot_score,
                                          directions=("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"))
    assert math.isclose(loss.compute_loss_from_embeddings([q, p, n], None).item(), expected / B, rel_tol=1e-5)


def test_mnrl_per_direction_is_mean_of_both_cross_entropies():
    torch.manual_seed(2)
    q, p = torch.randn(4, 6), torch.randn(4, 6)
    sims = 20 * cos_sim(q, p)
    target = torch.arange(4)
    expected = (F.cross_entropy(sims, target) + F.cross_entropy(sims.T, target)) / 2
    loss = L.MultipleNegativesRankingLoss(None, directions=("query_to_doc", "doc_to_query"),
                                          partition_mode="per_direction")
    torch.testing.assert_close(loss.compute_loss_from_embeddings([q, p], None), expected)


@pytest.mark.parametrize("mode", ["in_batch_negatives", "hard_negatives", "all_negatives"])
def test_mnrl_hardness_bonus_goes_to_the_selected_negatives(mode):
    torch.manual_seed(3)
    B, alpha, scale = 3, 4.0, 10.0
    q, p, n = torch.randn(B, 5), torch.randn(B, 5), torch.randn(B, 5)
    docs = torch.cat([p, n])
    expected = 0.0
    for i in range(B):
        logits = []
        for k in range(2 * B):
            s = _cos(q[i], docs[k])
            own, hard = k % B == i, k >= B
            if mode == "in_batch_negatives":
                bonus = not own
            elif mode == "hard_negatives":
                bonus = own and hard
            else:
                bonus = not (own and not hard)
            logits.append(scale * s + (alpha * s if bonus else 0.0))
        expected += -logits[i] + math.log(sum(math.exp(x) for x in logits))
    loss = L.MultipleNegativesRankingLoss(None, scale=scale, hardness_mode=mode, hardness_strength=alpha)
    assert math.isclose(loss.compute_loss_from_embeddings([q, p, n], None).item(), expected / B, rel_tol=1e-5)


def test_mnrl_hardness_weight_carries_no_gradient():
    torch.manual_seed(4)
    q, p = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4)
    hard = L.MultipleNegativesRankingLoss(None, scale=5.0, hardness_mode="in_batch_negatives", hardness_strength=2.0)
    hard.compute_loss_from_embeddings([q, p], None).backward()
    grad_hard = q.grad.clone()
    q.grad = None
    # The same logits written with an explicit constant bonus must give the same gradient.
    sims = cos_sim(q, p)
    bonus = 2.0 * sims.detach() * (1 - torch.eye(3))
    F.cross_entropy(5.0 * sims + bonus, torch.arange(3)).backward()
    torch.testing.assert_close(grad_hard, q.grad)


def test_cosent_naive_double_sum_with_ties():
    torch.manual_seed(5)
    u, v = torch.randn(6, 4), torch.randn(6, 4)
    labels = torch.tensor([0.0, 0.5, 0.5, 1.0, 0.0, 1.0])
    s = [20 * _cos(u[i], v[i]) for i in range(6)]
    total = 1.0 + sum(math.exp(s[j] - s[i]) for i in range(6) for j in range(6) if labels[i] > labels[j])
    got = L.CoSENTLoss(None).compute_loss_from_embeddings([u, v], labels)
    assert math.isclose(got.item(), math.log(total), rel_tol=1e-5)


def test_angle_multi_column_equals_pairs_with_one_minus_labels():
    torch.manual_seed(6)
    a, p, n1, n2 = (torch.randn(3, 6) for _ in range(4))
    loss = L.AnglELoss(None)
    pairs = [torch.cat([a, a, a]), torch.cat([p, n1, n2])]
    expected = loss.compute_loss_from_embeddings(pairs, torch.tensor([1.0] * 3 + [0.0] * 6))
    torch.testing.assert_close(loss.compute_loss_from_embeddings([a, p, n1, n2], None), expected)


def test_contrastive_and_online_contrastive_by_hand():
    u = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]])  # cosine distances 0, 1, 0.4, 2
    labels = torch.tensor([1, 1, 0, 0])
    d = [0.0, 1.0, 0.4, 2.0]
    expected = sum(0.5 * (d[i] ** 2 if labels[i] else max(0.5 - d[i], 0) ** 2) for i in range(4)) / 4
    got = L.ContrastiveLoss(None).compute_loss_from_embeddings([u, v], labels)
    assert math.isclose(got.item(), expected, rel_tol=1e-6)
    # Online: hard positives have d > min negative d (0.4) -> d=1; hard negatives d < max positive d (1) -> d=0.4.
    online = L.OnlineContrastiveLoss(None).compute_loss_from_embeddings([u, v], labels)
    assert math.isclose(online.item(), 1.0 + (0.5 - 0.4) ** 2, rel_tol=1e-5)


def test_triplet_metrics_by_hand():
    a, p, n = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 1.0]])
    eu = L.TripletLoss(None).compute_loss_from_embeddings([a, p, n], None)
    assert math.isclose(eu.item(), 5.0 - math.sqrt(2) + 5, rel_tol=1e-6)
    man = L.TripletLoss(None, distance_metric=L.TripletDistanceMetric.MANHATTAN, triplet_margin=1.0)
    assert math.isclose(man.compute_loss_from_embeddings([a, p, n], None).item(), 7.0 - 2.0 + 1.0, rel_tol=1e-6)


def _labels_and_dist(seed=7, B=6):
    torch.manual_seed(seed)
    emb = torch.randn(B, 3)
    labels = torch.tensor([0, 1, 0, 2, 1, 2])
    dist = torch.cdist(emb, emb)
    return emb, labels, dist


def test_batch_hard_naive():
    emb, labels, dist = _labels_and_dist()
    B, margin = len(labels), 1.5
    expected = 0.0
    for i in range(B):
        pos = max(dist[i, j] for j in range(B) if j != i and labels[j] == labels[i])
        neg = min(dist[i, k] for k in range(B) if labels[k] != labels[i])
        expected += max(float(pos - neg) + margin, 0.0)
    got = L.BatchHardTripletLoss(None, margin=margin).compute_loss_from_embeddings([emb], labels)
    assert math.isclose(got.item(), expected / B, rel_tol=1e-5)
    soft = 0.0
    for i in range(B):
        pos = max(dist[i, j] for j in range(B) if j != i and labels[j] == labels[i])
        neg = min(dist[i, k] for k in range(B) if labels[k] != labels[i])
        soft += math.log1p(math.exp(float(pos - neg)))
    got = L.BatchHardSoftMarginTripletLoss(None).compute_loss_from_embeddings([emb], labels)
    assert math.isclose(got.item(), soft / B, rel_tol=1e-5)


def test_batch_all_naive():
    emb, labels, dist = _labels_and_dist(8)
    margin, B = 0.7, len(labels)
    losses = [float(dist[i, j] - dist[i, k]) + margin for i, j, k in itertools.permutations(range(B), 3)
              if labels[i] == labels[j] and labels[i] != labels[k]]
    active = [x for x in losses if x > 1e-16]
    got = L.BatchAllTripletLoss(None, margin=margin).compute_loss_from_embeddings([emb], labels)
    assert math.isclose(got.item(), sum(active) / len(active), rel_tol=1e-5)


def test_batch_semi_hard_naive():
    emb, labels, dist = _labels_and_dist(9)
    margin, B = 0.5, len(labels)
    total, count = 0.0, 0
    for a in range(B):
        negatives = [float(dist[a, k]) for k in range(B) if labels[k] != labels[a]]
        for p in range(B):
            if p == a or labels[p] != labels[a]:
                continue
            farther = [d for d in negatives if d > float(dist[a, p])]
            neg = min(farther) if farther else max(negatives)
            total += max(float(dist[a, p]) - neg + margin, 0.0)
            count += 1
    got = L.BatchSemiHardTripletLoss(None, margin=margin).compute_loss_from_embeddings([emb], labels)
    assert math.isclose(got.item(), total / count, rel_tol=1e-5)


def test_euclidean_distance_function_has_finite_gradient_at_zero():
    emb = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    dist = L.BatchHardTripletLossDistanceFunction.euclidean_distance(emb)
    dist.sum().backward()
    assert torch.isfinite(emb.grad).all()
    torch.testing.assert_close(dist, torch.cdist(emb.detach(), emb.detach()), atol=1e-6, rtol=0)


def test_margin_mse_label_forms_agree():
    torch.manual_seed(10)
    q, p, n1, n2 = (torch.randn(3, 4) for _ in range(4))
    teacher = torch.randn(3, 3)  # raw scores: positive, n1, n2
    margins = teacher[:, :1] - teacher[:, 1:]
    loss = L.MarginMSELoss(None)
    student = torch.stack([(q * p).sum(1) - (q * n).sum(1) for n in (n1, n2)], dim=1)
    expected = F.mse_loss(student, margins)
    torch.testing.assert_close(loss.compute_loss_from_embeddings([q, p, n1, n2], teacher), expected)
    torch.testing.assert_close(loss.compute_loss_from_embeddings([q, p, n1, n2], margins), expected)


def test_distill_kl_div_by_hand():
    torch.manual_seed(11)
    q, p, n = (torch.randn(2, 4) for _ in range(3))
    teacher = torch.randn(2, 2)
    ts, tt = 0.5, 2.0
    student = torch.stack([(q * p).sum(1), (q * n).sum(1)], 1) / ts
    pt = torch.softmax(teacher / tt, 1)
    expected = (pt * (pt.log() - torch.log_softmax(student, 1))).sum() / 2 * ts**2
    loss = L.DistillKLDivLoss(None, temperature=1.0, student_temperature=ts, teacher_temperature=tt)
    torch.testing.assert_close(loss.compute_loss_from_embeddings([q, p, n], teacher), expected)
    assert loss.get_config_dict() == {"similarity_fct": "pairwise_dot_score", "temperature": 1.0,
                                      "student_temperature": 0.5, "teacher_temperature": 2.0}


def test_embed_distill_metrics_by_hand():
    s, t = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert math.isclose(L.EmbedDistillLoss(None, "mse").compute_loss_from_embeddings([s], [t]).item(), 0.75)
    assert math.isclose(L.EmbedDistillLoss(None, "l2").compute_loss_from_embeddings([s], [t]).item(),
                        (math.sqrt(2) + 1) / 2, rel_tol=1e-6)
    assert math.isclose(L.EmbedDistillLoss(None, "cosine").compute_loss_from_embeddings([s], [t]).item(), 0.5)


def test_gor_by_hand():
    e = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # off-diagonal cosines: 1, 1 (pair 0-1), 0 otherwise
    out = L.GlobalOrthogonalRegularizationLoss(None).compute_loss_from_embeddings([e])
    assert math.isclose(out["gor_mean"].item(), (2 / 6) ** 2, rel_tol=1e-6)
    assert out["gor_second_moment"].item() == 0.0  # M2 = 2/6 < 1/D = 1/2
    only_mean = L.GlobalOrthogonalRegularizationLoss(None, second_moment_weight=0, aggregation="sum")
    out = only_mean.compute_loss_from_embeddings([e, e])
    assert set(out) == {"gor_mean"} and math.isclose(out["gor_mean"].item(), 2 * (2 / 6) ** 2, rel_tol=1e-6)


def test_mega_batch_margin_naive_and_chunked():
    torch.manual_seed(12)
    a, p = torch.randn(5, 4), torch.randn(5, 4)
    expected = 0.0
    for i in range(5):
        pos = _cos(a[i], p[i])
        neg = max(_cos(a[i], p[j]) for j in range(5) if j != i)
        expected += max(0.8 - pos, 0) + max(neg - 0.3, 0)
    loss = L.MegaBatchMarginLoss(None)
    assert math.isclose(loss.calculate_loss([a, p]).item(), expected / 5, rel_tol=1e-5)
    assert math.isclose(loss.calculate_loss([a, p], chunk_size=2).item(), expected / 5, rel_tol=1e-5)


def test_cosine_similarity_loss_transformation():
    u, v = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    loss = L.CosineSimilarityLoss(None, loss_fct=torch.nn.L1Loss(), cos_score_transformation=torch.nn.Sigmoid())
    assert math.isclose(loss.compute_loss_from_embeddings([u, v], torch.tensor([1.0])).item(), 0.5, rel_tol=1e-6)
    assert loss.get_config_dict() == {"loss_fct": "torch.nn.modules.loss.L1Loss",
                                      "cos_score_transformation": "torch.nn.modules.activation.Sigmoid"}


def test_batch_semi_hard_falls_back_to_the_farthest_negative():
    # Anchor 0's positive (class 0, at 10) is farther than every negative (at 1 and 2): no semi-hard negative
    # exists, so the farthest negative (2) is used: relu(10 - 2 + 1) = 9 for pair (0, 1).
    emb = torch.tensor([[0.0], [10.0], [1.0], [2.0]])
    labels = torch.tensor([0, 0, 1, 1])
    loss = L.BatchSemiHardTripletLoss(None, margin=1.0)
    got = loss.compute_loss_from_embeddings([emb], labels)
    # pairs: (0,1): 9; (1,0): negatives at 9, 8 -> none farther than 10 -> farthest 9: relu(10 - 9 + 1) = 2;
    # (2,3): d=1, negatives at 1 (anchor 0) and 9 -> semi-hard: 9 (strictly farther): relu(1 - 9 + 1) = 0;
    # (3,2): d=1, negatives at 2 and 8 -> 2: relu(1 - 2 + 1) = 0.
    assert math.isclose(got.item(), (9 + 2 + 0 + 0) / 4, rel_tol=1e-6)
