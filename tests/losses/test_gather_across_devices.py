"""``gather_across_devices=True``: the per-rank losses (local queries against every rank's documents, positive at
column ``rank * B + i``) average to the single-process loss on the global batch, with the same gradients.

First with the gather simulated in one process (fast, covers every direction/hardness mode), then with two real
gloo processes for MNRL, where autograd's all_gather carries the cross-rank gradients.
"""

from __future__ import annotations

import os
import socket
import sys
from contextlib import contextmanager

import pytest
import torch
import torch.multiprocessing as mp

import embedkit.sentence_transformer.losses.gist_embed as gist_module
import embedkit.sentence_transformer.losses.multiple_negatives_ranking as mnrl_module
from embedkit.sentence_transformer.losses import GISTEmbedLoss, MultipleNegativesRankingLoss
from tests.losses.helpers import load_model

WORLD, B = 2, 3
ALL_DIRECTIONS = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")


@contextmanager
def simulated_rank(module, rank: int, globals_by_id: dict[int, torch.Tensor]):
    """Make ``module``'s all_gather_with_grad return the full global tensor a local slice was cut from."""
    saved = module.all_gather_with_grad, module.get_rank
    module.all_gather_with_grad = lambda t: globals_by_id[id(t)]
    module.get_rank = lambda: rank
    try:
        yield
    finally:
        module.all_gather_with_grad, module.get_rank = saved


def _per_rank_mean(loss, columns: list[torch.Tensor]) -> torch.Tensor:
    total = 0.0
    for rank in range(WORLD):
        local = [c[rank * B:(rank + 1) * B] for c in columns]
        with simulated_rank(mnrl_module, rank, {id(x): c for x, c in zip(local, columns)}):
            total = total + loss.compute_loss_from_embeddings(local, None)
    return total / WORLD


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"directions": ALL_DIRECTIONS},
        {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"},
        {"hardness_mode": "all_negatives", "hardness_strength": 3.0},
        {"hardness_mode": "hard_negatives", "hardness_strength": 3.0, "directions": ALL_DIRECTIONS},
        {"hardness_mode": "in_batch_negatives", "hardness_strength": 3.0},
    ],
)
def test_mnrl_simulated_ranks_equal_global_batch(kwargs):
    torch.manual_seed(0)
    columns = [torch.randn(WORLD * B, 8, requires_grad=True) for _ in range(3)]
    single = MultipleNegativesRankingLoss(None, scale=5.0, **kwargs)
    expected = single.compute_loss_from_embeddings(columns, None)
    expected_grads = torch.autograd.grad(expected, columns)

    gathered = MultipleNegativesRankingLoss(None, scale=5.0, gather_across_devices=True, **kwargs)
    got = _per_rank_mean(gathered, columns)
    got_grads = torch.autograd.grad(got, columns)
    torch.testing.assert_close(got, expected)
    for g, e in zip(got_grads, expected_grads):
        torch.testing.assert_close(g, e)


def test_gist_simulated_ranks_equal_global_batch():
    # Only positives/negatives are gathered (as in sentence-transformers), so the anchor-anchor block stays local
    # and the per-rank mean equals the global loss only without contrast_anchors.
    model, guide = load_model("tiny_bert_v6"), load_model("tiny_bert_v6")
    texts = ["a cat sits", "a man plays", "pasta is good", "the sky is blue", "dogs bark", "rain falls"]
    others = ["kittens nap", "guitar music", "italian food", "clear weather", "a puppy", "wet streets"]
    negs = ["stocks fall", "cars drive", "ice melts", "books read", "trains run", "birds sing"]
    cols = [texts, others, negs]
    single = GISTEmbedLoss(model, guide, temperature=0.05, margin=0.05, contrast_anchors=False)
    expected = single([model.preprocess(c) for c in cols], None)

    gathered = GISTEmbedLoss(model, guide, temperature=0.05, margin=0.05, contrast_anchors=False,
                             gather_across_devices=True)
    full = {}  # embeddings of the whole batch per column, for the simulated gather

    def fake_gather(t):  # the column whose whole-batch embeddings hold ``t`` at this rank's rows
        # (the whole batch ran through the inference engine, ``t`` through the modules with autograd: float rounding
        # apart, which the tiny model's 16 dimensions put at up to ~2e-5; other columns differ by ~0.1 or more)
        value = min(full.values(), key=lambda v: (v[rank * B:(rank + 1) * B] - t.detach()).abs().max())
        assert torch.allclose(value[rank * B:(rank + 1) * B], t.detach(), atol=1e-4), "unexpected tensor"
        return torch.cat([value[: rank * B].detach(), t, value[(rank + 1) * B:].detach()])

    with torch.no_grad():
        for i, c in enumerate(cols[1:]):
            full[f"m{i}"] = model(model.preprocess(c))["sentence_embedding"]
            full[f"g{i}"] = guide(guide.preprocess(c))["sentence_embedding"]
    total = 0.0
    saved = gist_module.all_gather_with_grad, gist_module.get_rank
    try:
        for rank in range(WORLD):
            gist_module.all_gather_with_grad, gist_module.get_rank = fake_gather, (lambda r=rank: r)
            local = [model.preprocess(c[rank * B:(rank + 1) * B]) for c in cols]
            total = total + gathered(local, None).detach()
    finally:
        gist_module.all_gather_with_grad, gist_module.get_rank = saved
    torch.testing.assert_close(total / WORLD, expected.detach(), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- real processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out_dir: str, columns: list[torch.Tensor], kwargs: dict) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        local = [c[rank * B:(rank + 1) * B].clone().requires_grad_() for c in columns]
        loss = MultipleNegativesRankingLoss(None, scale=5.0, gather_across_devices=True, **kwargs)
        value = loss.compute_loss_from_embeddings(local, None)
        value.backward()
        torch.save({"value": value.detach(), "grads": [x.grad for x in local]}, os.path.join(out_dir, f"{rank}.pt"))
        dist.barrier()  # both ranks done with every collective before teardown
    finally:
        dist.destroy_process_group()


@pytest.mark.distributed
@pytest.mark.skipif(sys.platform == "win32", reason="gloo on CPU")
def test_mnrl_two_gloo_processes_equal_global_batch(tmp_path):
    torch.manual_seed(1)
    columns = [torch.randn(WORLD * B, 8) for _ in range(3)]
    kwargs = {"directions": ALL_DIRECTIONS, "hardness_mode": "all_negatives", "hardness_strength": 2.0}
    mp.spawn(_worker, args=(_free_port(), str(tmp_path), columns, kwargs), nprocs=WORLD, join=True)
    results = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(WORLD)]

    leaves = [c.clone().requires_grad_() for c in columns]
    expected = MultipleNegativesRankingLoss(None, scale=5.0, **kwargs).compute_loss_from_embeddings(leaves, None)
    expected.backward()
    torch.testing.assert_close(sum(r["value"] for r in results) / WORLD, expected.detach())
    # DDP averages parameter gradients over ranks; the embedding gradients must average the same way.
    for col, leaf in enumerate(leaves):
        got = torch.cat([results[r]["grads"][col] for r in range(WORLD)]) / WORLD
        torch.testing.assert_close(got, leaf.grad)


def _flat_grads(model) -> torch.Tensor:
    return torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel(), dtype=p.dtype)
                      for p in model.parameters()])


ANCHORS = [f"anchor text {w}" for w in "abcdefgh"]
POSITIVES = [f"positive about {w}{w}" for w in "abcdefgh"]


def _model_worker(rank: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        model = load_model("tiny_bert_v6").double()
        rows = slice(rank * 4, rank * 4 + 4)
        loss = MultipleNegativesRankingLoss(model, gather_across_devices=True)
        loss([model.preprocess(ANCHORS[rows]), model.preprocess(POSITIVES[rows])], None).backward()
        grads = _flat_grads(model)
        dist.all_reduce(grads)  # what DDP does with the parameter gradients: sum, then / world_size
        if rank == 0:
            torch.save(grads / WORLD, os.path.join(out_dir, "grads.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.distributed
@pytest.mark.skipif(sys.platform == "win32", reason="gloo on CPU")
def test_mnrl_two_gloo_processes_model_gradients_equal_global_batch(tmp_path):
    # 2 ranks x 4 rows with gathered negatives, averaged like DDP == 1 process x 8 rows (float64: exact).
    mp.spawn(_model_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    model = load_model("tiny_bert_v6").double()
    MultipleNegativesRankingLoss(model)([model.preprocess(ANCHORS), model.preprocess(POSITIVES)], None).backward()
    expected = _flat_grads(model)
    got = torch.load(tmp_path / "grads.pt", weights_only=True)
    assert float((got - expected).norm() / expected.norm()) < 1e-9
